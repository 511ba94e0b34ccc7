"""BelenCluster: the whole platform on one cluster, on the stack's one explicit Kubernetes provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.cert_manager import CertManager, CertManagerArgs
from components.external_secrets import ExternalSecrets, ExternalSecretsArgs
from components.flux import Flux, FluxArgs
from components.helm import ChartInstaller
from components.ingress import Ingress, IngressArgs
from components.kept_keys import sealed_secrets_name
from components.sealed_secrets import SealedSecrets, SealedSecretsArgs
from components.settings import Settings
from components.tls_distribution import TlsPublisher, TlsPublisherArgs
from components.tls_mirror import TlsMirror, TlsMirrorArgs
from components.tls_readers import TlsReaders, TlsReadersArgs


@dataclass(frozen=True)
class BelenClusterArgs:
    settings: Settings


class BelenCluster(pulumi.ComponentResource):
    """Composes the platform components.

    Every component is created with `self.child_opts`, so it and its children use the stack's
    provider (never an ambient default provider pointing at whatever kubeconfig is around).
    Components publish `exports` (stack outputs) and `ready` (what apps synced from Git rely on).
    """

    def __init__(self, name: str, args: BelenClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:BelenCluster", name, None, opts)
        settings = args.settings
        cluster = settings.cluster
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(cluster.kubeconfig) if cluster.kubeconfig else None,
            context=cluster.context,
            # The cluster is belen:cluster.name, whatever kubeconfig reaches it: a new kubeconfig for the
            # same cluster (a cluster started anew, rotated credentials) updates the provider in place.
            # Without it the provider plans a replacement whenever the active cluster's kubeconfig entry
            # changes (its CA, its address), and with it every resource on it.
            cluster_identifier=cluster.name,
            # Apps reference belen's Secrets by name (mirrored certificates, store credentials): a new
            # value must update the Secret in place. By default the provider replaces a Secret whose
            # data changes, which for a fixed name means a delete first (a window without it) or,
            # for a retained Secret, a create that collides with the one left behind.
            enable_secret_mutable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.child_opts = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider})
        self.exports: dict[str, pulumi.Input] = {
            "clusterName": cluster.name,
            "environment": cluster.environment,
        }
        # What apps synced from Git rely on: Flux starts only after all of it.
        self.ready: list[pulumi.Resource] = []
        charts = ChartInstaller(settings.charts, settings.images)

        self.sealed_secrets = self._add(SealedSecrets(
            sealed_secrets_name(name), SealedSecretsArgs(settings.sealed_secrets, charts, cluster), self.child_opts))
        self.ingress = self._add(Ingress(f"{name}-ingress", IngressArgs(settings.ingress, charts), self.child_opts))
        self.external_secrets: ExternalSecrets | None = None
        if settings.external_secrets:
            self.external_secrets = self._add(ExternalSecrets(
                f"{name}-external-secrets", ExternalSecretsArgs(settings.external_secrets, charts), self.child_opts))
        if settings.cert_manager:
            self.cert_manager = self._add(CertManager(
                f"{name}-cert-manager",
                CertManagerArgs(settings.cert_manager, charts, http01_dependencies=self.ingress.ready), self.child_opts))
        if settings.tls and settings.tls.publish and settings.cert_manager:
            published = [c for c in settings.cert_manager.certificates if c.name in settings.tls.publish]
            self.tls_publisher = self._add(TlsPublisher(
                f"{name}-tls-publisher", TlsPublisherArgs(published, self.cert_manager.certificates), self.child_opts))
            if settings.tls.readers and settings.tls.api_server:
                self.tls_readers = self._add(TlsReaders(f"{name}-tls-readers", TlsReadersArgs(
                    settings.tls.readers, settings.tls.api_server, {c.name: c for c in published},
                    self.cert_manager.certificates), self.child_opts))
        if settings.tls and settings.tls.mirror:
            self.tls_mirror = self._add(TlsMirror(f"{name}-tls-mirror", TlsMirrorArgs(
                settings.tls.mirror, cluster.environment, self.external_secrets), self.child_opts))
        # Flux comes last: it starts syncing apps only once everything above is ready.
        if settings.flux:
            self.flux = self._add(Flux(f"{name}-flux", FluxArgs(
                settings.flux, cluster.name, cluster.environment, charts, platform=list(self.ready)), self.child_opts))

        # What each installed chart came from: chart key → {chart, version, source}.
        self.exports["charts"] = charts.installed
        self.register_outputs(self.exports)

    def _add(self, component):
        self.exports.update(component.exports)
        self.ready.extend(component.ready)
        return component
