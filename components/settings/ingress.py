"""`belen:ingress`: the ingress controller the cluster's Ingresses and http01 challenges go through."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from components.settings.cert_manager import CertManagerSettings
from components.settings.reader import Node, Problems


@dataclass(frozen=True)
class IngressSettings:
    install: bool  # k3s ships Traefik; managed clouds and kind need belen to install it
    class_name: str
    service_type: str
    load_balancer_ip: str | None
    annotations: dict[str, str]
    replicas: int


def parse_ingress(node: Node) -> IngressSettings:
    install = node.bool("install")
    class_name = node.str("className", todo="set it to an IngressClass name such as traefik")
    service_type = node.str("serviceType")
    load_balancer_ip = node.str("loadBalancerIP", todo="set it to an IP address", check=_ip_problem)
    annotations = {}
    for key, value in node.entries("annotations"):
        if not isinstance(value, str):
            node.problems.add(f"ingress.annotations.{key}", "must be a string", "quote the value")
        else:
            annotations[key] = value
    replicas = node.int("replicas")
    if not install and node.valid("install"):
        for key in ("serviceType", "loadBalancerIP", "annotations", "replicas"):
            if node.has(key) and node.valid(key):
                node.problems.add(f"ingress.{key}", "only applies when belen installs the controller",
                                  "set belen:ingress.install: true, or remove it (k3s configures its own Traefik)")
    if load_balancer_ip and service_type != "LoadBalancer":
        node.problems.add("ingress.loadBalancerIP", f"needs serviceType LoadBalancer, not {service_type}",
                          "remove loadBalancerIP or use serviceType: LoadBalancer")
    node.done()
    return IngressSettings(install, class_name, service_type, load_balancer_ip, annotations, replicas)


def _ip_problem(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        return f"'{value}' is not an IP address"


def check_http01_classes(ingress: IngressSettings, cert_manager: CertManagerSettings | None, problems: Problems) -> None:
    """An http01 challenge served through another ingress class than the cluster's never completes."""
    for index, issuer in enumerate(cert_manager.issuers if cert_manager else ()):
        solver_class = getattr(issuer, "http01_ingress_class", None)
        if getattr(issuer, "solver", None) == "http01" and solver_class != ingress.class_name:
            problems.add(f"certManager.issuers[{index}].acme.http01.ingressClass",
                         f"'{solver_class}' differs from belen:ingress.className '{ingress.class_name}'",
                         "use the same class in both, or challenges are never answered")
