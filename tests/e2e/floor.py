"""The floor of a recovery, and how far a run is above it: from the controllers' own timestamps (the
API server's creationTimestamp, conditions' lastTransitionTime and events, whole seconds), the
longest chain of readiness waits through the dependency graph, which no tool can skip.

A step's readiness wait is what the cluster's controllers need once its object exists: a Helm
release's Deployments becoming Available (the slowest) and then its hook Jobs running (Helm runs
them after its wait); a ClusterIssuer, Certificate, ClusterSecretStore, FluxInstance or
GitRepository becoming Ready; Flux's Kustomization: from its creation to the last SealedSecret from
Git open. Namespaces and Secrets need none. Pure logic: recovery.py reads the cluster.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

RELEASE = "kubernetes:helm.sh/v3:Release"
KUSTOMIZATION = "Kustomization"
READY_KINDS = ("ClusterIssuer", "Certificate", "ClusterSecretStore", "FluxInstance", "GitRepository")
# Every kind whose timestamps a step needs (secrets apart: read without their data).
KINDS = ("deployments,namespaces,clusterissuers.cert-manager.io,certificates.cert-manager.io,"
         "clustersecretstores.external-secrets.io,fluxinstances.fluxcd.controlplane.io,"
         "gitrepositories.source.toolkit.fluxcd.io,kustomizations.kustomize.toolkit.fluxcd.io")
BOOKKEEPING = ("pulumi:pulumi:", "pulumi:providers:", "belen:index:")


def seconds(timestamp: str | None) -> float | None:
    """An API server timestamp (RFC 3339) as Unix seconds."""
    if not timestamp:
        return None
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Snapshot:
    """The cluster's objects by (kind, namespace, name), its events, and the metadata of its Secrets."""

    objects: dict[tuple[str, str, str], dict]
    events: list[dict]
    secrets_created: dict[tuple[str, str], float]  # (namespace, name) → creation

    @classmethod
    def of(cls, items: list[dict], events: list[dict], secrets_created: dict[tuple[str, str], float]) -> Snapshot:
        return cls({(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in items},
                   events, secrets_created)

    def created(self, kind: str, namespace: str, name: str) -> float | None:
        if kind == "Secret":
            return self.secrets_created.get((namespace, name))
        obj = self.objects.get((kind, namespace, name))
        return seconds(obj["metadata"].get("creationTimestamp")) if obj else None


@dataclass(frozen=True)
class Node:
    """One step of the graph: when its object was created and ready (Unix seconds) and the
    readiness wait it adds to the floor (`wait`: 0 for objects no controller acts on)."""

    urn: str
    step: str
    needs: tuple[str, ...]
    created: float | None
    ready: float | None
    wait: float


def condition_time(obj: dict, kind: str) -> float | None:
    """When the object's condition `kind` last turned True (None while it is not True)."""
    found = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})
    return seconds(found.get("lastTransitionTime")) if found.get("status") == "True" else None


def release_readiness(snapshot: Snapshot, namespace: str, release: str) -> tuple[float | None, float | None, float]:
    """(created, ready, wait) of a Helm release: created when Helm recorded it; its slowest Deployment
    from creation to Available, then each hook Job of its namespace from its first event to `Completed`."""
    created = snapshot.secrets_created.get((namespace, f"sh.helm.release.v1.{release}.v1"))
    deployments = [o for (kind, ns, _), o in snapshot.objects.items() if kind == "Deployment" and ns == namespace
                   and (o["metadata"].get("annotations") or {}).get("meta.helm.sh/release-name") == release]
    waits, ready = [0.0], created
    for deployment in deployments:
        available = condition_time(deployment, "Available")
        if available is not None:
            waits.append(available - seconds(deployment["metadata"]["creationTimestamp"]))
            ready = max(ready or available, available)
    wait = max(waits)
    for job, (first, completed) in job_runs(snapshot.events, namespace).items():
        if completed is not None:
            wait += completed - first
            ready = max(ready or completed, completed)
    return created, ready, wait


