"""The checks: every object Flux applies, against what belen's platform and the repository hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from components.crypto import pem, sealing
from components.settings.constants import BUILT_IN_NAMESPACES
from tools import keys as key_tools
from tools.preflight.apis import ANY, CLUSTER_SCOPED, CONTROLLER_APIS, NAMESPACED, REMOVED_KUBERNETES_APIS, TRAEFIK_APIS
from tools.preflight.model import CHECK_NAMES, Applied, Finding, Obj
from tools.preflight.platform import Platform

CERT_MANAGER = "cert-manager.io"


class Replica:
    """Every object the replica will hold, belen's and the repository's, found by kind, namespace and name."""

    def __init__(self, objects: list[Obj]):
        crds = [o for o in objects if o.kind == "CustomResourceDefinition"]
        self.cluster_kinds = CLUSTER_SCOPED | {_crd_kind(c) for c in crds if c.spec.get("scope") == "Cluster"}
        # (group, kind) → the versions a CRD in the repository serves.
        self.crd_versions = {(c.spec.get("group"), _crd_kind(c)): [v.get("name") for v in c.spec.get("versions") or []
                                                                    if v.get("served")] for c in crds}
        self.identities = {(o.kind, self.namespace_of(o), o.name) for o in objects}
        self.namespaces = BUILT_IN_NAMESPACES | {o.name for o in objects if o.kind == "Namespace"}

    def namespace_of(self, obj: Obj) -> str:
        return "" if obj.kind in self.cluster_kinds else obj.namespace

    def has(self, kind: str, name: str, namespace: str = "") -> bool:
        return (kind, "" if kind in self.cluster_kinds else namespace, name) in self.identities

    def names(self, kind: str) -> list[str]:
        return sorted(name for k, _, name in self.identities if k == kind)


def _crd_kind(crd: Obj) -> str:
    return str((crd.spec.get("names") or {}).get("kind"))


@dataclass(frozen=True)
class Context:
    replica: Replica
    platform: Platform
    sealing_keys: list[Any] | None  # private keys; None: unknown offline, SealedSecrets are not checked
    retired_keys: list[Any]  # private keys among the given ones that the stack's next up retires


def all_findings(applied: Applied, platform: Platform, sealing_keys: list[Any] | None) -> list[Finding]:
    """The build's findings and every check's, once each (an object two Kustomizations apply fails once), in order.

    Keys the stack retires (belen:sealedSecrets.retireKeys) open nothing after its next up: they are
    set apart, to name the SealedSecrets that only they open.
    """
    retired = [k for k in sealing_keys or [] if _fingerprint(k) in platform.retired]
    active = None if sealing_keys is None else [k for k in sealing_keys if _fingerprint(k) not in platform.retired]
    context = Context(Replica([*platform.objects, *applied.objects]), platform, active, retired)
    found = {*applied.findings, *(f for obj in applied.objects for check in CHECKS for f in check(obj, context))}
    return sorted(found, key=lambda f: (f.file, f.kind, f.namespace, f.name, CHECK_NAMES.index(f.check), f.problem))


def sealed_secrets(obj: Obj, context: Context) -> Iterator[Finding]:
    """1. It opens with the keys, under its scope, as the namespace/name it has after targetNamespace."""
    if obj.kind != "SealedSecret" or context.sealing_keys is None:
        return
    scope = sealing.scope_of(obj.meta.get("annotations"))
    if not obj.namespace and scope != "cluster-wide":
        return  # the namespace check reports it
    result = key_tools.verify_one(obj.file, obj.doc, context.sealing_keys)
    if not result.failed:
        return
    if obj.moved_from and not key_tools.verify_one(obj.file, _in(obj, obj.moved_from), context.sealing_keys).failed:
        yield Finding.of("sealed-secrets", obj, f"is sealed ({scope}) for namespace {obj.moved_from}, but targetNamespace "
                         f"of Kustomization {obj.applied_by.ref} puts it in {obj.namespace}, where it never opens",
                         f"seal it again for namespace {obj.namespace} (or cluster-wide), or apply it without that "
                         f"targetNamespace")
        return
    total = result.opened + len(result.failed)
    retirees = _retired_openers(obj, context)
    if retirees:
        yield Finding.of("retired-keys", obj, f"{len(result.failed)} of {total} item(s) open only with key "
                         f"{', '.join(retirees)}, which belen:sealedSecrets.retireKeys retires: the stack's next "
                         f"`pulumi up` deletes it and strands them",
                         "re-seal it to the stack's sealingCertificate (python -m tools.keys reseal) and let Flux apply "
                         "it before that up, or remove the key from retireKeys")
        return
    yield Finding.of("sealed-secrets", obj, f"{len(result.failed)} of {total} item(s) do not open with the stack's "
                     f"sealing keys ({scope} scope)",
                     "seal it again with the stack's certificate (pulumi stack output sealingCertificate), "
                     "or pass the key that sealed it with --keys")


def _retired_openers(obj: Obj, context: Context) -> list[str]:
    """The retired keys (fingerprints, shortened) that open what the active keys do not, when together they open it all."""
    if not context.retired_keys or key_tools.verify_one(
            obj.file, obj.doc, [*context.sealing_keys, *context.retired_keys]).failed:
        return []
    return [_fingerprint(key)[:16] for key in context.retired_keys
            if key_tools.verify_one(obj.file, obj.doc, [key]).opened]


def _fingerprint(private_key: Any) -> str:
    return pem.public_key_fingerprint(private_key.public_key())


def _in(obj: Obj, namespace: str) -> dict[str, Any]:
    return {**obj.doc, "metadata": {**obj.meta, "namespace": namespace}}


def secret_stores(obj: Obj, context: Context) -> Iterator[Finding]:
    """2. Its store exists: a ClusterSecretStore belen creates or one in the repo, a SecretStore in its namespace."""
    if obj.kind != "ExternalSecret" or obj.group != "external-secrets.io":
        return
    items = [*(obj.spec.get("data") or []), *(obj.spec.get("dataFrom") or [])]
    refs = [obj.spec.get("secretStoreRef"), *((item.get("sourceRef") or {}).get("storeRef") for item in items)]
    for ref in [r for r in refs if isinstance(r, dict) and r.get("name")]:
        name = ref["name"]
        if ref.get("kind") == "ClusterSecretStore" and not context.replica.has("ClusterSecretStore", name):
            known = ", ".join(context.replica.names("ClusterSecretStore")) or "none"
            yield Finding.of("secret-stores", obj, f"ClusterSecretStore {name} does not exist on the cluster "
                             f"(its stores: {known})", "add it to belen:externalSecrets.stores, or use one of its stores")
        elif ref.get("kind", "SecretStore") == "SecretStore" and not context.replica.has("SecretStore", name, obj.namespace):
            yield Finding.of("secret-stores", obj, f"SecretStore {obj.namespace}/{name} is not in the repository",
                             f"add that SecretStore to namespace {obj.namespace}, or use a ClusterSecretStore")


def issuers(obj: Obj, context: Context) -> Iterator[Finding]:
    """3. A Certificate's issuerRef, an Ingress's cert-manager annotation, names an issuer that will exist."""
    for where, kind, name in _issuer_refs(obj):
        namespace = "" if kind == "ClusterIssuer" else obj.namespace
        if context.replica.has(kind, name, namespace):
            continue
        if kind == "ClusterIssuer":
            known = ", ".join(context.replica.names("ClusterIssuer")) or "none"
            yield Finding.of("issuers", obj, f"{where} names ClusterIssuer {name}, which the cluster does not have "
                             f"(its issuers: {known})", "add it to belen:certManager.issuers, or name one of its issuers")
        else:
            yield Finding.of("issuers", obj, f"{where} names Issuer {obj.namespace}/{name}, which is not in the repository",
                             f"add that Issuer to namespace {obj.namespace}, or use a ClusterIssuer")


def _issuer_refs(obj: Obj) -> list[tuple[str, str, str]]:
    """(where, Issuer or ClusterIssuer, name) of the cert-manager issuers an object names."""
    if obj.kind == "Certificate" and obj.group == CERT_MANAGER:
        ref = obj.spec.get("issuerRef") or {}
        if ref.get("group", CERT_MANAGER) != CERT_MANAGER or not ref.get("name"):
            return []  # an external issuer: its own controller
        return [("issuerRef", ref.get("kind") or "Issuer", ref["name"])]
    if obj.kind != "Ingress":
        return []
    annotations = obj.meta.get("annotations") or {}
    if annotations.get("cert-manager.io/issuer-group", CERT_MANAGER) != CERT_MANAGER:
        return []
    found = []
    if annotations.get("cert-manager.io/cluster-issuer"):
        found.append(("annotation cert-manager.io/cluster-issuer", "ClusterIssuer",
                      annotations["cert-manager.io/cluster-issuer"]))
    if annotations.get("cert-manager.io/issuer"):
        kind = annotations.get("cert-manager.io/issuer-kind") or "Issuer"
        found.append(("annotation cert-manager.io/issuer", kind, annotations["cert-manager.io/issuer"]))
    return found


def ingress_classes(obj: Obj, context: Context) -> Iterator[Finding]:
    """4. Its class is served: belen's ingress class (also the default one) or an IngressClass in the repo."""
    if obj.kind != "Ingress":
        return
    name = obj.spec.get("ingressClassName") or (obj.meta.get("annotations") or {}).get("kubernetes.io/ingress.class")
    served = sorted({context.platform.ingress_class, *context.replica.names("IngressClass")})
    if name and name not in served:
        yield Finding.of("ingress-classes", obj, f"ingress class {name} is not served on the cluster "
                         f"(it serves {', '.join(served)})",
                         f"use {context.platform.ingress_class} (belen:ingress.className), or add an IngressClass "
                         f"and its controller to the repository")


