"""The drill's session: two local clusters, the charts, and build/e2e/report.json.

Run by ./bin/e2e (which builds or finds the toolchain first); the unit suite never collects it.
Each test is one scenario, named by its `scenario` marker ("1-primary" …); they run in file order
and share the clusters and stacks.
"""

from __future__ import annotations

import json
import time
import pytest
import yaml

from tests.e2e import testbed

REPORT = testbed.BUILD / "report.json"
_results: list[dict] = []
_notes: dict[str, str] = {}
_figures: dict[str, float] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario(name): the scenario's name in build/e2e/report.json")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("scenario")
    if marker is None or report.when not in ("setup", "call"):
        return
    name = marker.args[0]
    if report.when == "setup" and report.passed:
        return  # the call phase reports
    message = _notes.get(name, "") if report.passed else _short(report.longreprtext)
    _results.append({"name": name, "passed": report.passed, "seconds": round(call.duration, 1), "message": message})


def _short(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("E ")] or text.splitlines()[-5:]
    return "\n".join(line[2:].strip() if line.startswith("E ") else line for line in lines)[-1500:]


@pytest.fixture
def note(request: pytest.FixtureRequest):
    """note(text): the passing scenario's message in the report."""
    name = request.node.get_closest_marker("scenario").args[0]
    return lambda text: _notes.__setitem__(name, text)


@pytest.fixture(scope="session")
def figures() -> dict[str, float]:
    """Figures for the report's top level (recovery_seconds)."""
    return _figures


@pytest.fixture(scope="session")
def charts() -> dict[str, dict[str, str]]:
    """belen chart key → {path, version, module}: the real charts, from their Go modules."""
    out = testbed.run([testbed.E2E / "charts"], log=testbed.BUILD / "logs" / "charts.log").stdout
    found = {}
    for line in out.splitlines():
        key, path, version, module = line.split()
        found[key] = {"path": path, "version": version, "module": module}
    return found


@pytest.fixture(scope="session")
def clusters(request: pytest.FixtureRequest) -> dict[str, testbed.Cluster]:
    if not testbed.toolchain_cached():
        pytest.fail("the test-bed toolchain is not built: run e2e/build-toolchain (./bin/e2e does)")
    keep = request.config.getoption("--keep")
    started: dict[str, testbed.Cluster] = {}
    try:
        for name in ("homelab", "cloud"):
            cluster = testbed.Cluster(name)
            cluster.down()  # a previous --keep run's
            cluster.up()
            started[name] = cluster
        yield started
    finally:
        if not keep:
            for cluster in started.values():
                cluster.down()


@pytest.fixture(scope="session")
def project() -> testbed.Project:
    return testbed.Project()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.option.collectonly:
        return  # nothing ran: keep the last drill's report
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "scenarios": _results,
        "components": _components(),
        "toolchain": _toolchain(),
        "recovery_seconds": _figures.get("recovery_seconds"),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")


def _toolchain() -> dict[str, dict]:
    try:
        directory = testbed.bin_dir()
    except Exception:  # noqa: BLE001 - the report is written whatever happened
        return {}
    found: dict[str, dict] = {}
    for path in sorted(directory.glob("*.json")):
        found[path.stem] = json.loads(path.read_text())
    for path in sorted(directory.glob("*.unavailable")):
        found[path.stem] = {"module": None, "version": None, "cold_build_seconds": None,
                            "unavailable": path.read_text().strip()}
    return found


def _pins() -> dict[str, str]:
    lines = (testbed.E2E / "pins.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _chart(key: str, module: str, version: str) -> str:
    """`real <module>@<version>`, with the chart's own version when it differs."""
    chart_yaml = testbed.BUILD / "charts" / key / "Chart.yaml"
    chart = ""
    if chart_yaml.exists():
        chart_version = str(yaml.safe_load(chart_yaml.read_text())["version"])
        chart = f" (chart {chart_version})" if chart_version != version else ""
    return f"real {module}@{version}{chart}"


def _components() -> list[dict[str, str]]:
    """What runs for real on the test bed and what is a stand-in (see README "Replica drill")."""
    pins = _pins()
    return [
        {"name": "sealed-secrets", "controller": "real",
         "chart": _chart("sealedSecrets", "github.com/bitnami/sealed-secrets", pins["SEALED_SECRETS_VERSION"])},
        {"name": "cert-manager", "controller": "stand-in",
         "chart": _chart("certManager", "github.com/cert-manager/cert-manager", pins["CERT_MANAGER_VERSION"])},
        {"name": "external-secrets", "controller": "stand-in",
         "chart": _chart("externalSecrets", "github.com/external-secrets/external-secrets",
                         pins["EXTERNAL_SECRETS_VERSION"])},
        {"name": "traefik", "chart": "none", "controller": "none"},
        # The chart is packed from the operator module's FluxInstance CRD; e2e/standins.py plays the operator.
        {"name": "flux-operator", "chart": "stand-in", "controller": "stand-in"},
        # Installed from the FluxInstance's manifests (kwok fakes those pods); the real ones run as host processes.
        {"name": "flux source-controller", "chart": "none", "controller": "real"},
        {"name": "flux kustomize-controller", "chart": "none", "controller": "real"},
        # kwok fakes nodes and kubelets: pods are scheduled and marked Ready, no container runs.
        {"name": "kwok (nodes and pods)", "chart": "none", "controller": "stand-in"},
    ]
