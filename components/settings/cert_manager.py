"""`belen:certManager` and the secrets `belen:caKeyPair`, `belen:acmeCredentials` (stub: to be filled by the cert-manager issue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.settings.reader import Node


@dataclass(frozen=True)
class CertManagerSettings:
    namespace: str = "cert-manager"


def parse_cert_manager(node: Node, ca_key_pairs: Any, acme_credentials: Any) -> CertManagerSettings:
    node.done()
    return CertManagerSettings()
