"""Recovery against a hand-written script (recovery-vs-script): with the homelab dead and only its
state left, belen's replica `pulumi up` on one fresh cluster and the sequential helm + kubectl
script written from the same replica's offline render (e2e/script-peer) on another, alternating,
each timed from its start to the last SealedSecret from Git open (tests/e2e/recovery.py)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from e2e import testbed
from tests.e2e import recovery
from tests.e2e.checks import request_reconcile, seal_all, wait_opened
from tests.e2e.drill_config import HOMELAB, cloud_config, sealed_secrets_file

RUNS = 5  # of each, alternating: belen, script, belen, script, …
BELEN, SCRIPT = "recovery-belen", "recovery-script"  # the two clusters, each made afresh for every run


def dead_homelab(homelab: testbed.Stack, git: testbed.GitServer) -> None:
    """After test_5 the homelab is dead and its SealedSecrets are in Git. Run alone, this theme makes
    that so first: the homelab's `up`, its SealedSecrets to Git, then its cluster deleted."""
    if homelab.ups == 0:
        homelab.cluster.start_standins()
        homelab.up()
        git.commit(sealed_secrets_file(seal_all(homelab.output("sealingCertificate"))), "SealedSecrets")
        request_reconcile(homelab.cluster)
        wait_opened(homelab.cluster)
        homelab.cluster.down()


@pytest.mark.scenario("recovery-vs-script")
def test_recovery_vs_script(homelab: testbed.Stack, fresh_cluster, charts, git: testbed.GitServer, figures, note):
    dead_homelab(homelab, git)
    # The sealing keys, in plaintext, only in a private folder outside the logs, removed at the end.
    keys_dir = tempfile.mkdtemp(prefix="belen-recovery-")
    try:
        outputs = {f"organization/belen/{HOMELAB}": recovery.secret_outputs(homelab)}
        script = recovery.write_script(SCRIPT, cloud_config(charts, git.url, cluster=SCRIPT), outputs,
                                       Path(keys_dir))
        belen, scripted, breakdowns, loads = [], [], [], []
        for run in range(1, RUNS + 1):
            stack = testbed.Stack(f"drill-recovery-{run}", fresh_cluster(BELEN))
            stack.configure(cloud_config(charts, git.url, cluster=BELEN))
            stack.init()
            seconds, steps = recovery.time_belen(stack)
            belen.append(seconds)
            breakdowns.append(steps)
            loads.append(recovery.load_average())
            stack.cluster.down()

            cluster = fresh_cluster(SCRIPT)
            scripted.append(recovery.time_script(script, cluster))
            loads.append(recovery.load_average())
            cluster.down()
    finally:
        shutil.rmtree(keys_dir, ignore_errors=True)
    result = recovery.figures(belen, scripted, breakdowns, loads)
    figures.update(result)
    print("\n".join(recovery.describe(result)))
    note(f"belen {result['recovery_belen_seconds']} s vs the sequential helm + kubectl script "
         f"{result['recovery_script_seconds']} s (medians of {RUNS} alternating runs, each to the last SealedSecret "
         f"from Git open): recovery_vs_script {result['recovery_vs_script']:.2f}, load average "
         f"{max(loads):.1f} at most")
