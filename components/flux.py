"""Flux: the controllers, the GitOps source, and the Kustomizations that start syncing last.

How Flux is installed, and why: the Flux Operator (its Helm chart) plus a `FluxInstance` named
`flux`. Flux's maintainers point infrastructure-as-code installs to the operator — it installs and
upgrades the controllers from a declarative spec and never writes to Git, unlike `flux bootstrap` —
while the flux2 community chart is maintained on a best-effort basis. belen does not use the
FluxInstance's own `sync`: it creates the GitRepository and Kustomizations itself, so that they
carry per-cluster `postBuild` substitutions and extra Kustomizations, and above all so that the
Kustomizations depend on every platform piece apps rely on (sealing keys, secret stores, issuers,
ingress); the GitRepository, which only fetches, starts as soon as the FluxInstance is ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.helm import ChartInstaller
from components.images import mirrored
from components.metadata import await_ready
from components.settings.charts import ImagesSettings
from components.settings.flux import MAIN_KUSTOMIZATION, FluxSettings

FLUX_REGISTRY = "ghcr.io/fluxcd"
FLUX_MANIFESTS = "ghcr.io/controlplaneio-fluxcd/flux-operator-manifests"
NAMESPACE = "flux-system"
INSTANCE_NAME = "flux"  # the operator reconciles only a FluxInstance of this name
SOURCE_NAME = "flux-system"
AUTH_SECRET = "flux-system-git-auth"
WEBHOOK_SECRET = "flux-webhook-token"


@dataclass(frozen=True)
class FluxArgs:
    settings: FluxSettings
    cluster_name: str
    environment: str
    charts: ChartInstaller
    # Everything apps in Git rely on; nothing syncs before all of it is ready.
    platform: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Flux(pulumi.ComponentResource):
    def __init__(self, name: str, args: FluxArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:Flux", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": NAMESPACE}, opts=child)
        operator = args.charts.release(
            f"{name}-operator", "fluxOperator", release_name="flux-operator", namespace=NAMESPACE,
            values={"installCRDs": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]), namespace_deps=[namespace],
        )
        instance = k8s.apiextensions.CustomResource(
            f"{name}-instance",
            api_version="fluxcd.controlplane.io/v1",
            kind="FluxInstance",
            metadata={"name": INSTANCE_NAME, "namespace": NAMESPACE, "annotations": await_ready(600)},
            spec={
                "distribution": flux_distribution(settings.version, args.charts.images),
                "components": ["source-controller", "kustomize-controller", "helm-controller",
                               "notification-controller"],
                "cluster": {"type": "kubernetes", "networkPolicy": True, "domain": "cluster.local"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[operator]),
        )
        # The GitRepository only fetches (nothing from Git reaches the cluster before a Kustomization applies
        # it): it starts once its CRD is served, so Flux's first fetch overlaps the platform's waits.
        fetch_after: list[pulumi.Resource] = [instance]

        secret_ref = {}
        if settings.auth is not None:
            auth = k8s.core.v1.Secret(
                f"{name}-git-auth",
                metadata={"name": AUTH_SECRET, "namespace": NAMESPACE},
                string_data=pulumi.Output.secret(settings.auth.secret_data),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
            )
            secret_ref = {"secretRef": {"name": AUTH_SECRET}}
            fetch_after.append(auth)

        source = k8s.apiextensions.CustomResource(
            f"{name}-source",
            api_version="source.toolkit.fluxcd.io/v1",
            kind="GitRepository",
            metadata={"name": SOURCE_NAME, "namespace": NAMESPACE},
            spec={"url": settings.url, "ref": {"branch": settings.branch}, "interval": settings.git_interval, **secret_ref},
            opts=pulumi.ResourceOptions(parent=self, depends_on=fetch_after),
        )
        # Apps reach the cluster only through the Kustomizations: they start after the whole platform.
        start_after = [source, *fetch_after, *args.platform]
        substitute = {**settings.substitute, "cluster_name": args.cluster_name, "environment": args.environment}
        for warning in settings.warnings:
            pulumi.log.warn(warning, resource=source)
        self.kustomizations = [self._kustomization(name, MAIN_KUSTOMIZATION, settings.path, settings.interval, True,
                                                   (), substitute, start_after)]
        for extra in settings.kustomizations:
            self.kustomizations.append(self._kustomization(
                name, extra.name, extra.path, settings.interval, extra.prune, extra.depends_on, substitute,
                start_after))

        self.exports: dict[str, pulumi.Input] = {
            "fluxSource": settings.url,
            "fluxBranch": settings.branch,
            "fluxPath": settings.path,
            "fluxKustomizations": [MAIN_KUSTOMIZATION, *(k.name for k in settings.kustomizations)],
        }
        if settings.receiver:
            self.exports["fluxWebhookToken"] = self._receiver(name, namespace)
        self.ready: list[pulumi.Resource] = []
        self.register_outputs(self.exports)

    def _kustomization(self, name: str, kustomization: str, path: str, interval: str, prune: bool,
                       depends_on: Sequence[str], substitute: dict[str, str],
                       start_after: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
        spec: dict[str, Any] = {
            "interval": interval,
            "path": path,
            "prune": prune,
            "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
            "postBuild": {"substitute": substitute},
        }
        if depends_on:
            spec["dependsOn"] = [{"name": dep} for dep in depends_on]
        return k8s.apiextensions.CustomResource(
            f"{name}-{kustomization}",
            api_version="kustomize.toolkit.fluxcd.io/v1",
            kind="Kustomization",
            metadata={"name": kustomization, "namespace": NAMESPACE},
            spec=spec,
            # Deleting a pruning Kustomization deletes every app it applied (and their volumes):
            # removing belen's config or destroying the stack must leave the apps running.
            opts=pulumi.ResourceOptions(parent=self, depends_on=start_after, retain_on_delete=True),
        )

    def _receiver(self, name: str, namespace: k8s.core.v1.Namespace) -> pulumi.Output[str]:
        """A GitHub webhook receiver, so a push triggers a sync instead of waiting for the interval."""
        # Not protected: a lost token is made anew at the next `up` (the Git host's webhook takes the new one).
        token = random.RandomPassword(f"{name}-webhook-token", length=40, special=False,
                                      opts=pulumi.ResourceOptions(parent=self))
        secret = k8s.core.v1.Secret(
            f"{name}-webhook-token-secret",
            metadata={"name": WEBHOOK_SECRET, "namespace": NAMESPACE},
            string_data={"token": pulumi.Output.secret(token.result)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-receiver",
            api_version="notification.toolkit.fluxcd.io/v1",
            kind="Receiver",
            metadata={"name": "github", "namespace": NAMESPACE},
            spec={
                "type": "github",
                "events": ["ping", "push"],
                "secretRef": {"name": WEBHOOK_SECRET},
                "resources": [{"kind": "GitRepository", "name": SOURCE_NAME}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret, *self.kustomizations]),
        )
        return pulumi.Output.secret(token.result)


def flux_distribution(version: str, images: ImagesSettings) -> dict[str, str]:
    """The Flux the operator installs: controllers' images and the manifests artifact, from the mirror if set."""
    mirror = images.registry
    distribution = {
        "version": version,
        "registry": mirrored(FLUX_REGISTRY, mirror) if mirror else FLUX_REGISTRY,
        "artifact": "oci://" + (mirrored(FLUX_MANIFESTS, mirror) if mirror else FLUX_MANIFESTS),
    }
    if mirror:
        # The operator knows which images (and digests) a registry holds only for Flux's own registries;
        # a mirror of ghcr.io/fluxcd holds the upstream images, and saying so pins them by digest.
        distribution["variant"] = "upstream-alpine"
    if images.pull_secret:
        # Both are read from the operator's namespace, flux-system, where the pull Secret is.
        distribution["imagePullSecret"] = distribution["artifactPullSecret"] = images.pull_secret
    return distribution
