"""The homelab dies (12-disaster): every process of its cluster stops, only its Pulumi state remains
(as it would in a backend that outlives the cluster), and a replica on a new cluster converges from
Git and opens every SealedSecret. Then the replica's `pulumi destroy` leaves its keys (5-destroy)."""

from __future__ import annotations

import time

import pytest

from e2e import testbed
from tests.e2e.checks import EventLog, assert_whole, wait_opened
from tests.e2e.drill_config import REPLICA, cloud_config
from tests.e2e.ordering import assert_platform_order
from tests.e2e.recovery import runbook_up

state: dict = {}


@pytest.mark.scenario("12-disaster")
def test_disaster(homelab: testbed.Stack, fresh_cluster, charts, git: testbed.GitServer, figures, note):
    fingerprints = homelab.output("sealingKeyFingerprints")
    ports = homelab.cluster.ports()
    homelab.cluster.stop()
    assert_dead(homelab.cluster)

    replica = testbed.Stack(REPLICA, fresh_cluster("replica"))
    replica.configure(cloud_config(charts, git.url, cluster="replica"))
    replica.init()
    started = time.monotonic()
    up = runbook_up(replica)
    wait_opened(replica.cluster)
    figures["recovery_seconds"] = round(time.monotonic() - started, 1)
    assert replica.output("sealingKeyFingerprints") == fingerprints
    assert len(replica.cluster.sealing_keys()) == len(fingerprints)
    assert_platform_order(EventLog(up.events))
    assert_dead(homelab.cluster)
    state["replica"] = replica
    note(f"with every process of the homelab stopped (none of the {len(ports)} that listened runs), a replica on a new cluster "
         f"converged from Git and opened all three SealedSecrets with the homelab's {len(fingerprints)} key(s) from "
         f"its state: recovery {figures['recovery_seconds']} s from `pulumi up` start to the last Secret")


@pytest.mark.scenario("status-replica")
def test_status_replica(note):
    """tools.status on the replica that converged from the dead homelab's state and Git (issue 32)."""
    note(f"tools.status {REPLICA}: whole (exit 0) — {assert_whole(state['replica'])}")


@pytest.mark.scenario("5-destroy")
def test_destroy_keeps_keys(note):
    replica: testbed.Stack = state["replica"]
    before = {k["metadata"]["name"] for k in replica.cluster.sealing_keys()}
    replica.pulumi("destroy", "--yes")
    after = {k["metadata"]["name"] for k in replica.cluster.sealing_keys()}
    assert before and after == before, f"destroy removed sealing keys: {sorted(before - after)}"
    note(f"`pulumi destroy` of the replica left its {len(after)} key Secret(s)")


def assert_dead(cluster: testbed.Cluster) -> None:
    """No process of the cluster runs (so none listens on its ports: a port another cluster took since
    is not the homelab's), and its API server does not answer."""
    assert not cluster.processes(), f"{cluster.name} still runs: pids {cluster.processes()}"
    assert not cluster.answers(), f"{cluster.name}'s API server answers"
