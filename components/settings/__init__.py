"""Stack config → validated, typed settings. Pure Python: no Pulumi resources are created here.

`load_settings` reads every `belen:*` key, collects every problem, and raises one
`SettingsError` listing them all, so nothing is registered from a half-valid configuration.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.settings.cert_manager import CertManagerSettings, parse_cert_manager
from components.settings.charts import ChartSource, ImagesSettings, parse_charts, parse_images
from components.settings.cluster import ClusterSettings, parse_cluster
from components.settings.external_secrets import ExternalSecretsSettings, parse_external_secrets
from components.settings.flux import FluxSettings, parse_flux
from components.settings.ingress import IngressSettings, check_http01_classes, parse_ingress
from components.settings.reader import Node, Problems, describe
from components.settings.sealed_secrets import SealedSecretsSettings, parse_sealed_secrets
from components.settings.tls import TlsSettings, check_publish, parse_tls
from components.settings.tls_readers import check_continuous, check_readers

NAMESPACE = "belen"

# Plain settings, one object per platform area.
PLAIN_KEYS = ("cluster", "sealedSecrets", "ingress", "externalSecrets", "certManager", "flux", "tls", "charts", "images")
# Secret material lives under its own keys so plain values never become secrets by contagion.
SECRET_KEYS = ("kubeconfig", "sealingKeys", "storeCredentials", "caKeyPair", "acmeCredentials", "gitAuth",
               "imagePullSecret")
# Settings that are text even when they look like JSON (a kubeconfig may be written as JSON).
TEXT_KEYS = ("kubeconfig", "imagePullSecret")


@dataclass(frozen=True)
class StackConfig:
    """Raw stack config: full keys (`belen:cluster`) to values, and which keys are secret."""

    values: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset()

    @staticmethod
    def from_strings(values: Mapping[str, Any], secret_keys: set[str] | frozenset[str] = frozenset()) -> StackConfig:
        """Decode the JSON text Pulumi passes for object and list settings."""
        decoded = {}
        for key, value in values.items():
            is_text = key.partition(":")[2] in TEXT_KEYS
            if isinstance(value, str) and value[:1] in ("{", "[") and not is_text:
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            decoded[key] = value
        return StackConfig(decoded, frozenset(secret_keys))


@dataclass(frozen=True)
class Settings:
    stack: str
    cluster: ClusterSettings
    sealed_secrets: SealedSecretsSettings
    ingress: IngressSettings
    # Optional areas are None when their key is absent from the stack.
    external_secrets: ExternalSecretsSettings | None
    cert_manager: CertManagerSettings | None
    flux: FluxSettings | None
    tls: TlsSettings | None
    charts: Mapping[str, ChartSource]  # every chart key, pinned unless belen:charts.<key> says otherwise
    images: ImagesSettings


def load_settings(config: StackConfig, stack: str, now: dt.datetime | None = None) -> Settings:
    """Parse and validate the whole stack config, or raise one SettingsError listing every problem.

    `now` is the moment certificate expiry is judged at (default: the current time).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    problems = Problems()
    values = _belen_values(config, problems)
    secrets = {key: _secret(values, config, key, problems) for key in SECRET_KEYS}

    def area(key: str) -> Node:
        return Node(values.get(key), key, problems)

    def optional(key: str, *needs: str) -> Node | None:
        """An optional area's node; secrets it needs are refused when the area itself is absent."""
        if key in values:
            return area(key)
        for secret in needs:
            if secrets.get(secret) is not None:
                problems.add(secret, f"is set but belen:{key} is not", f"configure belen:{key} or remove belen:{secret}")
        return None

    external_secrets = optional("externalSecrets", "storeCredentials")
    cert_manager = optional("certManager", "caKeyPair", "acmeCredentials")
    flux = optional("flux", "gitAuth")
    cluster = parse_cluster(area("cluster"), _text(secrets["kubeconfig"], "kubeconfig", problems))
    settings = Settings(
        stack=stack,
        cluster=cluster,
        sealed_secrets=parse_sealed_secrets(area("sealedSecrets"), secrets["sealingKeys"], now),
        ingress=parse_ingress(area("ingress")),
        external_secrets=external_secrets and parse_external_secrets(external_secrets, secrets["storeCredentials"]),
        cert_manager=cert_manager and parse_cert_manager(cert_manager, secrets["caKeyPair"], secrets["acmeCredentials"]),
        flux=flux and parse_flux(flux, secrets["gitAuth"], cluster.name),
        tls=parse_tls(area("tls")) if "tls" in values else None,
        charts=parse_charts(area("charts")),
        images=parse_images(area("images"), secrets["imagePullSecret"]),
    )
    # Checks across areas.
    check_http01_classes(settings.ingress, settings.cert_manager, problems)
    check_publish(settings.tls, settings.cert_manager, problems)
    check_readers(settings.tls, settings.cert_manager, problems)
    check_continuous(settings.tls, settings.external_secrets, problems)
    problems.raise_if_any()
    return settings


def _belen_values(config: StackConfig, problems: Problems) -> dict[str, Any]:
    values = {}
    known = PLAIN_KEYS + SECRET_KEYS
    for full_key, value in config.values.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in known:
            problems.add(key, "unknown setting", f"known settings are belen:{', belen:'.join(sorted(known))}")
            continue
        values[key] = value
    return values


def _secret(values: dict[str, Any], config: StackConfig, key: str, problems: Problems) -> Any:
    value = values.get(key)
    if value is not None and f"{NAMESPACE}:{key}" not in config.secret_keys:
        problems.add(key, "is stored in plain text", f"remove it from the stack file and set it with "
                     f"`pulumi config set --secret --path 'belen:{key}...'`")
    return value


def _text(value: Any, key: str, problems: Problems) -> str | None:
    if value is None or isinstance(value, str):
        return value
    problems.add(key, f"must be a string, got {describe(value)}", "set it to the file's text")
    return None