def substitutions(obj: Obj, context: Context) -> Iterator[Finding]:
    """5. Every `${var}` without a default has a value from the Kustomization that applies it."""
    kustomization = obj.applied_by
    for name in obj.unsubstituted:
        where = ("belen:flux.substitute" if kustomization.applied_by is None
                 else f"postBuild.substitute of Kustomization {kustomization.ref} ({kustomization.file}) or its "
                      f"substituteFrom")
        yield Finding.of("substitutions", obj, f"${{{name}}} has no value in Kustomization {kustomization.ref}: "
                         f"Flux replaces it with nothing",
                         f"add {name} to {where}, give it a default (${{{name}:=value}}), or escape it ($${{{name}}})")


def flux_references(obj: Obj, context: Context) -> Iterator[Finding]:
    """6. A Flux Kustomization's or HelmRelease's dependsOn, sourceRef and chartRef name what exists."""
    if obj.group == "kustomize.toolkit.fluxcd.io" and obj.kind == "Kustomization":
        refs = [("sourceRef", obj.spec.get("sourceRef"))]
    elif obj.group == "helm.toolkit.fluxcd.io" and obj.kind == "HelmRelease":
        chart = (obj.spec.get("chart") or {}).get("spec") or {}
        refs = [("chart.spec.sourceRef", chart.get("sourceRef")), ("chartRef", obj.spec.get("chartRef"))]
    else:
        return
    refs += [("dependsOn", {"kind": obj.kind, **dep}) for dep in obj.spec.get("dependsOn") or [] if isinstance(dep, dict)]
    for field, ref in refs:
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        namespace = ref.get("namespace") or obj.namespace
        if context.replica.has(str(ref.get("kind")), ref["name"], namespace):
            continue
        todo = "remove it from dependsOn, or add it" if field == "dependsOn" else "add it to the repository, or fix the name"
        yield Finding.of("flux-references", obj, f"{field} names {ref.get('kind')} {namespace}/{ref['name']}, "
                         f"which does not exist", todo)


