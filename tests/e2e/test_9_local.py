"""bin/up-local's test-bed path, as a user runs it (issue 30): up, down, up. The second `up` meets a
cluster started anew — new CA, new certificates, perhaps a new port — while the state still holds the
old cluster's kubeconfig in the provider's inputs; it must rebuild the platform with the same sealing
key, the one in the state.

It runs `python -m e2e.local_stack` (what bin/up-local runs without Docker and kind) in a build folder
of its own, so its cluster, Git server and image mirror are its own and the drill's are left alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from e2e import testbed

BUILD = testbed.BUILD / "up-local"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


def local_stack(action: str) -> subprocess.CompletedProcess:
    """`python -m e2e.local_stack ACTION`, its output kept in build/e2e/logs/up-local-ACTION.log."""
    env = {**os.environ, "BELEN_E2E_BUILD": str(BUILD)}
    result = subprocess.run([sys.executable, "-m", "e2e.local_stack", action], cwd=testbed.ROOT, env=env,
                            capture_output=True, text=True, timeout=3600)
    log = testbed.BUILD / "logs" / f"up-local-{action}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ python -m e2e.local_stack {action}\n{result.stdout}{result.stderr}[exit {result.returncode}]\n\n")
    return result


def sealing_key() -> tuple[str, str]:
    """The one key Secret in the local cluster: its name and private key."""
    out = testbed.run(["kubectl", "--kubeconfig", BUILD / "local" / "kubeconfig", "get", "secrets", "-A", "-l",
                       KEY_LABEL, "-o", "json"]).stdout
    keys = json.loads(out)["items"]
    assert len(keys) == 1, [k["metadata"]["name"] for k in keys]
    return keys[0]["metadata"]["name"], keys[0]["data"]["tls.key"]


def ca(kubeconfig: str) -> str:
    return yaml.safe_load(kubeconfig)["clusters"][0]["cluster"]["certificate-authority-data"]


@pytest.mark.scenario("local-up-down-up")
def test_up_down_up_rebuilds_the_local_stack_with_the_same_key(toolchain, note):
    local_stack("down")  # a cluster an earlier run left
    shutil.rmtree(BUILD, ignore_errors=True)  # and its state: the first `up` is a new stack's
    try:
        first = local_stack("up")
        assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
        key = sealing_key()
        first_ca = ca((BUILD / "local" / "kubeconfig").read_text())
        assert local_stack("down").returncode == 0
        second = local_stack("up")
        assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
        assert ca((BUILD / "local" / "kubeconfig").read_text()) != first_ca, "the second cluster is not a new one"
        assert sealing_key() == key, "the second up has another sealing key than the first"
    finally:
        local_stack("down")
    note(f"`python -m e2e.local_stack up`, `down`, `up` (bin/up-local's test-bed path): the second `up --refresh "
         f"--run-program` rebuilt the platform on a cluster with a new CA, with the same sealing key {key[0]}")