def job_runs(events: list[dict], namespace: str) -> dict[str, tuple[float, float | None]]:
    """Each Job of `namespace` (hooks are deleted once done; their events stay): its first event and
    its `Completed` event."""
    runs: dict[str, tuple[float, float | None]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") != "Job" or involved.get("namespace") != namespace:
            continue
        at = seconds(event.get("firstTimestamp") or event.get("eventTime"))
        if at is None:
            continue
        first, completed = runs.get(involved["name"], (at, None))
        runs[involved["name"]] = (min(first, at), at if event.get("reason") == "Completed" else completed)
    return runs


def node(resource: dict[str, Any], snapshot: Snapshot, opened_at: float, ready_of: dict[str, float | None],
         step: str) -> Node:
    """The step of a state or render resource (`type`, `urn`, `inputs`, `dependencies`), timed by
    `snapshot`. Outside a release, its wait starts once its object exists and what it needs is ready
    (`ready_of`: the earlier steps'), so a controller waiting on another's work is not counted twice."""
    inputs = resource.get("inputs") or {}
    needs = tuple(urn for urn in resource.get("dependencies") or [] if urn in ready_of)
    if resource["type"] == RELEASE:
        created, ready, wait = release_readiness(snapshot, inputs.get("namespace", ""), inputs.get("name", ""))
        return Node(resource["urn"], step, needs, created, ready, wait)
    meta = inputs.get("metadata") or {}
    kind, namespace, name = inputs.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")
    created = snapshot.created(kind, namespace, name)
    if kind == KUSTOMIZATION:
        ready: float | None = opened_at
    elif kind in READY_KINDS:
        ready = condition_time(snapshot.objects.get((kind, namespace, name)) or {}, "Ready")
    else:
        ready = created
    starts = [t for t in (created, *(ready_of[urn] for urn in needs)) if t is not None]
    wait = max(ready - max(starts), 0.0) if ready is not None and created is not None else 0.0
    return Node(resource["urn"], step, needs, created, ready, wait)


def nodes(resources: list[dict[str, Any]], snapshot: Snapshot, opened_at: float, label) -> list[Node]:
    """Every step of the graph (bookkeeping apart), in its dependency order; `label(urn, resource)` names it."""
    found: list[Node] = []
    ready_of: dict[str, float | None] = {}
    for resource in resources:
        if resource["type"].startswith(BOOKKEEPING) or not resource.get("custom", True) or resource.get("read"):
            continue
        found.append(node(resource, snapshot, opened_at, ready_of, label(resource["urn"], resource)))
        ready_of[resource["urn"]] = found[-1].ready
    return found


def longest_chain(steps: list[Node]) -> tuple[float, list[Node]]:
    """The floor: the largest sum of readiness waits along a chain of dependencies, and that chain
    (first step first). `steps` come in dependency order."""
    by_urn = {n.urn: n for n in steps}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for n in steps:
        before = max((urn for urn in n.needs if urn in finish), key=finish.__getitem__, default=None)
        finish[n.urn] = (finish[before] if before else 0.0) + n.wait
        via[n.urn] = before
    if not finish:
        return 0.0, []
    urn: str | None = max(finish, key=finish.__getitem__)
    total, chain = finish[urn], []
    while urn:
        chain.append(by_urn[urn])
        urn = via[urn]
    return round(total, 1), list(reversed(chain))


def overhead(path: list[dict[str, float]], total: float, first_step: float, opened: float) -> dict[str, float]:
    """Where a run's time goes along its own critical path, in seconds since it started (each entry of
    `path` a step's `start`, `created`, `ready`, `done` and readiness `wait`, first step first): the
    engine's start until its first step; the gaps between a dependency done and the next step's
    start; provider calls (a step's start → its object created, and a release's own work beyond its
    readiness wait); the controllers' readiness waits; waits that outlast the readiness they prove
    (ready → the step done); after the last step (Flux's reconcile to the last SealedSecret open);
    and the harness seeing it. They add up to `total`."""
    parts = {"engine_start": first_step, "between_steps": 0.0, "provider_calls": 0.0, "readiness": 0.0,
             "waits_outlasting_readiness": 0.0}
    previous_done = first_step
    for step in path:
        created = step["created"] if step.get("created") is not None else step["start"]
        ready = step["ready"] if step.get("ready") is not None else created
        parts["between_steps"] += step["start"] - previous_done
        parts["provider_calls"] += (created - step["start"]) + (ready - created - step["wait"])
        parts["readiness"] += step["wait"]
        parts["waits_outlasting_readiness"] += step["done"] - ready
        previous_done = step["done"]
    parts["after_last_step"] = opened - previous_done
    parts["harness"] = total - opened
    return {key: round(value, 1) for key, value in parts.items()}
