"""Ingress: Traefik where the cluster lacks an ingress controller, so a replica serves the same
Ingresses (class `traefik`, as k3s ships) and answers the same http01 challenges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm import ChartInstaller
from components.settings.ingress import IngressSettings

NAMESPACE = "traefik"


@dataclass(frozen=True)
class IngressArgs:
    settings: IngressSettings
    charts: ChartInstaller


class Ingress(pulumi.ComponentResource):
    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:Ingress", name, None, opts)
        settings = args.settings
        self.release: k8s.helm.v3.Release | None = None
        if settings.install:
            namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": NAMESPACE},
                                              opts=pulumi.ResourceOptions(parent=self))
            self.release = args.charts.release(
                f"{name}-traefik", "traefik", release_name="traefik", namespace=NAMESPACE,
                values=traefik_values(settings),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]), namespace_deps=[namespace],
            )
        # Apps' Ingresses and http01 challenges need the controller running.
        self.ready: list[pulumi.Resource] = [self.release] if self.release else []
        self.exports: dict[str, pulumi.Input] = {"ingressClass": settings.class_name, "ingressInstalled": settings.install}
        self.register_outputs(self.exports)


def traefik_values(settings: IngressSettings) -> dict[str, Any]:
    service_spec: dict[str, Any] = {"type": settings.service_type}
    if settings.load_balancer_ip:
        service_spec["loadBalancerIP"] = settings.load_balancer_ip
    return {
        "deployment": {"replicas": settings.replicas},
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": settings.class_name},
        "ingressRoute": {"dashboard": {"enabled": False}},
        "providers": {"kubernetesIngress": {"ingressClass": settings.class_name, "publishedService": {"enabled": True}}},
        "service": {"annotations": settings.annotations, "spec": service_spec},
        # Keep one replica serving through node drains; a single replica cannot have a budget.
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1} if settings.replicas > 1 else {"enabled": False},
    }
