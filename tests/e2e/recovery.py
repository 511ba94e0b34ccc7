"""belen's recovery beside the hand-written helm + kubectl scripts (e2e/script-peer: sequential and
parallel) on the test bed, the floor no tool can go below, and where belen's time goes: measured by
scenario `recovery-vs-script` (tests/e2e/test_7_recovery.py), printed from its drill report by
`python -m tools.bench recovery`.

Each run starts on a fresh cluster with the same stand-ins and the same real host controllers,
started the same way (polled while the command runs), and ends when the last SealedSecret from Git
is open: belen's `pulumi up` of a replica stack, or a script written from that replica's offline
render. The floor of each run comes from the controllers' own timestamps through the dependency
graph (tests/e2e/floor.py); belen's breakdown reads the engine's event log (whole seconds) beside them.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e import testbed
from tests.e2e import floor
from tests.e2e.checks import EventLog, condition, wait_opened
from tests.e2e.drill_config import APPS, SEALED
from tests.e2e.ordering import RELEASE, bookkeeping, type_chain
from tools import mockrun, render

# The replica's `pulumi up` as the recovery runbook gives it (docs/replica.md step 3): after the offline
# preview (tools.render, tools.preflight), without the engine's own preview, a second run of the whole
# program before the update; the script peer runs no dry run either.
RECOVERY_UP = ("--skip-preview",)
WAIT_FOR = "pulumi.com/waitFor"
# The three ways to recover, as the report names them.
BELEN, SCRIPT, PARALLEL = "belen", "script", "parallel_script"


@dataclass
class Run:
    """One timed recovery: `seconds` to the last SealedSecret open, the highest 1-minute load average
    while it ran, its floor and the floor's chain; belen's with its breakdown."""

    way: str
    seconds: float
    load: float
    floor: float
    floor_path: list[dict[str, Any]]
    breakdown: dict[str, Any] = field(default_factory=dict)


class LoadSampler:
    """The highest 1-minute load average seen while the `with` block runs, sampled every second."""

    def __init__(self) -> None:
        self.highest = os.getloadavg()[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(1):
            self.highest = max(self.highest, os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.highest = max(self.highest, os.getloadavg()[0])


# --- the script peer ---------------------------------------------------------------------------

def secret_outputs(stack: testbed.Stack) -> dict[str, Any]:
    """Every output of `stack` from its state, secret ones shown and listed under `__secret__` (as
    `python -m tools.render --stack-outputs` takes them)."""
    shown = json.loads(stack.pulumi("stack", "output", "--json", "--show-secrets").stdout)
    masked = json.loads(stack.pulumi("stack", "output", "--json").stdout)
    return {**shown, "__secret__": sorted(key for key in shown if masked.get(key) == "[secret]")}


def write_scripts(stack: str, config: dict[str, Any], stack_outputs: dict[str, dict], work: Path) -> dict[str, Path]:
    """The replica's offline render (secrets shown: the sealing keys are the scripts' to apply), then
    the sequential and the parallel script e2e/script-peer writes from it. `work` holds plaintext keys:
    private, removed by the caller."""
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = mockrun.run_main(stack=stack, config={key: render.as_config_string(value) for key, value in config.items()},
                              stack_outputs=stack_outputs)
    render.write_render(result, work / "render", show_secrets=True)
    sequential, parallel = testbed.run([testbed.E2E / "script-peer", work / "render", work / "script"],
                                       log=testbed.BUILD / "logs" / "script-peer.log").stdout.split()
    return {SCRIPT: Path(sequential), PARALLEL: Path(parallel)}


def run_polled(cmd: list[Any], cluster: testbed.Cluster, log: Path) -> None:
    """Run `cmd` against `cluster` as Stack.up runs `pulumi up` (Cluster.run_as_kubelet); fail on an error."""
    code = cluster.run_as_kubelet(cmd, log, env={**testbed.environment(), "KUBECONFIG": str(cluster.kubeconfig)})
    if code != 0:
        raise AssertionError(f"{cmd[0]} exited {code} on {cluster.name}: see {log}\n{log.read_text()[-3000:]}")


def time_script(way: str, script: Path, cluster: testbed.Cluster) -> Run:
    """A script from its start to the last SealedSecret from Git open, on a fresh `cluster`; its
    floor through the render's graph (the render beside the script's folder)."""
    with LoadSampler() as load:
        started = time.monotonic()
        run_polled(["bash", script], cluster, testbed.BUILD / "logs" / f"{script.stem}-{cluster.name}.log")
        wait_opened(cluster)
        seconds = time.monotonic() - started
    resources = json.loads((script.parent.parent / "render" / "resources.json").read_text())
    total, path = floor_of(resources, snapshot(cluster))
    return Run(way, seconds, load.highest, total, path)


def runbook_up(stack: testbed.Stack) -> testbed.Up:
    """The runbook's `pulumi up` as given: without the drill's `--diff` (every resource's details
    printed, about 2 s of CPU on 2 cores), with the event log the breakdown reads."""
    return stack.up(*RECOVERY_UP, diff=False)


def time_belen(stack: testbed.Stack) -> Run:
    """`pulumi up` from its start to the last SealedSecret from Git open, its floor through the
    state's graph, and the breakdown."""
    with LoadSampler() as load:
        started_at, started = time.time(), time.monotonic()
        up = runbook_up(stack)
        wait_opened(stack.cluster)
        seconds = time.monotonic() - started
    state, snap = stack.state(), snapshot(stack.cluster)
    total, path = floor_of(state["deployment"]["resources"], snap)
    steps = breakdown(EventLog(up.events), state, snap, started_at, started_at + seconds)
    return Run(BELEN, seconds, load.highest, total, path, steps)


