"""Pinned Helm charts from their official repositories, installed as awaited Helm releases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repository: str  # an HTTPS chart repository, or an oci:// registry path

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith("oci://")


def release(
    resource_name: str,
    chart: Chart,
    *,
    release_name: str,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    timeout_seconds: int = 600,
) -> k8s.helm.v3.Release:
    """A Helm release that `pulumi up` waits for (workloads ready, hooks run) before dependents start."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name,
        chart=f"{chart.repository}/{chart.name}" if chart.is_oci else chart.name,
        version=chart.version,
        repository_opts=None if chart.is_oci else k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        namespace=namespace,
        values=values,
        skip_await=False,
        timeout=timeout_seconds,
        opts=opts,
    )
