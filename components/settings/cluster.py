"""`belen:cluster` and the secret `belen:kubeconfig`: which cluster a stack manages."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.settings.reader import Node


@dataclass(frozen=True)
class ClusterSettings:
    name: str
    environment: str
    context: str | None = None
    kubeconfig: str | None = field(default=None, repr=False)


def parse_cluster(node: Node, kubeconfig: str | None) -> ClusterSettings:
    name = node.str("name", todo="set belen:cluster.name to a DNS label such as homelab")
    environment = node.str("environment", todo="set it to a DNS label such as dev, prd or homelab")
    context = node.str("context", todo="set it to a context name from your kubeconfig")
    node.done()
    return ClusterSettings(name=name or "invalid", environment=environment or name or "invalid", context=context,
                           kubeconfig=kubeconfig)
