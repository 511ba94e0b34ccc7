"""CertManager (stub: to be filled by the cert-manager issue)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from components.settings.cert_manager import CertManagerSettings


@dataclass(frozen=True)
class CertManagerArgs:
    settings: CertManagerSettings
    # Certificates whose issuer solves http01 depend on these (the ingress controller serving the challenge).
    http01_dependencies: Sequence[pulumi.Resource] = field(default_factory=tuple)


class CertManager(pulumi.ComponentResource):
    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:CertManager", name, None, opts)
        self.certificates: dict[str, pulumi.CustomResource] = {}
        self.ready: list[pulumi.Resource] = []
        self.exports: dict[str, pulumi.Input] = {}
        self.register_outputs(self.exports)
