"""TlsPublisher (ops): export issued certificates as stack outputs for the environments to mirror.

Replaces a CronJob that copied Secrets with a kubeconfig for every cluster: ops publishes, and each
environment pulls what it needs with its own credentials (see components/tls_mirror.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.crypto import tls_bundle
from components.errors import ValueCheckError
from components.settings.cert_manager import CertificateSettings


@dataclass(frozen=True)
class TlsPublisherArgs:
    certificates: Sequence[CertificateSettings]  # the ones listed in belen:tls.publish
    issued: Mapping[str, pulumi.Resource]  # certificate name → its awaited Certificate


class TlsPublisher(pulumi.ComponentResource):
    def __init__(self, name: str, args: TlsPublisherArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:TlsPublisher", name, None, opts)
        bundles: dict[str, pulumi.Output[tls_bundle.TlsBundle]] = {}
        for cert in args.certificates:
            # Read only after that very Certificate is Ready, so the Secret holds what cert-manager issued.
            issued = k8s.core.v1.Secret.get(
                f"{name}-{cert.name}",
                f"{cert.namespace}/{cert.secret_name}",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.issued[cert.name]]),
            )
            bundles[cert.name] = issued.data.apply(lambda data, c=cert: _bundle(c, data))
        everything = pulumi.Output.all(**bundles) if bundles else pulumi.Output.from_input({})
        self.exports: dict[str, pulumi.Input] = {
            "tlsCertificates": pulumi.Output.secret(everything.apply(
                lambda found: {n: b.published() for n, b in sorted(found.items())})),
            "tlsExpiry": pulumi.Output.unsecret(everything.apply(
                lambda found: {n: b.not_after for n, b in sorted(found.items())})),
        }
        self.ready: list[pulumi.Resource] = []
        self.register_outputs(self.exports)


def _bundle(cert: CertificateSettings, data: dict[str, str] | None) -> tls_bundle.TlsBundle:
    try:
        return tls_bundle.from_secret_data(data)
    except tls_bundle.BundleError as exc:
        raise ValueCheckError([f"belen:tls.publish: {cert.name}: Secret {cert.namespace}/{cert.secret_name}: {exc} — "
                               f"check the Certificate with `kubectl describe certificate -n {cert.namespace} {cert.name}`"]) from None