# --- the floor, from the controllers' own timestamps ----------------------------------------------

def snapshot(cluster: testbed.Cluster) -> floor.Snapshot:
    """The timestamps of the cluster's objects and events; of its Secrets only the metadata (the
    sealing keys stay out of the kubectl log)."""
    columns = "{range .items[*]}{.metadata.namespace} {.metadata.name} {.metadata.creationTimestamp}{\"\\n\"}{end}"
    secrets = cluster.kubectl("get", "secrets", "-A", "-o", f"jsonpath={columns}").stdout.split("\n")
    created = {(ns, name): floor.seconds(at) for ns, name, at in (line.split() for line in secrets if line.strip())}
    return floor.Snapshot.of(cluster.get(floor.KINDS, "-A"), cluster.get("events", "-A"), created)


def opened_at(snap: floor.Snapshot) -> float:
    """When the last SealedSecret from Git was opened: its Secret's creation."""
    return max(snap.secrets_created[(APPS, name)] for name, _ in SEALED.values())


def floor_of(resources: list[dict], snap: floor.Snapshot) -> tuple[float, list[dict[str, Any]]]:
    """The run's floor and its chain (each step's readiness wait), through the graph of `resources`."""
    total, chain = floor.longest_chain(floor.nodes(resources, snap, opened_at(snap), label))
    return total, [{"step": n.step, "seconds": round(n.wait, 1)} for n in chain]


# --- where belen's time goes -------------------------------------------------------------------

