"""TlsContinuousSync: an environment's certificates pulled from ops by ESO, continuously.

Part of TlsMirror in `belen:tls.mirror.mode: continuous`. From the ops stack's `tlsReaders` output
this environment's entry gives the ops API server, its CA, the namespace and a token that can `get`
exactly this environment's certificate Secrets there (components/tls_readers.py). Here they become a
Secret holding the token, a ClusterSecretStore (ESO's `kubernetes` provider) usable only from the
mirror's namespaces, and per certificate and namespace an ExternalSecret writing the same
`kubernetes.io/tls` Secret stack mode writes. Each is awaited Ready: `pulumi up` confirms the first sync.

The ExternalSecrets own no Secret (`creationPolicy: Orphan`): deleting one, e.g. when switching back
to stack mode, never takes the Secret apps use with it (docs/tls-distribution.md "Switching TLS mirror modes").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s

from components.crypto import pem, tls_bundle
from components.errors import ValueCheckError
from components.external_secrets import API_VERSION, ExternalSecrets, provider_spec
from components.metadata import MANAGED_BY, await_ready
from components.settings.eso_providers import KubernetesProvider
from components.settings.tls import TlsMirrorSettings
from components.settings.tls_readers import CONTINUOUS_STORE

TOKEN_SECRET = f"{CONTINUOUS_STORE}-token"
READY_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Reader:
    """This environment's entry of ops' `tlsReaders`, checked."""

    server: str
    ca_bundle: str  # PEM
    namespace: str  # in ops, where the certificates' Secrets are
    secrets: Mapping[str, str]  # certificate name → its Secret's name in that namespace
    token: str = field(repr=False)


@dataclass(frozen=True)
class TlsContinuousSyncArgs:
    settings: TlsMirrorSettings
    environment: str
    source: pulumi.StackReference  # the ops stack
    bundles: pulumi.Output[dict[str, tls_bundle.TlsBundle]]  # what ops published, checked (ca.crt or not)
    annotations: Mapping[str, pulumi.Output[dict[str, str]]]  # certificate name → its Secrets' annotations
    namespaces: Mapping[str, pulumi.Resource]  # the namespaces belen created
    operator: ExternalSecrets


class TlsContinuousSync(pulumi.ComponentResource):
    def __init__(self, name: str, args: TlsContinuousSyncArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:TlsContinuousSync", name, None, opts)
        settings = args.settings
        reader = args.source.get_output("tlsReaders").apply(
            lambda readers: check_reader(readers, settings, args.environment))
        token = k8s.core.v1.Secret(
            f"{name}-token",
            metadata={"name": TOKEN_SECRET, "namespace": args.operator.namespace, "labels": MANAGED_BY},
            type="Opaque",
            string_data=pulumi.Output.secret(reader.apply(lambda r: {"token": r.token})),
            # The release comes after the operator's namespace, which holds this Secret.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.operator.release]),
        )
        # Where and what to read is no secret; only the token is.
        access = pulumi.Output.unsecret(reader.apply(lambda r: {
            "server": r.server, "caBundle": r.ca_bundle, "namespace": r.namespace, "secrets": dict(r.secrets)}))
        namespaces = sorted({ns for cert in settings.certificates for ns in cert.namespaces})
        store = k8s.apiextensions.CustomResource(
            f"{name}-store",
            api_version=API_VERSION,
            kind="ClusterSecretStore",
            metadata={"name": CONTINUOUS_STORE, "labels": MANAGED_BY, "annotations": await_ready(READY_TIMEOUT_SECONDS)},
            spec=access.apply(lambda a: store_spec(a, args.operator.namespace, namespaces)),
            # After the awaited release: its CRDs and webhook serve. A wrong CA or token leaves the store
            # Ready (ESO cannot check them); the ExternalSecrets below, awaited too, catch it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.operator.release, token]),
        )
        has_ca = pulumi.Output.unsecret(args.bundles.apply(lambda bundles: {n: bool(b.ca) for n, b in bundles.items()}))
        self.ready: list[pulumi.Resource] = []
        for cert in settings.certificates:
            spec = pulumi.Output.all(access, has_ca, args.annotations[cert.name]).apply(
                lambda values, c=cert: external_secret_spec(
                    c.name, c.secret_name, values[0]["secrets"][c.name], values[1][c.name], values[2],
                    settings.refresh_interval))
            for namespace in cert.namespaces:
                depends_on = [store, *([args.namespaces[namespace]] if namespace in args.namespaces else [])]
                self.ready.append(k8s.apiextensions.CustomResource(
                    f"{name}-{cert.name}-{namespace}",
                    api_version=API_VERSION,
                    kind="ExternalSecret",
                    metadata={"name": cert.secret_name, "namespace": namespace,
                              "labels": {**MANAGED_BY, "belen.io/certificate": cert.name},
                              "annotations": await_ready(READY_TIMEOUT_SECONDS)},
                    spec=spec,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
                ))
        self.register_outputs({})


def store_spec(access: Mapping[str, Any], operator_namespace: str, namespaces: list[str]) -> dict[str, Any]:
    """ESO's `kubernetes` provider with token auth against ops, usable from the mirror's namespaces only."""
    config = KubernetesProvider(access["server"], access["caBundle"], access["namespace"], "token")
    ref = lambda key: {"name": TOKEN_SECRET, "namespace": operator_namespace, "key": key}  # noqa: E731
    return {"provider": {"kubernetes": provider_spec(config, ref, ["token"])},
            "conditions": [{"namespaces": namespaces}]}


def external_secret_spec(certificate: str, secret_name: str, remote_secret: str, with_ca: bool,
                         annotations: Mapping[str, str], refresh_interval: str) -> dict[str, Any]:
    """A `kubernetes.io/tls` Secret like stack mode's copy, its keys read from ops' Secret one by one."""
    keys = ["tls.crt", "tls.key", *(["ca.crt"] if with_ca else [])]
    return {
        "refreshInterval": refresh_interval,
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": CONTINUOUS_STORE},
        "target": {
            "name": secret_name,
            # No ownerReference: deleting the ExternalSecret (a switch to stack mode) leaves the Secret.
            "creationPolicy": "Orphan",
            # Keep the last synced Secret when ops' copy is gone (the ExternalSecret reports the error).
            "deletionPolicy": "Retain",
            "template": {
                "type": "kubernetes.io/tls",
                "engineVersion": "v2",
                "metadata": {"labels": {**MANAGED_BY, "belen.io/certificate": certificate},
                             "annotations": dict(annotations)},
            },
        },
        "data": [{"secretKey": key, "remoteRef": {"key": remote_secret, "property": key}} for key in keys],
    }


def check_reader(readers: Any, settings: TlsMirrorSettings, environment: str) -> Reader:
    """This environment's reader from ops' `tlsReaders`; one error listing every problem."""
    source = settings.from_stack
    entry = readers.get(environment) if isinstance(readers, dict) else None
    if not isinstance(entry, dict):
        raise ValueCheckError([
            f"belen:tls.mirror.mode: continuous, but {source} grants environment {environment} no reader (its "
            f"tlsReaders output has no entry {environment}) — add `{environment}: [certificates]` to "
            f"belen:tls.readers there and run `pulumi up` on {source}, or use mode stack"])
    problems = [f"belen:tls.mirror.fromStack: {source}'s tlsReaders.{environment}.{key} {problem} — run `pulumi up` "
                f"on {source} with this version of belen" for key, problem in _entry_problems(entry)]
    secrets = entry.get("secrets") if isinstance(entry.get("secrets"), dict) else None
    for cert in settings.certificates if secrets is not None else ():
        if cert.name not in secrets:
            problems.append(f"belen:tls.mirror.certificates.{cert.name}: {source} does not let environment "
                            f"{environment} read it — add it to belen:tls.readers.{environment} there and run "
                            f"`pulumi up` on {source}")
    if problems:
        raise ValueCheckError(problems)
    return Reader(entry["server"], entry["caBundle"], entry["namespace"], dict(secrets), entry["token"])


def _entry_problems(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with a reader entry's fields (never their values: the token is secret)."""
    problems = []
    for key in ("server", "caBundle", "namespace", "token"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            problems.append((key, "is missing"))
    if not problems and urlparse(entry["server"]).scheme != "https":
        problems.append(("server", "is not an https URL"))
    if not problems:
        try:
            pem.load_certificates(entry["caBundle"])
        except pem.PemError as exc:
            problems.append(("caBundle", str(exc)))
    if not isinstance(entry.get("secrets"), dict):
        problems.append(("secrets", "is missing"))
    return problems
