"""The five areas of a status, each a pure function of what the cluster answered (`kube.Snapshot`) and
what the stack says it should hold (`stack.Expected`): a problem makes the platform not whole, a
warning does not (a certificate expiring soon, Flux about to apply a newer revision)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from components.crypto import pem, sealing
from tools.status.kube import Snapshot
from tools.status.stack import Expected

AREAS = ("sealing keys", "SealedSecrets", "ExternalSecrets", "cert-manager", "Flux")
SEALED_SECRETS_MANAGED = ("sealedsecrets.bitnami.com/managed", "sealedsecrets.bitnami.com/patch")
MIRROR_LABEL = "belen.io/certificate"
FLUX_NAMESPACE, FLUX_INSTANCE = "flux-system", "flux"
# ESO refreshes an ExternalSecret when its interval has passed, through a work queue: this much later is on time.
REFRESH_GRACE = 0.1
REFRESH_GRACE_MIN = dt.timedelta(seconds=30)


@dataclass
class Area:
    name: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: str = ""  # what was checked, when all is well

    def to_json(self) -> dict[str, Any]:
        return {"area": self.name, "whole": not self.problems, "problems": self.problems,
                "warnings": self.warnings, "summary": self.summary}


def check_all(snapshot: Snapshot, expected: Expected, now: dt.datetime, expiry_days: int) -> list[Area]:
    return [sealing_keys(snapshot, expected), sealed_secrets(snapshot), external_secrets(snapshot, expected, now),
            cert_manager(snapshot, expected, now, expiry_days), flux(snapshot, expected)]


# --- helpers -------------------------------------------------------------------------------------

def ref(kind: str, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind} {meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else f"{kind} {meta.get('name')}"


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def not_ready(kind: str, obj: dict[str, Any], type_: str = "Ready") -> str | None:
    """`<kind> <ns/name>: not Ready — <reason>: <message>`, or None when the condition is True."""
    found = condition(obj, type_)
    if found.get("status") == "True":
        return None
    if not found:
        return f"{ref(kind, obj)}: no {type_} condition yet — its controller has not reconciled it"
    why = ": ".join(part for part in (found.get("reason"), " ".join(str(found.get("message") or "").split())) if part)
    return f"{ref(kind, obj)}: not {type_}" + (f" — {why}" if why else "")


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> dt.timedelta | None:
    """A Go duration (`1h30m`, `10s`, `0`) as Kubernetes controllers read it; None when it is not one."""
    if text in ("0", ""):
        return dt.timedelta(0)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return dt.timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def leaf_certificate(secret: dict[str, Any]) -> Any | None:
    """The first certificate of a Secret's tls.crt; None when it holds none."""
    value = (secret.get("data") or {}).get("tls.crt")
    try:
        return pem.load_certificates(base64.b64decode(value or "", validate=True).decode())[0]
    except (binascii.Error, UnicodeDecodeError, ValueError, IndexError, pem.PemError):
        return None


def not_served(area: Area, api: str, expected: bool, what: str) -> Area:
    if expected:
        area.problems.append(f"the {api} API is not served — {what} is missing from the cluster: run `pulumi up`")
    else:
        area.summary = "not installed by this stack"
    return area


# --- 1. sealing keys ------------------------------------------------------------------------------

def sealing_keys(snapshot: Snapshot, expected: Expected) -> Area:
    area = Area("sealing keys")
    active: dict[str, str] = {}
    present: dict[str, str] = {}  # any key Secret, whatever its label's value
    for secret in snapshot.items("sealingKeys"):
        cert = leaf_certificate(secret)
        where = ref("Secret", secret)
        if cert is None:
            area.problems.append(f"{where}: labelled a sealing key, but its tls.crt holds no certificate")
            continue
        fingerprint = pem.public_key_fingerprint(cert.public_key())
        present[fingerprint] = where
        if (secret["metadata"].get("labels") or {}).get(sealing.KEY_LABEL) == "active":
            active[fingerprint] = where
    for fingerprint in expected.fingerprints:
        if fingerprint not in active:
            area.problems.append(f"key {fingerprint}: in the stack's state but not an active key in the cluster "
                                 f"(Secret {sealing.secret_name_of(fingerprint)}) — run `pulumi up`, which restores it")
    for fingerprint, where in sorted(active.items()):
        if fingerprint not in expected.fingerprints and fingerprint not in expected.retired:
            area.problems.append(f"key {fingerprint}: an extra active key the stack's state does not list ({where}) — "
                                 f"the controller seals new secrets with the newest key: back it up, then find out "
                                 f"who made it (belen did not; is key renewal on?)")
    for fingerprint in expected.retired:
        if fingerprint in present:
            area.problems.append(f"key {fingerprint}: retired by the stack but still present ({present[fingerprint]}) "
                                 f"— run `pulumi up`, which deletes it")
    area.summary = f"{len(active)} active key(s), exactly the stack's"
    return area


