"""Stack config → validated, typed settings. Pure Python: no Pulumi resources are created here.

`load_settings` reads every `belen:*` key, collects every problem, and raises one
`SettingsError` listing them all, so nothing is registered from a half-valid configuration.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.settings.cert_manager import CertManagerSettings, parse_cert_manager
from components.settings.charts import ChartSource, ImagesSettings, parse_charts, parse_images
from components.settings.cluster import ClusterSettings, parse_cluster
from components.settings.external_secrets import ExternalSecretsSettings, parse_external_secrets
from components.settings.flux import FluxSettings, parse_flux
from components.settings.ingress import IngressSettings, check_http01_classes, parse_ingress
from components.settings.catalog import SETTINGS
from components.settings.reader import UNKNOWN, Node, Problems, describe
from components.settings.sealed_secrets import SealedSecretsSettings, parse_sealed_secrets
from components.settings.tls import TlsSettings, check_publish, parse_tls
from components.settings.tls_readers import check_continuous, check_readers

NAMESPACE = "belen"

# Plain settings, one object per platform area.
PLAIN_KEYS = tuple(key for key, setting in SETTINGS.fields.items() if not setting.secret)
# Secret material lives under its own keys so plain values never become secrets by contagion.
SECRET_KEYS = tuple(key for key, setting in SETTINGS.fields.items() if setting.secret)
# A key written with `pulumi config set` without --path: `cluster.name`, `sealingKeys[0].cert`.
PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
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
    problems = Problems()
    settings = _parse(config, stack, now or dt.datetime.now(dt.timezone.utc), problems)
    problems.raise_if_any()
    return settings


def missing_secrets(values: Mapping[str, Any], stack: str) -> list[str]:
    """The secret settings (`gitAuth.identity`) `load_settings` demands of a stack file's config `values`
    that it does not hold (a `secure:` value is held). Each one demanded gets a stand-in and the settings are
    read again, since a value can demand another (an SSH identity demands knownHosts)."""
    held = copy.deepcopy(dict(values))
    secret_keys = set()
    for key, value in values.items():
        for path in secure_paths(value):
            set_path(held, f"{key}{path}", STAND_IN, replace=True)
            secret_keys.add(key)
    found: list[str] = []
    while True:
        problems = Problems()
        _parse(StackConfig(held, frozenset(secret_keys)), stack, dt.datetime.now(dt.timezone.utc), problems)
        new = [path for path in dict.fromkeys(problems.missing)
               if PATH_PART.match(path).group(2) in SECRET_KEYS and path not in found]
        if not new:
            return found
        for path in new:
            set_path(held, f"{NAMESPACE}:{path}", STAND_IN, replace=False)
            secret_keys.add(f"{NAMESPACE}:{PATH_PART.match(path).group(2)}")
        found += new


STAND_IN = "stand-in"  # for a secret value, while finding which secrets a stack needs


def secure_paths(value: Any, path: str = "") -> list[str]:
    """Where a stack-file value holds `secure:` (encrypted) values: "" for the value itself, `.identity`, `[0].key`."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return [path]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in secure_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in secure_paths(item, f"{path}[{index}]")]
    return []


def _parse(config: StackConfig, stack: str, now: dt.datetime, problems: Problems) -> Settings:
    values, secret = _belen_values(config, problems)
    secrets = {key: _secret(values, secret, key, problems) for key in SECRET_KEYS}

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
    return settings


