"""ExternalSecrets (stub: to be filled by the ESO issue)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.settings.external_secrets import ExternalSecretsSettings


@dataclass(frozen=True)
class ExternalSecretsArgs:
    settings: ExternalSecretsSettings


class ExternalSecrets(pulumi.ComponentResource):
    def __init__(self, name: str, args: ExternalSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:ExternalSecrets", name, None, opts)
        self.ready: list[pulumi.Resource] = []
        self.exports: dict[str, pulumi.Input] = {}
        self.register_outputs(self.exports)