def breakdown(log: EventLog, state: dict, snap: floor.Snapshot, started_at: float, finished_at: float) -> dict[str, Any]:
    """Seconds since `pulumi up` started: engine start (its first event, then the program's first
    step), each chart install and each awaited wait (start → done), Flux's first reconcile, the
    critical path (from the last SealedSecret open back through the Kustomization, at each step the
    dependency done last), and along it where the time went (floor.overhead)."""
    resources = {r["urn"]: r for r in state["deployment"]["resources"]}
    timed = {n.urn: n for n in floor.nodes(state["deployment"]["resources"], snap, opened_at(snap), label)}

    def since(moment: float | None) -> float | None:
        return None if moment is None else round(moment - started_at, 1)

    def at(index: int) -> float:
        return round(log.timestamps[index] - started_at, 1)

    def step(urn: str) -> dict[str, Any]:
        start, done = at(log.started[urn]), at(log.done[urn])
        return {"step": label(urn, resources.get(urn, {})), "start": start, "seconds": round(done - start, 1)}

    steps = [urn for urn in log.started if urn in log.done and not bookkeeping(urn)]
    kustomization = next(urn for urn in steps if type_chain(urn)[-1].endswith(":Kustomization"))
    created = at(log.done[kustomization])
    flux = snap.objects.get(("Kustomization", "flux-system", "flux-system")) or {}
    reconciled = since(floor.seconds(condition(flux).get("lastTransitionTime")))
    assert reconciled is not None, "the flux-system Kustomization has no Ready condition"
    opened = since(opened_at(snap))
    path = [{"step": "SealedSecrets from Git open", "start": reconciled, "seconds": round(opened - reconciled, 1)},
            {"step": "Flux's first reconcile", "start": created, "seconds": round(reconciled - created, 1)}]
    on_path: list[dict[str, Any]] = []
    urn: str | None = kustomization
    while urn:
        path.append(step(urn))
        node = timed.get(urn)
        awaited = type_chain(urn)[-1] == RELEASE or WAIT_FOR in _annotations(resources.get(urn, {}))
        on_path.append({"start": at(log.started[urn]), "done": at(log.done[urn]),
                        "created": since(node.created if node else None),
                        # A step that awaits nothing proves no readiness: its object created is its end.
                        "ready": since(node.ready if node and awaited else node.created if node else None),
                        "wait": node.wait if node and awaited else 0.0})
        deps = [d for d in resources.get(urn, {}).get("dependencies", []) if d in log.done and not bookkeeping(d)]
        urn = max(deps, key=lambda d: log.done[d], default=None)
    first_step = min(at(log.started[urn]) for urn in steps)
    path.append({"step": "engine start: CLI and program until the first step", "start": 0.0,
                 "seconds": first_step})
    total = round(finished_at - started_at, 1)
    return {
        "total_seconds": total,
        "overhead": floor.overhead(list(reversed(on_path)), total, first_step, opened),
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


# --- the figures -------------------------------------------------------------------------------

def round_figures(runs: list[Run]) -> dict[str, Any]:
    """One round's figures: each way's median and runs, the ratios, the floor and belen's overhead
    above it (medians of belen's runs), the load during each run, and the breakdown of belen's median run."""
    by_way = {way: [run for run in runs if run.way == way] for way in (BELEN, SCRIPT, PARALLEL)}
    median = {way: statistics.median(run.seconds for run in found) for way, found in by_way.items()}
    belen = sorted(by_way[BELEN], key=lambda run: run.seconds)
    floor_seconds = statistics.median(run.floor for run in belen)
    cores = os.cpu_count() or 1
    return {
        "recovery_vs_script": round(median[BELEN] / median[SCRIPT], 2),
        "recovery_vs_parallel_script": round(median[BELEN] / median[PARALLEL], 2),
        "recovery_floor_seconds": round(floor_seconds, 1),
        "recovery_overhead_seconds": round(median[BELEN] - floor_seconds, 1),
        "recovery_overhead_share": round((median[BELEN] - floor_seconds) / median[BELEN], 2),
        **{f"recovery_{way}_seconds": round(median[way], 1) for way in by_way},
        **{f"recovery_{way}_runs": [round(run.seconds, 1) for run in found] for way, found in by_way.items()},
        "recovery_floor_runs": {way: [run.floor for run in found] for way, found in by_way.items()},
        "recovery_load_average": {way: [round(run.load, 2) for run in found] for way, found in by_way.items()},
        "recovery_cores": cores,
        "recovery_load_above_cores": max(run.load for run in runs) > cores,
        "recovery_breakdown": {**belen[len(belen) // 2].breakdown, "floor_seconds": belen[len(belen) // 2].floor,
                               "floor_path": belen[len(belen) // 2].floor_path},
    }


ROUND_SUMMARY = ("recovery_vs_script", "recovery_vs_parallel_script", "recovery_belen_seconds", "recovery_script_seconds",
                 "recovery_parallel_script_seconds", "recovery_floor_seconds", "recovery_overhead_seconds",
                 "recovery_load_above_cores")


def figures(rounds: list[list[Run]]) -> dict[str, Any]:
    """The report's figures from the round measured at the lowest load (a round measured above the
    core count is run again), and every round's ratios and highest load in `recovery_rounds`."""
    measured = [round_figures(runs) for runs in rounds]
    chosen = min(range(len(rounds)), key=lambda i: statistics.median(run.load for run in rounds[i]))
    summaries = [{"round": i + 1, **{key: figures_[key] for key in ROUND_SUMMARY},
                  "highest_load": round(max(run.load for run in rounds[i]), 2)} for i, figures_ in enumerate(measured)]
    return {**measured[chosen], "recovery_round": chosen + 1, "recovery_rounds": summaries}


def describe(report: dict[str, Any]) -> list[str]:
    """The figures and the breakdown as lines (the scenario prints them, tools.bench recovery too)."""
    if "recovery_vs_parallel_script" not in report:
        return ["no recovery-vs-script figures with the parallel script in the report: run the drill (./bin/e2e) "
                "or its theme alone (./bin/e2e -k recovery)"]
    cores, above = report["recovery_cores"], report["recovery_load_above_cores"]
    loads = report["recovery_load_average"]
    load_note = f"MEASURED ABOVE THE CORE COUNT ({cores})" if above else f"load within the core count ({cores})"
    lines = [f"recovery_vs_parallel_script {report['recovery_vs_parallel_script']:.2f}  recovery_vs_script "
             f"{report['recovery_vs_script']:.2f}  (belen's median ÷ each script's; target ≤ 1.00; {load_note})",
             f"recovery_floor_seconds {report['recovery_floor_seconds']}  recovery_overhead_seconds "
             f"{report['recovery_overhead_seconds']} ({report['recovery_overhead_share']:.0%} of belen's; target ≤ 25%)"]
    for way, what in ((BELEN, f"belen (`pulumi up --yes {' '.join(RECOVERY_UP)}`)"),
                      (SCRIPT, "script, sequential (helm + kubectl)"), (PARALLEL, "script, parallel (helm + kubectl)")):
        lines.append(f"{what}: median {report[f'recovery_{way}_seconds']} s, runs {report[f'recovery_{way}_runs']}, "
                     f"floors {report['recovery_floor_runs'][way]}, highest 1-minute load {loads[way]}")
    for summary in report["recovery_rounds"]:
        chosen = " (these figures)" if summary["round"] == report["recovery_round"] else ""
        lines.append(f"round {summary['round']}{chosen}: vs parallel {summary['recovery_vs_parallel_script']:.2f}, "
                     f"vs sequential {summary['recovery_vs_script']:.2f}, floor {summary['recovery_floor_seconds']} s, "
                     f"highest load {summary['highest_load']} on {cores} CPU(s)"
                     + (" — above the core count" if summary["recovery_load_above_cores"] else ""))
    b = report["recovery_breakdown"]
    lines.append(f"breakdown of belen's median run ({b['total_seconds']} s; seconds since `pulumi up` started):")
    lines.append("  along its critical path: " + ", ".join(f"{key.replace('_', ' ')} {value}"
                                                           for key, value in b["overhead"].items()))
    lines.append(f"  its floor {b['floor_seconds']} s: " + " → ".join(f"{s['step']} {s['seconds']}" for s in b["floor_path"]))
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
