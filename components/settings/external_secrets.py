"""`belen:externalSecrets` and the secret `belen:storeCredentials` (stub: to be filled by the ESO issue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.settings.reader import Node


@dataclass(frozen=True)
class ExternalSecretsSettings:
    namespace: str = "external-secrets"


def parse_external_secrets(node: Node, store_credentials: Any) -> ExternalSecretsSettings:
    namespace = node.str("namespace", "external-secrets")
    node.done()
    return ExternalSecretsSettings(namespace=namespace or "external-secrets")
