"""The drill's session: the clusters, the charts, the Git server, the two long-lived stacks, and
build/e2e/report.json.

Run by ./bin/e2e (which builds or finds the toolchain first); the unit suite never collects it.
Each test is one scenario, named by its `scenario` marker ("1-primary" …). The theme files run in
the order of their names (test_1_… first) and share what is set up here: the homelab (primary and
ops-like) and cloud (replica, dev-like) clusters and stacks live for the whole session; scenarios
that need a cluster of their own take one from `fresh_cluster`.
"""

from __future__ import annotations

import json
import time
import pytest

from e2e import testbed
from tests.e2e import report as facts
from tests.e2e.drill_config import CLOUD, HOMELAB, cloud_config, drill_ca, gitops_repository, homelab_config

REPORT = testbed.BUILD / "report.json"
_results: list[dict] = []
_notes: dict[str, str] = {}
_figures: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario(name): the scenario's name in build/e2e/report.json")
    testbed.interruptible()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Restarts of host controllers are booked to the scenario running."""
    marker = item.get_closest_marker("scenario")
    testbed.SCENARIO["name"] = marker.args[0] if marker else item.name


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
    if report.when == "call" and report.passed and (unexplained := facts.unexplained(name)):
        # A host controller that died (or would not start) with no known cause fails the scenario.
        report.outcome = "failed"
        report.longrepr = "E " + "\nE ".join(
            f"{r.controller} {r.reason} ({r.at}), no known cause; its last lines: {' | '.join(r.last_lines)[-600:]}"
            for r in unexplained)
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
def figures() -> dict[str, object]:
    """Figures for the report's top level (recovery_seconds, tls_propagation_seconds …)."""
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
def toolchain() -> None:
    if not testbed.toolchain_cached():
        pytest.fail("the test-bed toolchain is not built: run e2e/build-toolchain (./bin/e2e does)")


@pytest.fixture(scope="session", autouse=True)
def image_mirror(request: pytest.FixtureRequest, toolchain):
    """The loopback image mirror every stack pulls from (drill_config.mirror()), for the whole session."""
    mirror = testbed.ImageMirror()
    yield mirror
    if not request.config.getoption("--keep"):
        mirror.stop()


@pytest.fixture(scope="session")
def acme_server(request: pytest.FixtureRequest, toolchain):
    """Pebble on 127.0.0.1 (e2e/pebble): the homelab's ACME ClusterIssuer registers with it."""
    testbed.run([testbed.E2E / "pebble", "start"], log=testbed.BUILD / "logs" / "pebble.log")
    yield
    if not request.config.getoption("--keep"):
        testbed.run([testbed.E2E / "pebble", "stop"], check=False)


@pytest.fixture(scope="session")
def fresh_cluster(request: pytest.FixtureRequest, toolchain):
    """fresh_cluster(name): a new empty cluster (a previous one of that name is deleted first), stopped
    at the end of the session unless --keep."""
    started: dict[str, testbed.Cluster] = {}

    def start(name: str) -> testbed.Cluster:
        cluster = testbed.Cluster(name)
        cluster.down()
        cluster.up()
        started[name] = cluster
        return cluster

    yield start
    if not request.config.getoption("--keep"):
        for cluster in started.values():
            cluster.down()


@pytest.fixture(scope="session")
def project() -> testbed.Project:
    return testbed.Project()


@pytest.fixture(scope="session")
def git():
    server = testbed.GitServer()
    server.commit(gitops_repository(), "apps")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def homelab(fresh_cluster, project, charts, git, acme_server) -> testbed.Stack:
    """The primary (and ops-like publisher of its certificate)."""
    cluster = fresh_cluster("homelab")
    stack = testbed.Stack(HOMELAB, cluster)
    stack.configure(homelab_config(charts, git.url, cluster.api_server()))
    stack.init()
    # A secret set as README tells users: nested, with --path (the real engine's nested secure values).
    for part, pem in drill_ca().items():
        stack.set_secret(f"caKeyPair.drill-ca.{part}", pem)
    return stack


@pytest.fixture(scope="session")
def cloud(fresh_cluster, project, charts, git) -> testbed.Stack:
    """The replica of the homelab (and dev-like mirror of its certificate)."""
    stack = testbed.Stack(CLOUD, fresh_cluster("cloud"))
    stack.configure(cloud_config(charts, git.url))
    stack.init()
    return stack


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.option.collectonly:
        return  # nothing ran: keep the last drill's report
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "scenarios": _results,
        "components": facts.components(),
        "limits": facts.LIMITS,
        "restarts": facts.restarts(),
        "toolchain": facts.toolchain(),
        "recovery_seconds": _figures.get("recovery_seconds"),
        **{key: value for key, value in _figures.items() if key != "recovery_seconds"},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")
