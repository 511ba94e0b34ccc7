"""The drill's kubelet part (e2e/testbed.HostControllers) and what a kubelet runs (e2e/workload_spec.py),
without a cluster: starts once discovery serves a controller's kinds, restarts with the kubelet's
back-off, each recorded with its last log lines and, only for a known upstream bug, a cause; and the
SIGINT the test bed's commands get (testbed.interruptible)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from e2e import testbed

PANIC = ("--- 2026-12-06T21:00:00Z start, args: --update-status\nlevel=INFO msg=\"registered private key\"\n"
         "panic: interface conversion: interface {} is cache.DeletedFinalStateUnknown, not *v1.Secret\n\n"
         "goroutine 97 [running]:\n" + "github.com/bitnami/sealed-secrets/pkg/controller.frame()\n" * 20)


def test_a_known_upstream_panic_is_explained_from_its_first_line_and_another_death_is_not():
    lines, cause = testbed.death("sealed-secrets-controller", "--- earlier start\nold\n" + PANIC)
    assert lines[0].startswith("panic: interface conversion") and len(lines) == testbed.LAST_LINES
    assert cause and "sealed-secrets v0.40.0" in cause and "controller.go:224" in cause
    # The same words from another controller, or a plain exit, are not explained.
    assert testbed.death("eso-controller", PANIC)[1] is None
    lines, cause = testbed.death("eso-controller", "--- old start\nbefore\n--- new start\nE1206 lost\n")
    assert (lines, cause) == (["--- new start", "E1206 lost"], None)


class Kubelet(testbed.HostControllers):
    """HostControllers on a cluster that is a folder: starts succeed or fail as told, processes live as told."""

    def __init__(self, folder: Path):
        cluster = type("FakeCluster", (), {"name": f"test-{folder.name}", "dir": folder})()
        super().__init__(cluster)
        self.deployments = [{"metadata": {"uid": "u1", "generation": 1,
                                          "labels": {"app.kubernetes.io/name": "sealed-secrets"}}}]
        self.cluster.get = lambda *args: self.deployments
        self.alive = set()
        self.starts_fail = False
        self.starts = 0

    def start(self, script: str) -> bool:
        self.starts += 1
        if self.starts_fail:
            (self.cluster.dir / f"{script}-start.log").write_text("$ e2e/x start\nexpected one Deployment\n[exit 1]\n")
            return False
        self.alive.add(script)
        return True

    def _alive(self, name: str) -> bool:
        return name in self.alive

    def _discovered(self) -> set[str]:
        return {crd for process in testbed.HOST_PROCESSES for crd in process.crds}


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 1000.0}
    monkeypatch.setattr(testbed.time, "monotonic", lambda: now["t"])
    return now


def test_a_dead_controller_restarts_after_the_kubelets_back_off_and_each_restart_is_recorded(tmp_path, clock):
    kubelet = Kubelet(tmp_path)
    kubelet.poll()
    assert kubelet.starts == 1 and not kubelet.restarts  # the first start is no restart
    (tmp_path / "sealed-secrets-controller.log").write_text(PANIC)
    for count, back_off in enumerate((10, 20, 40)):
        kubelet.alive.clear()  # it died
        kubelet.poll()
        clock["t"] += back_off - 1
        kubelet.poll()
        assert len(kubelet.restarts) == count, "restarted before the back-off"
        clock["t"] += 1
        kubelet.poll()
        assert kubelet.restarts[-1].back_off_seconds == back_off and kubelet.restarts[-1].reason == "died"
        assert kubelet.restarts[-1].cause and kubelet.restarts[-1].last_lines[0].startswith("panic:")
    assert kubelet.starts == 4 and kubelet.restarted == ["sealed-secrets-controller"] * 3
    # Ten minutes of running resets the back-off; a rollout (new pod template) starts at once.
    clock["t"] += 600
    kubelet.alive.clear()
    kubelet.poll()
    assert kubelet.due["sealed-secrets-controller"] == clock["t"] + 10
    kubelet.deployments[0]["metadata"]["generation"] = 2
    kubelet.poll()
    assert kubelet.starts == 5 and len(kubelet.restarts) == 3


def test_a_failed_start_is_recorded_with_its_output_and_retried_after_a_back_off(tmp_path, clock):
    kubelet = Kubelet(tmp_path)
    kubelet.starts_fail = True
    kubelet.poll()
    (failed,) = kubelet.restarts
    assert failed.reason == "start failed" and failed.cause is None and "expected one Deployment" in failed.last_lines
    kubelet.poll()
    assert kubelet.starts == 1, "retried before the back-off"
    kubelet.starts_fail = False
    clock["t"] += 10
    kubelet.poll()
    assert kubelet.starts == 2 and len(kubelet.restarts) == 1, "the retry of a failed start is no second record"


def test_the_workload_spec_expands_args_as_the_kubelet_does():
    deployment = {"items": [{"metadata": {"namespace": "cert-manager"}, "spec": {"template": {"spec": {
        "serviceAccountName": "cert-manager",
        "containers": [{"name": "cert-manager-controller",
                        "args": ["--v=2", "--cluster-resource-namespace=$(POD_NAMESPACE)", "--x=$$(POD_NAMESPACE)",
                                 "--y=$(UNDEFINED)"],
                        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]}],
    }}}}]}
    out = subprocess.run([sys.executable, str(testbed.E2E / "workload_spec.py"), "cert-manager-controller"],
                         input=json.dumps(deployment), capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["cert-manager", "cert-manager", "arg --v=2", "arg --cluster-resource-namespace=cert-manager",
                                "arg --x=$(POD_NAMESPACE)", "arg --y=$(UNDEFINED)", "env POD_NAMESPACE=cert-manager"]


def test_a_controller_starts_only_once_discovery_serves_every_kind_it_watches(tmp_path, clock):
    kubelet = Kubelet(tmp_path)
    kubelet.deployments = [{"metadata": {"uid": "u1", "generation": 1,
                                         "labels": {"app.kubernetes.io/name": "flux-operator"}}}]
    served: set[str] = set()
    kubelet._discovered = lambda: served
    kubelet.poll()
    assert kubelet.starts == 0, "started before its CRD was served"
    served.add("fluxinstances.fluxcd.controlplane.io")
    kubelet.poll()
    assert kubelet.starts == 1


def test_commands_started_by_a_backgrounded_test_bed_get_sigints_default():
    # As `cmd &` in a non-interactive shell does: the test bed starts with SIGINT ignored.
    child = ("import subprocess; from e2e import testbed; testbed.interruptible(); "
             "print(subprocess.run(['grep', 'SigIgn', '/proc/self/status'], capture_output=True, text=True).stdout)")
    ignored = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True, cwd=testbed.ROOT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)).stdout
    mask = int(ignored.split()[1], 16)
    assert not mask & (1 << (signal.SIGINT - 1)), f"a command of the test bed still ignores SIGINT: {ignored}"
