"""What the drill leaves behind (logs-hold-no-secrets): after every other theme, no log, event log or
report under build/e2e holds a private key or a ServiceAccount token in plaintext. The drill's stacks
show their secret outputs to the test bed (`--show-secrets`), and the test bed keeps that output out of
its logs (`testbed.run`); this proves it for the whole run. Kubeconfigs, the kwok clusters' own
certificates and the (encrypted) Pulumi state are not logs and are not read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2e import testbed

# A PEM private key with its body (a chart's commented `...` example has none), raw or JSON-escaped.
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n|\s)+[A-Za-z0-9+/]{40}")
# A signed JWT, as a ServiceAccount token is.
TOKEN = re.compile(r"eyJhbGciOi[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}")
NOT_LOGS = {"state", "kwok", "pulumi-home"}  # at any depth (bin/up-local's build folder has its own)


def logs(root: Path) -> list[Path]:
    """Every log, event log and JSON file under `root`, but under NOT_LOGS."""
    return [path for path in sorted(root.rglob("*")) if path.suffix in (".log", ".jsonl", ".json")
            and not NOT_LOGS.intersection(path.relative_to(root).parts) and path.is_file()]


def leaks(paths: list[Path]) -> dict[str, list[str]]:
    """Each of `paths` that holds a secret → what kind(s)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        text = path.read_text(errors="replace")
        kinds = [kind for kind, pattern in (("private key", PRIVATE_KEY), ("token", TOKEN)) if pattern.search(text)]
        if kinds:
            found[str(path)] = kinds
    return found


@pytest.mark.scenario("logs-hold-no-secrets")
def test_logs_hold_no_secrets(note):
    checked = logs(testbed.BUILD)
    assert checked, f"no logs under {testbed.BUILD}: nothing was checked"
    found = leaks(checked)
    assert not found, f"plaintext secrets in: {found}"
    note(f"{len(checked)} logs, event logs and JSON files under build/e2e: no private key, no token")
