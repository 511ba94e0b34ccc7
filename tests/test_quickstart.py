"""bin/up-local's control flow, with stand-in docker, kind and pulumi executables on PATH and a
stand-in venv python, in a copy of the project's bin/ (nothing is installed, nothing is left behind)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.graph import PROJECT_DIR

SCRIPT = PROJECT_DIR / "bin" / "up-local"
# The only system programs the script may use; everything else is a stand-in or absent.
SYSTEM_TOOLS = ("bash", "dirname", "grep", "mkdir", "cat")

STANDIN = """#!/bin/bash
echo "{name} $*" >> "$STANDIN_LOG"
{body}
"""


def write_standin(path: Path, name: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STANDIN.format(name=name, body=body))
    path.chmod(0o755)


def sandbox(tmp_path: Path, standins: dict[str, str]) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in SYSTEM_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "python3").symlink_to(sys.executable)
    for name, body in standins.items():
        write_standin(bin_dir / name, name, body)
    return {"PATH": str(bin_dir), "STANDIN_LOG": str(tmp_path / "calls.log"), "HOME": str(tmp_path)}


def project_copy(tmp_path: Path) -> Path:
    """The script in a project folder of its own, whose venv python only logs what it is asked."""
    project = tmp_path / "project"
    (project / "bin").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "bin" / "up-local")
    write_standin(project / "venv" / "bin" / "python", "venv/bin/python", "exit 0")
    return project


def up(tmp_path, standins):
    env = sandbox(tmp_path, standins)
    script = project_copy(tmp_path) / "bin" / "up-local"
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    log = Path(env["STANDIN_LOG"])
    return proc, log.read_text().splitlines() if log.exists() else []


ALL_PRESENT = {"docker": "exit 0", "kind": "exit 0", "pulumi": "exit 0"}


TEST_BED = ["venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt",
            "venv/bin/python -m e2e.local_stack up"]


@pytest.mark.parametrize("missing", ["docker", "kind", "pulumi"])
def test_runs_the_local_stack_on_the_test_bed_when_a_tool_is_missing(tmp_path, missing):
    standins = {k: v for k, v in ALL_PRESENT.items() if k != missing}
    proc, calls = up(tmp_path, standins)
    assert proc.returncode == 0, proc.stderr
    assert f"not here: {missing} — bringing the local stack up on belen's test bed instead" in proc.stdout
    assert [c for c in calls if c.startswith("venv/bin/python")] == TEST_BED
    assert not [c for c in calls if c.startswith(("kind create", "pulumi"))]


def test_runs_on_the_test_bed_when_docker_is_not_running(tmp_path):
    proc, calls = up(tmp_path, {**ALL_PRESENT, "docker": "exit 1"})
    assert proc.returncode == 0, proc.stderr
    assert "not here: a running Docker engine — bringing the local stack up on belen's test bed" in proc.stdout
    assert calls == ["docker info", *TEST_BED]


def test_down_stops_the_test_bed_cluster_and_the_kind_cluster(tmp_path):
    env = sandbox(tmp_path, ALL_PRESENT)
    project = project_copy(tmp_path)
    (project / "build" / "up-local" / "local").mkdir(parents=True)
    (project / "build" / "up-local" / "local" / "kubeconfig").write_text("")
    proc = subprocess.run(["bash", str(project / "bin" / "up-local"), "--down"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    calls = Path(env["STANDIN_LOG"]).read_text().splitlines()
    assert calls == [TEST_BED[0], "venv/bin/python -m e2e.local_stack down", "kind delete cluster --name belen-local"]


def test_creates_the_cluster_then_brings_up_the_local_stack_on_a_file_backend(tmp_path):
    pulumi = 'echo "backend=$PULUMI_BACKEND_URL" >> "$STANDIN_LOG"'
    proc, calls = up(tmp_path, {**ALL_PRESENT, "pulumi": pulumi})
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "docker info",
        "kind get clusters",
        "kind create cluster --name belen-local --wait 120s",
        "venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt",
        "pulumi stack select local --create --non-interactive",
        f"backend=file://{tmp_path}/project/.state",
        "pulumi up --refresh --run-program --stack local --yes --non-interactive",
        f"backend=file://{tmp_path}/project/.state",
        "venv/bin/python -m tools.status local --wait 300",  # ends with the status table
    ]


def test_reuses_an_existing_cluster(tmp_path):
    kind = 'if [ "$1" = get ]; then echo belen-local; fi'
    proc, calls = up(tmp_path, {**ALL_PRESENT, "kind": kind})
    assert proc.returncode == 0, proc.stderr
    assert not [c for c in calls if c.startswith("kind create")]


def test_stops_when_pulumi_up_fails(tmp_path):
    pulumi = 'if [ "$1" = up ]; then exit 7; fi'
    proc, _ = up(tmp_path, {**ALL_PRESENT, "pulumi": pulumi})
    assert proc.returncode == 7


def test_bin_test_says_what_it_does_before_pip_installs(tmp_path):
    env = sandbox(tmp_path, {})
    project = project_copy(tmp_path)
    shutil.copy(PROJECT_DIR / "bin" / "test", project / "bin" / "test")
    proc = subprocess.run(["bash", str(project / "bin" / "test"), "-q"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "bin/test: installing the pinned test requirements (requirements-dev.txt) into ./venv with pip, from PyPI "
        "(about half a minute the first time, seconds after)"]
    assert Path(env["STANDIN_LOG"]).read_text().splitlines() == [
        "venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt",
        "venv/bin/python -m pytest -n auto -q"]
