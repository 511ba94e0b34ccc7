"""belen's recovery beside a hand-written helm + kubectl script (e2e/script-peer) on the test bed, and
where belen's time goes: measured by scenario `recovery-vs-script` (tests/e2e/test_7_recovery.py),
printed from its drill report by `python -m tools.bench recovery`.

Each run starts on a fresh cluster with the same stand-ins and the same real host controllers,
started the same way (polled while the command runs), and ends when the last SealedSecret from Git
is open: belen's `pulumi up` of a replica stack, or the script written from that replica's offline
render. The breakdown reads the engine's event log (whole seconds), the state's dependencies and
the Flux Kustomization's status.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from e2e import testbed
from tests.e2e.checks import EventLog, condition, named, wait_opened
from tests.e2e.ordering import RELEASE, bookkeeping, type_chain
from tools import mockrun, render

KUSTOMIZATION = "kustomizations.kustomize.toolkit.fluxcd.io"
# The replica's `pulumi up` as the recovery runbook gives it (docs/replica.md step 3): after the offline
# preview (tools.render, tools.preflight), without the engine's own preview, a second run of the whole
# program before the update; the script peer runs no dry run either.
RECOVERY_UP = ("--skip-preview",)
WAIT_FOR = "pulumi.com/waitFor"


# --- the script peer ---------------------------------------------------------------------------

def secret_outputs(stack: testbed.Stack) -> dict[str, Any]:
    """Every output of `stack` from its state, secret ones shown and listed under `__secret__` (as
    `python -m tools.render --stack-outputs` takes them)."""
    shown = json.loads(stack.pulumi("stack", "output", "--json", "--show-secrets").stdout)
    masked = json.loads(stack.pulumi("stack", "output", "--json").stdout)
    return {**shown, "__secret__": sorted(key for key in shown if masked.get(key) == "[secret]")}


def write_script(stack: str, config: dict[str, Any], stack_outputs: dict[str, dict], work: Path) -> Path:
    """The replica's offline render (secrets shown: the sealing keys are the script's to apply), then
    the script e2e/script-peer writes from it. `work` holds plaintext keys: private, removed by the caller."""
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = mockrun.run_main(stack=stack, config={key: render.as_config_string(value) for key, value in config.items()},
                              stack_outputs=stack_outputs)
    render.write_render(result, work / "render", show_secrets=True)
    out = testbed.run([testbed.E2E / "script-peer", work / "render", work / "script"],
                      log=testbed.BUILD / "logs" / "script-peer.log").stdout.strip()
    return Path(out)


def run_polled(cmd: list[Any], cluster: testbed.Cluster, log: Path) -> None:
    """Run `cmd` against `cluster` as Stack.up runs `pulumi up` (Cluster.run_as_kubelet); fail on an error."""
    code = cluster.run_as_kubelet(cmd, log, env={**testbed.environment(), "KUBECONFIG": str(cluster.kubeconfig)})
    if code != 0:
        raise AssertionError(f"{cmd[0]} exited {code} on {cluster.name}: see {log}\n{log.read_text()[-3000:]}")


def time_script(script: Path, cluster: testbed.Cluster) -> float:
    """Seconds from the script's start to the last SealedSecret from Git open, on a fresh `cluster`."""
    cluster.start_standins()
    started = time.monotonic()
    run_polled(["bash", script], cluster, testbed.BUILD / "logs" / f"script-peer-{cluster.name}.log")
    wait_opened(cluster)
    return time.monotonic() - started


def time_belen(stack: testbed.Stack) -> tuple[float, dict[str, Any]]:
    """Seconds from `pulumi up`'s start to the last SealedSecret from Git open, and the breakdown."""
    stack.cluster.start_standins()
    started_at, started = time.time(), time.monotonic()
    up = stack.up(*RECOVERY_UP)
    wait_opened(stack.cluster)
    seconds = time.monotonic() - started
    return seconds, breakdown(EventLog(up.events), stack.state(), stack.cluster, started_at, started_at + seconds)


# --- where belen's time goes -------------------------------------------------------------------