def api_versions(obj: Obj, context: Context) -> Iterator[Finding]:
    """7. Its apiVersion is served: by a CRD in the repository, by Kubernetes, by the controllers belen installs."""
    version = obj.api_version.rpartition("/")[2]
    crd = context.replica.crd_versions.get((obj.group, obj.kind))
    if crd is not None:
        if version not in crd:
            yield Finding.of("api-versions", obj, f"{obj.api_version} is not served by the CustomResourceDefinition in "
                             f"the repository (it serves {', '.join(crd) or 'none'})", f"use one of those versions")
        return
    removed = REMOVED_KUBERNETES_APIS.get((obj.api_version, obj.kind))
    if removed:
        yield Finding.of("api-versions", obj, f"{obj.api_version} {obj.kind} is no longer served (removed in "
                         f"Kubernetes {removed[0]})", f"use {removed[1]}")
        return
    controllers = {**CONTROLLER_APIS, **(TRAEFIK_APIS if context.platform.ingress_installed else {})}
    if obj.group not in controllers:
        return
    versions, who = controllers[obj.group]
    serving = [v for v, kinds in versions.items() if kinds is ANY or obj.kind in kinds]
    if version not in serving:
        todo = f"use {obj.group}/{serving[0]}" if serving else "remove it, or install its controller from the repository"
        yield Finding.of("api-versions", obj, f"{obj.api_version} {obj.kind} is not served by {who}", todo)


def namespaces(obj: Obj, context: Context) -> Iterator[Finding]:
    """8. Its namespace exists: in the repository, created by belen, or built in."""
    if obj.kind in context.replica.cluster_kinds:
        return
    if not obj.namespace:
        if obj.kind in NAMESPACED:
            yield Finding.of("namespaces", obj, "has no namespace, and no targetNamespace gives it one",
                             f"set metadata.namespace, or targetNamespace on Kustomization {obj.applied_by.ref}")
        return
    if "${" in obj.namespace or obj.namespace in context.replica.namespaces:
        return  # an unsubstituted variable is the substitutions check's
    yield Finding.of("namespaces", obj, f"namespace {obj.namespace} does not exist on the cluster: neither the "
                     f"repository nor belen creates it",
                     f"add a Namespace {obj.namespace} to the repository, or put it in an existing namespace")


CHECKS: tuple[Callable[[Obj, Context], Iterator[Finding]], ...] = (
    sealed_secrets, secret_stores, issuers, ingress_classes, substitutions, flux_references, api_versions, namespaces,
)