# --- 2. SealedSecrets ----------------------------------------------------------------------------

def sealed_secrets(snapshot: Snapshot) -> Area:
    area = Area("SealedSecrets")
    if not snapshot.served("sealedSecrets"):
        return not_served(area, "bitnami.com/v1alpha1", True, "the sealed-secrets release")
    secrets = {(m.get("namespace"), m.get("name")): m
               for m in (s.get("metadata") or {} for s in snapshot.items("secretMetadata"))}
    items = snapshot.items("sealedSecrets")
    for sealed in items:
        meta = sealed["metadata"]
        problem = not_ready("SealedSecret", sealed, "Synced")
        if problem is None and (sealed.get("status") or {}).get("observedGeneration", 0) < meta.get("generation", 0):
            problem = f"{ref('SealedSecret', sealed)}: not synced at its latest generation yet"
        if problem is None:
            name = ((((sealed.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("name")
                    or meta["name"])
            problem = _generated_secret_problem(sealed, secrets.get((meta.get("namespace"), name)), name)
        if problem:
            area.problems.append(problem)
    area.summary = f"{len(items)} synced, each Secret owned by its SealedSecret"
    return area


def _generated_secret_problem(sealed: dict[str, Any], secret: dict[str, Any] | None, name: str) -> str | None:
    if secret is None:
        return f"{ref('SealedSecret', sealed)}: synced, but its Secret {name} is missing"
    owned = any(o.get("kind") == "SealedSecret" and o.get("uid") == sealed["metadata"].get("uid") and o.get("controller")
                for o in secret.get("ownerReferences") or [])
    if owned or any((secret.get("annotations") or {}).get(a) == "true" for a in SEALED_SECRETS_MANAGED):
        return None
    return (f"{ref('SealedSecret', sealed)}: its Secret {name} is not owned by it, so the controller does not update "
            f"it — delete that Secret (the controller writes it again) or annotate it "
            f"sealedsecrets.bitnami.com/managed=true")


# --- 3. ExternalSecrets and stores ---------------------------------------------------------------

def external_secrets(snapshot: Snapshot, expected: Expected, now: dt.datetime) -> Area:
    area = Area("ExternalSecrets")
    if not snapshot.served("externalSecrets"):
        return not_served(area, "external-secrets.io/v1", bool(expected.stores), "the external-secrets release")
    stores = snapshot.items("clusterSecretStores")
    names = {s["metadata"]["name"] for s in stores}
    area.problems += [f"ClusterSecretStore {name}: in the stack's outputs but not in the cluster — run `pulumi up`"
                      for name in expected.stores if name not in names]
    area.problems += [p for p in (not_ready("ClusterSecretStore", s) for s in stores) if p]
    items = snapshot.items("externalSecrets")
    for external in items:
        problem = not_ready("ExternalSecret", external) or _stale(external, now)
        if problem:
            area.problems.append(problem)
    area.summary = f"{len(stores)} ClusterSecretStore(s) Ready; {len(items)} ExternalSecret(s) Ready and synced in time"
    return area


def _stale(external: dict[str, Any], now: dt.datetime) -> str | None:
    spec = external.get("spec") or {}
    if spec.get("refreshPolicy") in ("CreatedOnce", "OnChange"):
        return None
    interval_text = str(spec.get("refreshInterval") or "1h")
    interval = parse_duration(interval_text)
    if not interval:  # 0: synced once, never refreshed; unparsable: ESO refuses it (not Ready)
        return None
    synced = parse_time((external.get("status") or {}).get("refreshTime"))
    if synced is None:
        return f"{ref('ExternalSecret', external)}: Ready, but never synced (no status.refreshTime)"
    age = now - synced
    if age > interval + max(interval * REFRESH_GRACE, REFRESH_GRACE_MIN):
        return (f"{ref('ExternalSecret', external)}: last synced {_human(age)} ago, longer than its refreshInterval "
                f"{interval_text} — is the external-secrets controller running?")
    return None


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    unit, size = next(((u, n) for u, n in (("d", 86400), ("h", 3600), ("m", 60)) if seconds >= n), ("s", 1))
    return f"{seconds // size}{unit}"


# --- 4. cert-manager ------------------------------------------------------------------------------

def cert_manager(snapshot: Snapshot, expected: Expected, now: dt.datetime, expiry_days: int) -> Area:
    area = Area("cert-manager")
    if not snapshot.served("certificates"):
        return not_served(area, "cert-manager.io/v1", bool(expected.issuers or expected.certificates),
                          "the cert-manager release")
    issuers = snapshot.items("clusterIssuers")
    issuer_names = {i["metadata"]["name"] for i in issuers}
    namespaced = {(i["metadata"].get("namespace"), i["metadata"]["name"]) for i in snapshot.items("issuers")}
    area.problems += [f"ClusterIssuer {name}: in the stack's outputs but not in the cluster — run `pulumi up`"
                      for name in expected.issuers if name not in issuer_names]
    area.problems += [p for p in (not_ready("ClusterIssuer", i) for i in issuers) if p]
    certificates = snapshot.items("certificates")
    present = {(c["metadata"].get("namespace"), c["metadata"]["name"]) for c in certificates}
    area.problems += [f"Certificate {c.get('namespace')}/{name}: in the stack's outputs but not in the cluster — run "
                      f"`pulumi up`" for name, c in expected.certificates.items()
                      if (c.get("namespace"), name) not in present]
    soonest: tuple[int, str] | None = None
    for certificate in certificates:
        problem = _missing_issuer(certificate, issuer_names, namespaced) or not_ready("Certificate", certificate)
        if problem:
            area.problems.append(problem)
            continue
        expires = parse_time((certificate.get("status") or {}).get("notAfter"))
        if expires is None:
            continue
        days = (expires - now).days
        where = ref("Certificate", certificate)
        if expires <= now:
            area.problems.append(f"{where}: expired on {pem.rfc3339(expires)} — check its issuer and cert-manager's log")
        elif days < expiry_days:
            area.warnings.append(f"{where}: expires in {days} day(s), on {pem.rfc3339(expires)} (under --expiry-days "
                                 f"{expiry_days}) — cert-manager should have renewed it: check its issuer")
        if soonest is None or days < soonest[0]:
            soonest = (days, where.removeprefix("Certificate "))
    mirrors = tls_mirrors(snapshot, expected, area)
    area.summary = (f"{len(issuers)} ClusterIssuer(s) Ready; {len(certificates)} Certificate(s) Ready"
                    + (f" (the first expires in {soonest[0]} days: {soonest[1]})" if soonest else "")
                    + (f"; {mirrors} TLS mirror copies hold their source's certificate" if expected.mirrored else ""))
    return area


def _missing_issuer(certificate: dict[str, Any], cluster_issuers: set[str], issuers: set[tuple]) -> str | None:
    issuer = (certificate.get("spec") or {}).get("issuerRef") or {}
    if issuer.get("group", "cert-manager.io") != "cert-manager.io":
        return None  # an external issuer: its own controller answers for it
    kind, name = issuer.get("kind") or "Issuer", issuer.get("name")
    namespace = certificate["metadata"].get("namespace")
    if (kind == "ClusterIssuer" and name not in cluster_issuers) or (kind == "Issuer" and (namespace, name) not in issuers):
        return (f"{ref('Certificate', certificate)}: names {kind} {name}, which does not exist — nothing issues it "
                f"(create the issuer, or correct spec.issuerRef)")
    return None


def tls_mirrors(snapshot: Snapshot, expected: Expected, area: Area) -> int:
    """Each mirrored certificate's copies, in every namespace the stack mirrors it to, hold the certificate its
    source published (the leaf fingerprint in the stack's tlsMirrored output); in continuous mode, ESO may have
    brought a newer one since, and its ExternalSecret's state answers for it. Returns the copies checked."""
    copies = {(s["metadata"].get("namespace"), (s["metadata"].get("labels") or {}).get(MIRROR_LABEL)): s
              for s in snapshot.items("mirrorCopies")}
    synced = {(e["metadata"].get("namespace"), (e["metadata"].get("labels") or {}).get(MIRROR_LABEL))
              for e in snapshot.items("externalSecrets")}
    checked = 0
    for name, facts in sorted(expected.mirrored.items()):
        for namespace in facts.get("namespaces") or []:
            copy = copies.get((namespace, name))
            where = f"TLS mirror {name} in {namespace}"
            if copy is None:
                area.problems.append(f"{where}: no copy (a Secret labelled {MIRROR_LABEL}={name}) — run `pulumi up`")
                continue
            checked += 1
            cert = leaf_certificate(copy)
            if cert is None:
                area.problems.append(f"{where}: {ref('Secret', copy)} holds no certificate in tls.crt")
            elif pem.certificate_fingerprint(cert) != facts.get("fingerprint") and (namespace, name) not in synced:
                area.problems.append(f"{where}: {ref('Secret', copy)} holds serial {cert.serial_number:x}, not the "
                                     f"certificate its source published (fingerprint {facts.get('fingerprint')}) — "
                                     f"run `pulumi up` here")
    return checked


# --- 5. Flux -------------------------------------------------------------------------------------

def flux(snapshot: Snapshot, expected: Expected) -> Area:
    area = Area("Flux")
    if not snapshot.served("fluxInstances"):
        return not_served(area, "fluxcd.controlplane.io/v1", expected.flux_version is not None, "the Flux Operator")
    instance = next((i for i in snapshot.items("fluxInstances") if i["metadata"].get("name") == FLUX_INSTANCE
                     and i["metadata"].get("namespace") == FLUX_NAMESPACE), None)
    applied = ""
    if instance is None:
        if expected.flux_version is not None:
            area.problems.append(f"FluxInstance {FLUX_NAMESPACE}/{FLUX_INSTANCE}: missing — run `pulumi up`")
    else:
        applied = str((instance.get("status") or {}).get("lastAppliedRevision") or "").split("@")[0]
        asked = str(((instance.get("spec") or {}).get("distribution") or {}).get("version") or "")
        problem = not_ready("FluxInstance", instance)
        if problem is None and expected.flux_version and asked != expected.flux_version:
            problem = (f"{ref('FluxInstance', instance)}: asks for Flux {asked}, the stack sets {expected.flux_version} "
                       f"— run `pulumi up`")
        if problem is None and applied and not version_matches(applied, asked):
            problem = f"{ref('FluxInstance', instance)}: runs Flux {applied}, outside the {asked} it asks for"
        area.problems += [problem] if problem else []
    sources = snapshot.items("gitRepositories")
    area.problems += [p for p in (not_ready("GitRepository", s) for s in sources) if p]
    kustomizations = snapshot.items("kustomizations")
    names = {(k["metadata"].get("namespace"), k["metadata"]["name"]) for k in kustomizations}
    area.problems += [f"Kustomization {FLUX_NAMESPACE}/{name}: in the stack's outputs but not in the cluster — run "
                      f"`pulumi up`" for name in expected.kustomizations if (FLUX_NAMESPACE, name) not in names]
    area.problems += [p for p in (not_ready("Kustomization", k) for k in kustomizations) if p]
    revisions = _applied_revisions(sources, kustomizations, area)
    area.summary = (f"FluxInstance Ready{f' at {applied}' if applied else ''}"
                    f"{f' ({expected.flux_version})' if expected.flux_version else ''}; {len(sources)} "
                    f"GitRepository(ies), {len(kustomizations)} Kustomization(s) Ready"
                    + (f", applied {', '.join(sorted(revisions))}" if revisions else ""))
    return area


def _applied_revisions(sources: list[dict], kustomizations: list[dict], area: Area) -> set[str]:
    """Kustomizations of one source must have applied one revision; a newer one fetched is a warning."""
    fetched = {(s["metadata"].get("namespace"), s["metadata"]["name"]):
               ((s.get("status") or {}).get("artifact") or {}).get("revision") for s in sources}
    by_source: dict[tuple, dict[str, str]] = defaultdict(dict)
    for k in kustomizations:
        source = (k.get("spec") or {}).get("sourceRef") or {}
        if source.get("kind", "GitRepository") != "GitRepository":
            continue
        key = (source.get("namespace") or k["metadata"].get("namespace"), source.get("name"))
        by_source[key][k["metadata"]["name"]] = (k.get("status") or {}).get("lastAppliedRevision") or "nothing"
    applied: set[str] = set()
    for (namespace, name), revisions in sorted(by_source.items()):
        distinct = set(revisions.values())
        applied |= distinct
        if len(distinct) > 1:
            listed = ", ".join(f"{k}: {rev}" for k, rev in sorted(revisions.items()))
            area.problems.append(f"Kustomizations of GitRepository {namespace}/{name} applied different revisions "
                                 f"({listed})")
        elif fetched.get((namespace, name)) and distinct != {fetched[(namespace, name)]}:
            area.warnings.append(f"GitRepository {namespace}/{name} fetched {fetched[(namespace, name)]}; its "
                                 f"Kustomizations applied {distinct.pop()} (they apply it at their next interval)")
    return applied


def version_matches(version: str, constraint: str) -> bool:
    """Whether `v2.9.5` satisfies an exact or wildcard constraint (`2.9.5`, `2.9.x`, `2.x`, `*`); other
    constraint forms (comparisons) are left to the operator, which checked them: True."""
    wanted = constraint.strip().lstrip("=v")
    if not re.fullmatch(r"[\dx*]+(\.[\dx*]+){0,2}", wanted):
        return True
    have = version.lstrip("v").split("-")[0].split(".")
    return all(part in ("x", "*") or (i < len(have) and have[i] == part) for i, part in enumerate(wanted.split(".")))
