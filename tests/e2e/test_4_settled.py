"""Once everything ran: both stacks are settled (4-idempotent), and bad settings stop a real `up`
before anything is created (6-bad-settings)."""

from __future__ import annotations

import pytest

from e2e import testbed
from tests.e2e.drill_config import BAD, HOMELAB


@pytest.mark.scenario("4-idempotent")
def test_idempotent(homelab: testbed.Stack, cloud: testbed.Stack, note):
    for stack in (homelab, cloud):
        stack.pulumi("preview", "--expect-no-changes", "--diff")
    note("`pulumi preview --expect-no-changes` passes on both stacks after their `up`")


@pytest.mark.scenario("6-bad-settings")
def test_bad_settings(cloud: testbed.Stack, note):
    stack = testbed.Stack(BAD, cloud.cluster)
    stack.configure({
        "belen:cluster": {"name": "bad"},
        "belen:sealedSecrets": {"keysFromStack": f"organization/belen/{HOMELAB}", "keyRenewPeriod": "720h"},
        "belen:ingres": {"install": True},
    })
    stack.init()
    before = cluster_objects(stack.cluster)
    result = stack.up(check=False)
    assert result.returncode != 0
    for expected in ("belen:sealedSecrets.keyRenewPeriod: ", "belen:ingres: unknown setting"):
        assert expected in result.output, f"{expected} not named in:\n{result.output}"
    for noise in ("Traceback", "unhandled exception"):
        assert noise not in result.output, f"{noise!r} in:\n{result.output}"
    assert [r["type"] for r in stack.state()["deployment"].get("resources") or []] in ([], ["pulumi:pulumi:Stack"])
    after = cluster_objects(stack.cluster)
    assert after == before, f"the failed `up` changed the cluster: {sorted(after ^ before)[:20]}"
    note(f"`pulumi up` failed with belen's lines only; nothing in the state, and the cluster's {len(after)} "
         "objects are the same before and after")


def cluster_objects(cluster: testbed.Cluster) -> set[str]:
    """kind namespace/name of every object of the kinds belen creates (events and leases change by themselves)."""
    kinds = ("namespaces,secrets,configmaps,serviceaccounts,deployments,services,roles,rolebindings,clusterroles,"
             "clusterrolebindings,customresourcedefinitions")
    return {f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
            for o in cluster.get(kinds, "-A")}
