"""`python -m tools.keys backup`: the stack's sealing keys encrypted with age, off the state; read back by
`check`, `import` (and `verify`, `reseal`) given the identity or passphrase, and by the standard `age` CLI
(issue 29). No plaintext key ever reaches the disk."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pyrage import passphrase, x25519

from tests import keyfactory as kf
from tests.graph import run_main
from tools import keys

KEYS = [kf.pair("backup-old", age_days=40), kf.pair("backup-new", age_days=2)]

# `pulumi stack output --json`, as the CLI prints it, and `pulumi config set` calls recorded.
PULUMI_STANDIN = """#!{python}
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["stack", "output"]:
    sys.stdout.write(os.environ["OUTPUT"])
    sys.exit(int(os.environ.get("PULUMI_EXIT", "0")))
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps({{"args": args, "stdin": sys.stdin.read()}}) + "\\n")
"""


@pytest.fixture
def pulumi(tmp_path, monkeypatch):
    """A `pulumi` on PATH whose stack has KEYS as its sealingKeys output; returns the recorded calls' file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(PULUMI_STANDIN.format(python=sys.executable))
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("OUTPUT", json.dumps(KEYS, indent=4))
    monkeypatch.setenv("CALLS", str(tmp_path / "calls.jsonl"))
    return tmp_path / "calls.jsonl"


@pytest.fixture
def identity(tmp_path) -> tuple[Path, str]:
    """An identity file as `age-keygen -o` writes it, and its recipient."""
    key = x25519.Identity.generate()
    path = tmp_path / "identity.txt"
    path.write_text(f"# created: 2026-12-06\n# public key: {key.to_public()}\n{key}\n")
    return path, str(key.to_public())


def age_cli() -> str:
    found = shutil.which("age")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("the age CLI is not installed (.ci/run installs Debian's package `age`)")
        pytest.skip("the age CLI is not installed (Debian package `age`)")
    return found


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_backup_holds_only_ciphertext_and_opens_with_the_age_cli_to_the_same_keys(tmp_path, pulumi, identity):
    before = files_in(tmp_path)
    out = tmp_path / "homelab-keys.age"
    result = run_main(keys.main, "backup", "homelab", "--out", out, "--recipient", identity[1])
    assert result.code == 0, result.stderr
    assert files_in(tmp_path) == before | {out.name}, "a file other than the backup was written"
    data = out.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n") and b"PRIVATE KEY" not in data and b"CERTIFICATE" not in data
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "2 key(s) of stack homelab" in result.stdout and "PRIVATE" not in result.stdout + result.stderr
    opened = subprocess.run([age_cli(), "-d", "-i", str(identity[0]), str(out)], capture_output=True, check=True).stdout
    assert json.loads(opened) == KEYS


def test_check_and_import_read_the_backup_with_its_identity(tmp_path, pulumi, identity):
    out = tmp_path / "keys.age"
    assert run_main(keys.main, "backup", "homelab", "--out", out, "--recipient", identity[1]).code == 0
    checked = run_main(keys.main, "check", out, "--identity", identity[0])
    assert checked.code == 0 and "2 key(s), 0 problem(s)" in checked.stdout, checked.stdout + checked.stderr
    restored = run_main(keys.main, "import", out, "--stack", "cloud", "--identity", identity[0])
    assert restored.code == 0, restored.stderr
    calls = [json.loads(line) for line in pulumi.read_text().splitlines()]
    assert [c["stdin"] for c in calls] == [KEYS[0]["cert"], KEYS[0]["key"], KEYS[1]["cert"], KEYS[1]["key"]]


def test_a_passphrase_backup_round_trips_and_a_wrong_one_is_one_line(tmp_path, pulumi):
    phrase = tmp_path / "phrase"
    phrase.write_text("correct horse battery staple\n")
    out = tmp_path / "keys.age"
    assert run_main(keys.main, "backup", "homelab", "--out", out, "--passphrase-file", phrase).code == 0
    assert json.loads(passphrase.decrypt(out.read_bytes(), "correct horse battery staple")) == KEYS
    assert run_main(keys.main, "check", out, "--passphrase-file", phrase).code == 0
    phrase.write_text("wrong\n")
    wrong = run_main(keys.main, "check", out, "--passphrase-file", phrase)
    assert wrong.code == 2 and wrong.stderr.count("\n") == 1 and "cannot be opened with this passphrase" in wrong.stderr


def test_a_backup_without_its_secret_says_what_to_pass(tmp_path, pulumi, identity):
    out = tmp_path / "keys.age"
    run_main(keys.main, "backup", "homelab", "--out", out, "--recipient", identity[1])
    result = run_main(keys.main, "verify", "--keys", out, tmp_path)
    assert result.code == 2 and "is an age backup — pass --identity FILE or --passphrase-file FILE" in result.stderr


@pytest.mark.parametrize(("args", "says"), [
    ((), "pass --recipient (one or more) or --passphrase-file, one of the two"),
    (("--recipient", "age1notakey"), "is not an age or SSH public key"),
])
def test_a_backup_without_a_usable_recipient_writes_nothing(tmp_path, pulumi, args, says):
    out = tmp_path / "keys.age"
    result = run_main(keys.main, "backup", "homelab", "--out", out, *args)
    assert result.code == 2 and says in result.stderr and not out.exists()


def test_a_backup_never_replaces_a_file(tmp_path, pulumi, identity):
    out = tmp_path / "keys.age"
    out.write_bytes(b"an older backup")
    result = run_main(keys.main, "backup", "homelab", "--out", out, "--recipient", identity[1])
    assert result.code == 2 and "exists — choose a new name" in result.stderr
    assert out.read_bytes() == b"an older backup"


def test_a_stack_without_usable_keys_writes_nothing(tmp_path, pulumi, identity, monkeypatch):
    out = tmp_path / "keys.age"
    monkeypatch.setenv("OUTPUT", json.dumps([kf.ec_pair()]))
    result = run_main(keys.main, "backup", "homelab", "--out", out, "--recipient", identity[1])
    assert result.code == 1 and "is an EC" in result.stderr and not out.exists()
    monkeypatch.setenv("PULUMI_EXIT", "255")
    monkeypatch.setenv("OUTPUT", "")
    failed = run_main(keys.main, "backup", "homelab", "--out", out, "--recipient", identity[1])
    assert failed.code == 1 and "failed (exit 255)" in failed.stderr and not out.exists()
