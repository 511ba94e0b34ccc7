"""`belen:externalSecrets` and the secret `belen:storeCredentials`: the operator and its ClusterSecretStores."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from components.settings.constants import BUILT_IN_NAMESPACES, DNS_SUBDOMAIN, ESO_PROVIDERS
from components.settings.eso_providers import Provider, credentials, parse_provider
from components.settings.reader import Node, Problems

TYPED = ("vault", "kubernetes", "aws", "fake")  # the providers eso_providers types
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")  # Secret data keys, as SecretKeySelector.key allows


@dataclass(frozen=True)
class StoreSettings:
    name: str
    provider: str  # the ESO provider key, e.g. vault
    config: Provider
    wait_ready: bool
    ready_timeout_seconds: int
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)  # secret values

    @property
    def credentials_secret(self) -> str:
        """The Secret, in the operator's namespace, holding belen:storeCredentials.<store>."""
        return credentials_secret(self.name)


@dataclass(frozen=True)
class ExternalSecretsSettings:
    namespace: str
    stores: tuple[StoreSettings, ...]


def credentials_secret(store: str) -> str:
    return f"{store}-credentials"


def parse_external_secrets(node: Node, store_credentials: Any) -> ExternalSecretsSettings:
    namespace = node.str("namespace", todo="set it to a namespace of its own, e.g. external-secrets",
                         check=_own_namespace)
    stores: dict[str, StoreSettings] = {}
    declared: set[str] = set()  # names of every store, valid or not, that credentials may be for
    for store_node in node.nodes("stores"):
        if isinstance(store_node.value.get("name"), str):
            declared.add(store_node.value["name"])
        store = _store(store_node, namespace)
        if store is None:
            continue
        if store.name in stores:
            node.problems.add(store_node.child_path("name"), f"repeats the store name '{store.name}'",
                              "give every store its own name")
            continue
        stores[store.name] = store
    node.done()
    given = _credentials(store_credentials, stores, declared, node.problems)
    return ExternalSecretsSettings(
        namespace=namespace,
        stores=tuple(replace(s, credentials=given.get(s.name, {})) for s in stores.values()),
    )


def _store(node: Node, namespace: str) -> StoreSettings | None:
    name = node.str("name", todo="set it to the ClusterSecretStore's name, e.g. vault")
    provider = node.str("provider", todo=provider_todo(node.value.get("provider")), check=check_provider_name)
    wait_ready = node.bool("waitReady")
    explicit_timeout = node.has("readyTimeoutSeconds")
    timeout = node.int("readyTimeoutSeconds")
    if explicit_timeout and not wait_ready:
        node.problems.add(node.child_path("readyTimeoutSeconds"), "has no effect with waitReady: false",
                          "remove readyTimeoutSeconds, or waitReady: false")
    if provider is None:
        # Without a usable provider the other keys cannot be judged: reporting them as unknown is noise.
        return None
    config = parse_provider(node, provider, namespace)
    if name is None or config is None:
        return None
    if credentials(provider, config).reads_any and not re.fullmatch(DNS_SUBDOMAIN, credentials_secret(name)):
        node.problems.add(node.child_path("name"),
                          f"is too long to name its credentials Secret {credentials_secret(name)}", "shorten the store name")
        return None
    return StoreSettings(name, provider, config, wait_ready, timeout)


def check_provider_name(value: str) -> str | None:
    if value == "github":
        return ("github is write-only (ESO can only push secrets to it with a PushSecret, never read them), "
                "so every ExternalSecret using this store would fail")
    if value not in ESO_PROVIDERS:
        close = difflib.get_close_matches(value, sorted(ESO_PROVIDERS), n=1)
        return f"'{value}' is not an ESO provider" + (f" (did you mean '{close[0]}'?)" if close else "")
    return None


def provider_todo(value: Any) -> str:
    if value == "github":
        return ("keep secrets that live in Git as SealedSecrets (belen:sealedSecrets) "
                "and read the rest from a readable provider")
    return f"use {', '.join(TYPED)}, or another ESO provider key (e.g. gcpsm, azurekv) with a raw spec"


def _own_namespace(value: str) -> str | None:
    if value in BUILT_IN_NAMESPACES:
        return f"'{value}' is a namespace every cluster has, not one of the operator's own"
    return None


def _credentials(raw: Any, stores: Mapping[str, StoreSettings], declared: set[str],
                 problems: Problems) -> dict[str, dict[str, str]]:
    """belen:storeCredentials: per store, exactly the credentials its auth reads. Messages never hold values."""
    root = Node(raw, "storeCredentials", problems)
    found: dict[str, dict[str, str]] = {}
    if raw is not None and not isinstance(raw, dict):
        return found  # reported by Node: which credentials are missing cannot be judged
    for name in list(root.value):
        root.raw(name)
        if name not in declared:
            close = difflib.get_close_matches(str(name), sorted(declared), n=1)
            problems.add(f"storeCredentials.{name}", f"no store named '{name}' in belen:externalSecrets.stores",
                         "remove it, or rename it to its store" + (f" (did you mean '{close[0]}'?)" if close else ""))
    for store in stores.values():
        needs = credentials(store.provider, store.config)
        path = f"storeCredentials.{store.name}"
        given = root.value.get(store.name)
        if given is not None and not needs.reads_any:
            problems.add(path, f"is set but store '{store.name}' uses {needs.auth}, which reads no credentials",
                         f"remove belen:{path}")
            continue
        node = Node(given, path, problems)
        if given is not None and not isinstance(given, dict):
            continue  # reported by Node: which credentials are missing cannot be judged
        if needs.free:
            values = _free_credentials(node)
        else:
            values = {}
            for key in needs.required + needs.optional:
                value = node.str(key, required=key in needs.required, check=_not_blank,
                                 todo=f"store '{store.name}' uses {needs.auth}: set it with "
                                      f"`pulumi config set --secret --path 'belen:{path}.{key}'`")
                if value is not None:
                    values[key] = value
            node.done()
        if values:
            found[store.name] = values
    return found


def _free_credentials(node: Node) -> dict[str, str]:
    """Credentials a raw spec references by name: any Secret data keys, each a non-empty string."""
    values = {}
    for key in list(node.value):
        if not SECRET_KEY.match(str(key)):
            node.problems.add(node.child_path(key), "is not a valid Secret data key",
                              "use letters, digits, '-', '_' and '.' only")
            node.raw(key)
            continue
        value = node.str(key, required=True, check=_not_blank, todo="set it to the credential's value (a string)")
        if value is not None:
            values[key] = value
    return values


def _not_blank(value: str) -> str | None:
    return "is empty" if not value.strip() else None
