"""belen's charts as awaited Helm releases, from the pinned repositories or the user's own sources."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.charts import CHARTS, deep_merge
from components.images import image_values
from components.metadata import MANAGED_BY
from components.settings.charts import ChartSource, ImagesSettings, pinned


class ChartInstaller:
    """Installs belen's charts (one per key) and records what came from where (`installed`, the
    `charts` output). Every namespace a chart installs into gets the image pull Secret first."""

    def __init__(self, sources: Mapping[str, ChartSource] | None = None, images: ImagesSettings | None = None):
        self.sources = dict(sources) if sources is not None else {key: pinned(key) for key in CHARTS}
        self.images = images or ImagesSettings()
        self.installed: dict[str, dict[str, str]] = {}
        self._pull_secrets: dict[str, k8s.core.v1.Secret] = {}

    def release(
        self,
        resource_name: str,
        key: str,
        *,
        release_name: str,
        namespace: str,
        values: dict[str, Any] | pulumi.Output[dict[str, Any]],
        opts: pulumi.ResourceOptions,
        namespace_deps: Sequence[pulumi.Resource] = (),
        timeout_seconds: int = 600,
        await_workloads: bool = True,
    ) -> k8s.helm.v3.Release:
        """A Helm release that `pulumi up` waits for (workloads ready, hooks run) before dependents start.
        `await_workloads=False` leaves out the wait on the workloads (Helm still runs and waits for the hooks):
        for a chart whose hook proves what its dependents need.

        Values: belen's, then `belen:images`, then the user's `belen:charts.<key>.values`.
        `namespace_deps` are what the namespace's existence hangs on (for the pull Secret).
        """
        source = self.sources[key]

        def merge(base: dict[str, Any]) -> dict[str, Any]:
            return deep_merge(deep_merge(base, image_values(key, self.images)), dict(source.values))

        # Values that hang on another stack's outputs come as an Output.
        merged = values.apply(merge) if isinstance(values, pulumi.Output) else merge(values)
        pull_secret = self._pull_secret(resource_name, namespace, opts.parent, namespace_deps)
        if pull_secret is not None:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[pull_secret]))
        if source.path:
            # A local chart: Helm reads name and version from its Chart.yaml.
            chart, version, repository_opts = source.path, None, None
        elif source.repository and source.repository.startswith("oci://"):
            chart, version, repository_opts = f"{source.repository}/{source.chart}", source.version, None
        else:
            chart, version = source.chart, source.version
            repository_opts = k8s.helm.v3.RepositoryOptsArgs(repo=source.repository)
        release = k8s.helm.v3.Release(
            resource_name,
            name=release_name,
            chart=chart,
            version=version,
            repository_opts=repository_opts,
            namespace=namespace,
            values=merged,
            skip_await=not await_workloads,
            timeout=timeout_seconds,
            opts=opts,
        )
        for warning in source.warnings:
            pulumi.log.warn(warning, resource=release)
        self.installed[key] = {"chart": source.chart, "version": source.version, "source": source.source}
        return release

    def _pull_secret(self, resource_name: str, namespace: str, parent: pulumi.Resource | None,
                     namespace_deps: Sequence[pulumi.Resource]) -> k8s.core.v1.Secret | None:
        """The `kubernetes.io/dockerconfigjson` Secret of `belen:imagePullSecret`, once per namespace."""
        if not self.images.pull_secret or not self.images.docker_config:
            return None
        if namespace not in self._pull_secrets:
            config = base64.b64encode(self.images.docker_config.encode()).decode()
            self._pull_secrets[namespace] = k8s.core.v1.Secret(
                f"{resource_name}-image-pull-secret",
                metadata={"name": self.images.pull_secret, "namespace": namespace, "labels": MANAGED_BY},
                type="kubernetes.io/dockerconfigjson",
                data=pulumi.Output.secret({".dockerconfigjson": config}),
                opts=pulumi.ResourceOptions(parent=parent, depends_on=list(namespace_deps)),
            )
        return self._pull_secrets[namespace]
