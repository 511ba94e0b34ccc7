"""TlsMirror: an environment's copies of certificates issued once in the ops stack.

Reads the ops stack's `tlsCertificates` output through a StackReference, with this stack's own
credentials. Every value is checked when it arrives, before anything is written: a certificate the
source lost, one that expired or one whose key does not match fails the update, so an existing
mirror is never blanked or replaced with something broken.

In mode `stack` belen writes the copies; in mode `continuous` ESO pulls them from ops
(components/tls_continuous.py). Both write the same Secrets and keep them when they leave the
program, so a switch between modes never leaves a namespace without its Secret.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.crypto import tls_bundle
from components.errors import ValueCheckError
from components.external_secrets import ExternalSecrets
from components.metadata import MANAGED_BY
from components.settings.tls import TlsMirrorSettings
from components.tls_continuous import TlsContinuousSync, TlsContinuousSyncArgs


@dataclass(frozen=True)
class TlsMirrorArgs:
    settings: TlsMirrorSettings
    environment: str
    operator: ExternalSecrets | None = None  # required in mode continuous (a settings check)


class TlsMirror(pulumi.ComponentResource):
    def __init__(self, name: str, args: TlsMirrorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:TlsMirror", name, None, opts)
        settings = args.settings
        source = pulumi.StackReference(f"{name}-source", stack_name=settings.from_stack,
                                       opts=pulumi.ResourceOptions(parent=self))
        checked = source.get_output("tlsCertificates").apply(
            lambda published: check_published(published, settings, args.environment))

        namespaces: dict[str, k8s.core.v1.Namespace] = {}
        if settings.create_namespaces:
            for namespace in sorted({ns for cert in settings.certificates for ns in cert.namespaces}):
                namespaces[namespace] = k8s.core.v1.Namespace(
                    f"{name}-{namespace}",
                    metadata={"name": namespace, "labels": MANAGED_BY},
                    # Apps deployed by Flux live in these namespaces: never delete them with the stack.
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )

        mirrored: dict[str, Any] = {}
        annotations: dict[str, pulumi.Output[dict[str, str]]] = {}
        for cert in settings.certificates:
            # Public facts about the certificate; only the key material stays secret. One Output for the
            # annotations, shared by every copy: copies cost little more than plain Secrets.
            facts = pulumi.Output.unsecret(checked.apply(
                lambda bundles, n=cert.name: {"notAfter": bundles[n].not_after, "fingerprint": bundles[n].fingerprint}))
            annotations[cert.name] = facts.apply(lambda f: {"belen.io/source-stack": settings.from_stack,
                                                            "belen.io/not-after": f["notAfter"],
                                                            "belen.io/fingerprint": f["fingerprint"]})
            mirrored[cert.name] = facts.apply(lambda f, c=cert: {**f, "namespaces": list(c.namespaces)})

        self.exports: dict[str, pulumi.Input] = {"tlsMirrored": mirrored}
        # Apps' Ingresses reference these Secrets: Flux starts after them (in continuous mode, after their first sync).
        self.ready: list[pulumi.Resource]
        if settings.mode == "continuous":
            assert args.operator, "mode continuous without belen:externalSecrets passed the settings checks"
            self.ready = TlsContinuousSync(f"{name}-continuous", TlsContinuousSyncArgs(
                settings, args.environment, source, checked, annotations, namespaces, args.operator,
            ), pulumi.ResourceOptions(parent=self)).ready
        else:
            self.ready = self._copies(name, settings, checked, annotations, namespaces)
        self.register_outputs(self.exports)

    def _copies(self, name: str, settings: TlsMirrorSettings, checked: pulumi.Output[dict[str, tls_bundle.TlsBundle]],
                annotations: dict[str, pulumi.Output[dict[str, str]]],
                namespaces: dict[str, k8s.core.v1.Namespace]) -> list[pulumi.Resource]:
        """Stack mode: the copies, written from the published bundles (one data Output per certificate)."""
        secrets: list[pulumi.Resource] = []
        for cert in settings.certificates:
            data = pulumi.Output.secret(checked.apply(lambda bundles, n=cert.name: _secret_data(bundles[n])))
            for namespace in cert.namespaces:
                secrets.append(k8s.core.v1.Secret(
                    f"{name}-{cert.name}-{namespace}",
                    metadata={
                        "name": cert.secret_name,
                        "namespace": namespace,
                        "labels": {**MANAGED_BY, "belen.io/certificate": cert.name},
                        "annotations": annotations[cert.name],
                    },
                    type="kubernetes.io/tls",
                    data=data,
                    # Apps use it: leaving the program (a switch to continuous mode, a namespace or a
                    # certificate removed, a destroy) leaves it in the cluster, where ESO can adopt it.
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True,
                                                depends_on=[namespaces[namespace]] if namespace in namespaces else []),
                ))
        return secrets


def _secret_data(bundle: tls_bundle.TlsBundle) -> dict[str, str]:
    files = {"tls.crt": bundle.cert, "tls.key": bundle.key, **({"ca.crt": bundle.ca} if bundle.ca else {})}
    return {key: base64.b64encode(text.encode()).decode() for key, text in files.items()}


def check_published(
    published: Any, settings: TlsMirrorSettings, environment: str, now: dt.datetime | None = None
) -> dict[str, tls_bundle.TlsBundle]:
    """Every configured certificate, checked; one error listing every problem, else warnings for those expiring soon."""
    now = now or dt.datetime.now(dt.timezone.utc)
    published = published if isinstance(published, dict) else {}
    source = settings.from_stack
    problems, bundles = [], {}
    for cert in settings.certificates:
        where = f"belen:tls.mirror.certificates.{cert.name}"
        if cert.name not in published:
            problems.append(f"{where}: not published by {source} — add it to belen:tls.publish there and run "
                            f"`pulumi up` on {source}; the mirrors already in the cluster are left as they are")
            continue
        try:
            bundle = tls_bundle.from_published(published[cert.name])
        except tls_bundle.BundleError as exc:
            problems.append(f"{where}: the copy published by {source} is unusable: {exc} — check the Certificate in {source}")
            continue
        expires = tls_bundle.not_after(bundle)
        if expires <= now:
            problems.append(f"{where}: the certificate published by {source} expired on {bundle.not_after} — "
                            f"check why cert-manager in {source} did not renew it")
            continue
        days_left = (expires - now).days
        if days_left < settings.warn_days:
            pulumi.log.warn(f"TLS certificate {cert.name} for environment {environment} expires in {days_left} days "
                            f"({bundle.not_after}); cert-manager in {source} should renew it — run `pulumi up` on "
                            f"{source}, then here")
        bundles[cert.name] = bundle
    if problems:
        raise ValueCheckError(problems)
    return bundles