def _belen_values(config: StackConfig, problems: Problems) -> tuple[dict[str, Any], set[str]]:
    """The `belen:*` settings by key without the namespace, and which of them are secret."""
    values: dict[str, Any] = {}
    secret: set[str] = set()
    known = PLAIN_KEYS + SECRET_KEYS
    literal = []
    for full_key, value in config.values.items():
        namespace, colon, key = full_key.partition(":")
        if not colon:  # `cluster:` in a stack file's config: read as meant, once told
            namespace, key = NAMESPACE, full_key
            if not _missing_prefix(key, known, problems) or f"{NAMESPACE}:{key}" in config.values:
                continue
        if namespace != NAMESPACE:
            continue
        head = PATH_PART.match(key)
        if head and head.group(2) in known and key != head.group(2):
            literal.append((key, value, full_key in config.secret_keys))
            continue
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            problems.add(key, "unknown setting", f"did you mean '{close[0]}'?" if close else
                         f"known settings are belen:{', belen:'.join(sorted(known))}", rank=UNKNOWN, declared=True)
            continue
        values[key] = value
        if full_key in config.secret_keys:
            secret.add(key)
    if literal:
        values = copy.deepcopy(values)  # literal keys are merged in: the caller's config stays as it was
    made: set[str] = set()  # areas only literal keys set
    for key, value, is_secret in literal:
        head = PATH_PART.match(key).group(2)
        _literal_path_key(key, value, is_secret or head in SECRET_KEYS, problems)
        if head not in values:
            made.add(head)
        # Parsed as if nested, so the one problem above is the only one about it.
        if set_path(values, key, value, replace=False) and head in made and head in SECRET_KEYS:
            secret.add(head)
    return values, secret


def _missing_prefix(key: str, known: tuple[str, ...], problems: Problems) -> bool:
    """Report a key of belen's written without `belen:`; False if it is none of belen's."""
    head = PATH_PART.match(key)
    if head is None or head.group(2) not in known:
        return False
    problems.add(key, f'is written "{key}", without the belen: prefix',
                 f"name it belen:{key} in the stack file's config", rank=UNKNOWN, declared=True)
    return True


def _literal_path_key(key: str, value: Any, is_secret: bool, problems: Problems) -> None:
    """`pulumi config set belen:cluster.name homelab`, without --path, sets a key named "cluster.name"."""
    shown = shlex.quote(value if isinstance(value, str) else json.dumps(value))
    plain = isinstance(value, (str, int, float, bool)) and len(shown) <= 60 and "\n" not in shown
    command = (f"pulumi config set --secret --path 'belen:{key}' < FILE" if is_secret else
               f"pulumi config set --path 'belen:{key}' {shown if plain else '< FILE'}")
    problems.add(key, f'set as a literal key named "{key}"', f"run pulumi config rm belen:{key}, then {command} "
                 f"(or write it nested in the stack file)", rank=UNKNOWN, declared=True)


def set_path(tree: dict[str, Any], path: str, value: Any, *, replace: bool) -> bool:
    """Put `value` at `path` (`cluster.name`, `sealingKeys[0].cert`) in `tree` as `pulumi config set --path` does,
    making the objects and lists on the way; False if the path runs through another value or, unless `replace`,
    ends at one."""
    parts = [int(index) if index else name for index, name in PATH_PART.findall(path)]
    container: Any = tree
    for part, after in zip(parts, [*parts[1:], None]):
        fits = (isinstance(container, dict) and isinstance(part, str)) or (
            isinstance(container, list) and isinstance(part, int) and part <= len(container))
        if not fits:
            return False
        present = part in container if isinstance(container, dict) else part < len(container)
        if after is None:
            if present and not replace:
                return False
        elif present and container[part] is not None:
            container = container[part]
            continue
        new = value if after is None else [] if isinstance(after, int) else {}
        if isinstance(container, list) and not present:
            container.append(new)
        else:
            container[part] = new
        container = new
    return True


def _secret(values: dict[str, Any], secret: set[str], key: str, problems: Problems) -> Any:
    value = values.get(key)
    if value is not None and key not in secret:
        whole = SETTINGS.fields[key].kind in ("string", "any")  # text set in one piece, even when it parses as JSON
        commands = " and ".join(f"`pulumi config set --secret --path 'belen:{path}'`"
                                for path in ([key] if whole else _leaf_paths(value, key)))
        problems.add(key, "is stored in plain text", f"remove it from the stack file and set it with {commands}",
                     declared=True)
    return value


def _leaf_paths(value: Any, path: str) -> list[str]:
    """The paths of the values inside `value` (`gitAuth.identity`, `sealingKeys[0].cert`); `path` if it holds none."""
    if isinstance(value, dict):
        items = [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return [path]
    return [found for item_path, item in items for found in _leaf_paths(item, item_path)] or [path]


def _text(value: Any, key: str, problems: Problems) -> str | None:
    if value is None or isinstance(value, str):
        return value
    problems.add(key, f"must be a string, got {describe(value)}", "set it to the file's text")
    return None
