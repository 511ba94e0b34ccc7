"""The recovery figures the drill reports (tests/e2e/floor.py, recovery.py): the floor is the longest
chain of the controllers' readiness waits through the dependency graph, belen's time along its own
critical path adds up, and a round measured above the core count says so and is not preferred."""

import datetime as dt

import pytest

from tests.e2e import floor, recovery

T0 = dt.datetime(2026, 12, 6, 21, 0, 0, tzinfo=dt.timezone.utc)


def at(second: float) -> str:
    return (T0 + dt.timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(kind: str, name: str, created: float, namespace: str = "", ready: float | None = None,
        condition: str = "Ready", annotations: dict | None = None) -> dict:
    meta = {"name": name, "creationTimestamp": at(created), "annotations": annotations or {}}
    if namespace:
        meta["namespace"] = namespace
    status = {"conditions": [{"type": condition, "status": "True", "lastTransitionTime": at(ready)}]} if ready is not None else {}
    return {"kind": kind, "metadata": meta, "status": status}


def event(job: str, namespace: str, second: float, reason: str) -> dict:
    return {"involvedObject": {"kind": "Job", "namespace": namespace, "name": job}, "firstTimestamp": at(second),
            "reason": reason}


def resource(urn: str, kind: str, name: str, namespace: str = "", deps=(), type_: str = "") -> dict:
    inputs = {"kind": kind, "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}
    return {"urn": urn, "type": type_ or f"kubernetes:x/v1:{kind}", "custom": True, "inputs": inputs,
            "dependencies": list(deps)}


def release(urn: str, name: str, namespace: str, deps=()) -> dict:
    return {"urn": urn, "type": floor.RELEASE, "custom": True, "inputs": {"name": name, "namespace": namespace},
            "dependencies": list(deps)}


def cluster_at() -> floor.Snapshot:
    """cert-manager's release (its slower Deployment ready 4 s after creation, then a 3 s hook Job),
    an issuer, a certificate, Flux's instance beside them, and the Kustomization with the SealedSecrets
    open at 40 s."""
    helm = {"meta.helm.sh/release-name": "cert-manager"}
    items = [
        obj("Deployment", "cert-manager", 2, "cert-manager", 5, "Available", helm),
        obj("Deployment", "cert-manager-webhook", 2, "cert-manager", 6, "Available", helm),
        obj("Deployment", "other", 0, "cert-manager", 30, "Available"),  # not the release's
        obj("ClusterIssuer", "selfsigned", 12, ready=13),
        obj("Certificate", "site", 14, "apps", ready=16),
        obj("FluxInstance", "flux", 3, "flux-system", ready=25),
        obj("Kustomization", "flux-system", 26, "flux-system", ready=39),
    ]
    events = [event("cert-manager-startupapicheck", "cert-manager", 8, "SuccessfulCreate"),
              event("cert-manager-startupapicheck", "cert-manager", 11, "Completed")]
    secrets = {("cert-manager", "sh.helm.release.v1.cert-manager.v1"): T0.timestamp() + 1,
               ("apps", "db-password"): T0.timestamp() + 40}
    return floor.Snapshot.of(items, events, secrets)


GRAPH = [
    {"urn": "stack", "type": "pulumi:pulumi:Stack", "custom": False, "inputs": {}, "dependencies": []},
    resource("ns", "Namespace", "cert-manager"),
    release("cm", "cert-manager", "cert-manager", ["ns"]),
    resource("issuer", "ClusterIssuer", "selfsigned", deps=["cm"]),
    resource("cert", "Certificate", "site", "apps", ["issuer", "cm"]),
    resource("flux", "FluxInstance", "flux", "flux-system"),
    resource("sync", "Kustomization", "flux-system", "flux-system", ["cert", "flux"]),
]


def timed_graph():
    return floor.nodes(GRAPH, cluster_at(), T0.timestamp() + 40, lambda urn, _: urn)


def test_the_floor_is_the_longest_chain_of_readiness_waits():
    waits = {node.urn: node.wait for node in timed_graph()}
    # The release: its slower Deployment (4 s), then its hook Job (3 s); a Deployment of another release is not its.
    assert waits["cm"] == 7
    # The certificate's wait starts once it exists and its issuer is ready; Flux's from its creation to the
    # last SealedSecret open, once the certificate and the FluxInstance were ready (25 s).
    assert (waits["ns"], waits["issuer"], waits["cert"], waits["flux"], waits["sync"]) == (0, 1, 2, 22, 14)
    total, chain = floor.longest_chain(timed_graph())
    # ns → cert-manager → issuer → certificate → sync is 0+7+1+2+14 = 24; the FluxInstance's branch 22+14 = 36.
    assert total == 36 and [node.urn for node in chain] == ["flux", "sync"]


def test_a_chain_is_not_lengthened_by_steps_beside_it():
    steps = [floor.Node("a", "a", (), 0, 5, 5), floor.Node("b", "b", (), 0, 9, 9),
             floor.Node("c", "c", ("a",), 5, 8, 3), floor.Node("d", "d", ("b", "c"), 9, 10, 1)]
    assert floor.longest_chain(steps) == (10, [steps[1], steps[3]])


def test_belens_time_along_its_path_adds_up_to_the_run():
    path = [{"start": 3, "created": 4, "ready": 11, "done": 14, "wait": 7},  # a release awaited 3 s past ready
            {"start": 15, "created": 15, "ready": 16, "done": 17, "wait": 1}]
    parts = floor.overhead(path, total=45.5, first_step=2.5, opened=44)
    assert parts == {"engine_start": 2.5, "between_steps": 1.5, "provider_calls": 1, "readiness": 8,
                     "waits_outlasting_readiness": 4, "after_last_step": 27, "harness": 1.5}
    assert sum(parts.values()) == pytest.approx(45.5)


def runs(belen, script, parallel, load):
    return ([recovery.Run(recovery.BELEN, s, load, 20.0, [], {"total_seconds": s}) for s in belen]
            + [recovery.Run(recovery.SCRIPT, s, load, 21.0, []) for s in script]
            + [recovery.Run(recovery.PARALLEL, s, load, 19.0, []) for s in parallel])


def test_the_figures_come_from_the_quietest_round_and_name_the_load():
    cores = recovery.os.cpu_count()
    noisy = runs([40, 42, 41, 60, 39], [50] * 5, [35] * 5, load=cores + 4)
    quiet = runs([30, 31, 29, 33, 32], [36] * 5, [28] * 5, load=cores - 0.5)
    result = recovery.figures([noisy, quiet])
    assert result["recovery_round"] == 2 and not result["recovery_load_above_cores"]
    assert result["recovery_vs_parallel_script"] == round(31 / 28, 2) and result["recovery_vs_script"] == round(31 / 36, 2)
    assert (result["recovery_floor_seconds"], result["recovery_overhead_seconds"]) == (20, 11)
    assert result["recovery_breakdown"]["total_seconds"] == 31  # belen's median run
    assert [r["recovery_load_above_cores"] for r in result["recovery_rounds"]] == [True, False]
    assert recovery.figures([noisy])["recovery_load_above_cores"]
    assert "ABOVE THE CORE COUNT" in recovery.describe(recovery.figures([noisy]) | {
        "recovery_breakdown": {"total_seconds": 41, "overhead": {}, "floor_seconds": 20, "floor_path": [],
                               "engine_start": {"first_event": 0, "first_step": 2}, "charts": [], "waits": [],
                               "flux_first_reconcile": {"kustomization_created": 1, "ready": 2, "revision": "r"},
                               "critical_path": []}})[0]