def breakdown(log: EventLog, state: dict, cluster: testbed.Cluster, started_at: float, opened_at: float) -> dict[str, Any]:
    """Seconds since `pulumi up` started: engine start (its first event, then the program's first
    step), each chart install and each awaited wait (start → done), Flux's first reconcile, and the
    critical path: from the last SealedSecret open back through the Kustomization, at each step the
    dependency done last."""
    resources = {r["urn"]: r for r in state["deployment"]["resources"]}

    def at(index: int) -> float:
        return round(log.timestamps[index] - started_at, 1)

    def step(urn: str) -> dict[str, Any]:
        start, done = at(log.started[urn]), at(log.done[urn])
        return {"step": label(urn, resources.get(urn, {})), "start": start, "seconds": round(done - start, 1)}

    steps = [urn for urn in log.started if urn in log.done and not bookkeeping(urn)]
    kustomization = next(urn for urn in steps if type_chain(urn)[-1].endswith(":Kustomization"))
    created = at(log.done[kustomization])
    flux = named(cluster, KUSTOMIZATION, "flux-system", "flux-system") or {}
    reconciled = _since(condition(flux).get("lastTransitionTime"), started_at)
    path = [{"step": "SealedSecrets from Git open", "start": reconciled, "seconds": round(opened_at - started_at - reconciled, 1)},
            {"step": "Flux's first reconcile", "start": created, "seconds": round(reconciled - created, 1)}]
    urn: str | None = kustomization
    while urn:
        path.append(step(urn))
        deps = [d for d in resources.get(urn, {}).get("dependencies", []) if d in log.done and not bookkeeping(d)]
        urn = max(deps, key=lambda d: log.done[d], default=None)
    first_step = min(at(log.started[urn]) for urn in steps)
    path.append({"step": "engine start: CLI and program until the first step", "start": 0.0,
                 "seconds": first_step})
    return {
        "total_seconds": round(opened_at - started_at, 1),
        "engine_start": {"first_event": at(0), "first_step": first_step},
        "charts": [step(urn) for urn in steps if type_chain(urn)[-1] == RELEASE],
        "waits": [step(urn) for urn in steps if WAIT_FOR in _annotations(resources.get(urn, {}))],
        "flux_first_reconcile": {"kustomization_created": created, "ready": reconciled,
                                 "revision": (flux.get("status") or {}).get("lastAppliedRevision")},
        "critical_path": list(reversed(path)),
    }


def label(urn: str, resource: dict) -> str:
    """`Release external-secrets`, `ClusterSecretStore demo`: the kind and the object's name."""
    inputs = resource.get("inputs") or {}
    name = inputs.get("name") or (inputs.get("metadata") or {}).get("name") or urn.rsplit("::", 1)[-1]
    return f"{type_chain(urn)[-1].rsplit(':', 1)[-1]} {name}"


def _annotations(resource: dict) -> dict[str, str]:
    return ((resource.get("inputs") or {}).get("metadata") or {}).get("annotations") or {}


def _since(timestamp: str | None, started_at: float) -> float:
    assert timestamp, "the flux-system Kustomization has no Ready condition"
    moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return round(moment.timestamp() - started_at, 1)


# --- the figures -------------------------------------------------------------------------------

def figures(belen: list[float], script: list[float], breakdowns: list[dict], loads: list[float]) -> dict[str, Any]:
    """The report's figures: medians, every run, and the breakdown of belen's median run."""
    median_run = sorted(range(len(belen)), key=lambda i: belen[i])[len(belen) // 2]
    return {
        "recovery_vs_script": round(statistics.median(belen) / statistics.median(script), 2),
        "recovery_belen_seconds": round(statistics.median(belen), 1),
        "recovery_script_seconds": round(statistics.median(script), 1),
        "recovery_belen_runs": [round(s, 1) for s in belen],
        "recovery_script_runs": [round(s, 1) for s in script],
        "recovery_load_average": [round(x, 2) for x in loads],
        "recovery_breakdown": breakdowns[median_run],
    }


def load_average() -> float:
    return os.getloadavg()[0]


def describe(report: dict[str, Any]) -> list[str]:
    """The figures and the breakdown as lines (the scenario prints them, tools.bench recovery too)."""
    if "recovery_vs_script" not in report:
        return ["no recovery-vs-script figures in the report: run the drill (./bin/e2e) or its theme alone "
                "(pytest tests/e2e --drill tests/e2e/test_7_recovery.py)"]
    loads = report.get("recovery_load_average") or []
    lines = [f"recovery_vs_script {report['recovery_vs_script']:.2f} (belen's median ÷ the script's; target ≤ 1.00)",
             f"belen  (pulumi up → last SealedSecret open): median {report['recovery_belen_seconds']} s, runs "
             f"{report['recovery_belen_runs']} (`pulumi up --yes {' '.join(RECOVERY_UP)}`)",
             f"script (helm + kubectl, sequential):         median {report['recovery_script_seconds']} s, runs "
             f"{report['recovery_script_runs']}",
             f"1-minute load average during the runs: {', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} CPU(s)"]
    b = report["recovery_breakdown"]
    lines.append(f"breakdown of belen's median run ({b['total_seconds']} s; seconds since `pulumi up` started):")
    lines.append(f"  engine start: first event at {b['engine_start']['first_event']}, first step at "
                 f"{b['engine_start']['first_step']}")
    for kind in ("charts", "waits"):
        for s in b[kind]:
            lines.append(f"  {kind[:-1]:5} {s['step']:42} {s['start']:6.1f} +{s['seconds']:5.1f}")
    flux = b["flux_first_reconcile"]
    lines.append(f"  Flux's first reconcile: Kustomization created at {flux['kustomization_created']}, Ready at "
                 f"{flux['ready']} ({flux['revision']})")
    lines.append("  critical path:")
    lines.extend(f"    {s['start']:6.1f} +{s['seconds']:5.1f}  {s['step']}" for s in b["critical_path"])
    return lines
