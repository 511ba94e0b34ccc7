"""A primary rebuilt on a new cluster keeps its sealing keys (issue 29), on the real engine and the real
sealed-secrets controller: belen's line refuses a lowered keyGeneration with the state untouched, a
bare `pulumi destroy` stops at the protected keys, `pulumi destroy --exclude-protected` keeps them, and
an `up` on a new empty cluster restores exactly the same keys, which open every SealedSecret from Git.
The keys also leave the state as an age backup (`tools.keys backup`) that opens to the same keys.

The stack is a primary with two generated keys (keyGeneration 2) on a cluster of its own, Flux syncing
its own folder of the drill's Git server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from pyrage import x25519

from components.crypto import sealing
from components.kept_keys import GENERATED_KEY_TYPE
from e2e import testbed
from tests.e2e.checks import request_reconcile, seal_all, wait_opened
from tests.e2e.drill_config import APPS, faults_config

NAME = "rebuild"
STACK = "drill-rebuild"
FOLDER = f"clusters/{NAME}"
LOWERED = "belen:sealedSecrets.keyGeneration: is 1, lower than this stack's generation 2"
PROTECTED = "because it is protected"


def rebuild_config(charts: dict, git_url: str, generation: int) -> dict:
    config = faults_config(charts, git_url, NAME)
    return {**config, "belen:sealedSecrets": {**config.get("belen:sealedSecrets", {}), "keyGeneration": generation}}


def key_secrets(cluster: testbed.Cluster) -> dict[str, dict[str, str]]:
    """Each key Secret's name → its bytes (compared, never printed)."""
    return {s["metadata"]["name"]: testbed.decode(s) for s in cluster.sealing_keys()}


def held_keys(stack: testbed.Stack) -> list[str]:
    """The generated keys in the stack's state: their resource names."""
    return sorted(r["urn"].rsplit("::", 1)[1] for r in stack.state()["deployment"].get("resources") or []
                  if r["type"] == GENERATED_KEY_TYPE)


def state_file(stack: testbed.Stack):
    [path] = (testbed.STATE / ".pulumi" / "stacks").rglob(f"{stack.name}.json")
    return path


def tool(stack: testbed.Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m tools.keys ARGS` in the project, as README runs it (it prints fingerprints, never a key)."""
    env = {**testbed.environment(), "PYTHONPATH": str(testbed.ROOT)}
    return testbed.run([sys.executable, "-m", "tools.keys", *args], cwd=testbed.PROJECT, env=env, log=stack.log,
                       check=check)


@pytest.mark.scenario("14-primary-rebuilt")
def test_primary_rebuilt(fresh_cluster, project, charts, git, note):
    cluster = fresh_cluster(NAME)
    stack = testbed.Stack(STACK, cluster)
    stack.configure(rebuild_config(charts, git.url, 2))
    stack.init()
    git.commit({f"{FOLDER}/namespace.yaml": yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APPS}})}, f"{NAME}: the apps namespace")
    stack.up()
    fingerprints, keys = stack.output("sealingKeyFingerprints"), key_secrets(cluster)
    assert len(fingerprints) == 2 and len(keys) == 2, (fingerprints, sorted(keys))
    git.commit({f"{FOLDER}/sealed-secrets.yaml": seal_all(stack.output("sealingCertificate"))}, f"{NAME}: SealedSecrets")
    request_reconcile(cluster)
    wait_opened(cluster)
    told = [f"a primary with 2 generated keys ({', '.join(fp[:16] for fp in fingerprints)})"]

    # The keys off the state: an age backup that opens, with the age CLI too, to the stack's sealingKeys.
    identity = x25519.Identity.generate()
    identity_file = testbed.BUILD / NAME / "backup-identity.txt"
    identity_file.write_text(f"{identity}\n")
    backup = testbed.BUILD / NAME / "keys.age"
    backup.unlink(missing_ok=True)
    tool(stack, "backup", STACK, "--out", str(backup), "--recipient", str(identity.to_public()))
    assert b"PRIVATE KEY" not in backup.read_bytes()
    checked = tool(stack, "check", str(backup), "--identity", str(identity_file)).stdout
    assert all(fp in checked for fp in fingerprints), checked
    age = shutil.which("age")
    if age:
        opened = json.loads(testbed.run([age, "-d", "-i", identity_file, backup]).stdout)  # not logged
        assert [sealing.certificate_facts(k["cert"])[0] for k in opened] == fingerprints
    told.append("`tools.keys backup` wrote them age-encrypted; `tools.keys check --identity` "
                + ("and `age -d` opened them" if age else "opened them (no age CLI here)"))

    # belen's line: a lowered keyGeneration stops before anything registers, the state file byte for byte.
    before = state_file(stack).read_bytes()
    stack.configure(rebuild_config(charts, git.url, 1))
    lowered = stack.up(check=False)
    assert lowered.returncode != 0 and LOWERED in lowered.output, lowered.output[-3000:]
    assert "Traceback" not in lowered.output
    assert state_file(stack).read_bytes() == before, "the refused `up` changed the state file"
    stack.configure(rebuild_config(charts, git.url, 2))
    told.append("keyGeneration 1 refused by belen's line, the state file unchanged byte for byte")

    # Pulumi's guard: a bare destroy stops in its preview at the protected keys; nothing is deleted.
    names, resources = held_keys(stack), len(stack.state()["deployment"]["resources"])
    bare = stack.pulumi("destroy", "--yes", check=False)
    said = bare.stdout + bare.stderr
    assert bare.returncode != 0 and PROTECTED in said and "Preview failed" in said, said[-3000:]
    assert held_keys(stack) == names and len(names) == 2
    assert len(stack.state()["deployment"]["resources"]) == resources, "the refused destroy deleted something"
    told.append(f"a bare `pulumi destroy` exited {bare.returncode} in its preview ('cannot be deleted {PROTECTED}'), "
                f"all {resources} resources still in the state")
    stack.pulumi("destroy", "--yes", "--exclude-protected")
    assert held_keys(stack) == names

    # The cluster is deleted and created anew; the same stack's `up` restores exactly the same keys.
    cluster.down()
    cluster.up()
    assert not cluster.sealing_keys()
    stack.pulumi("config", "set", "--secret", "belen:kubeconfig", stdin=cluster.kubeconfig.read_text())
    stack.up()
    assert stack.output("sealingKeyFingerprints") == fingerprints
    assert key_secrets(cluster) == keys, "the new cluster's key Secrets are not the original ones"
    wait_opened(cluster)
    stack.pulumi("preview", "--expect-no-changes")
    told.append("`destroy --exclude-protected` kept them; on a new cluster `up` restored the same 2 keys byte for "
                "byte and every SealedSecret from Git opened")
    note("; ".join(told))
