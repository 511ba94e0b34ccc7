"""Where raw config comes from when the program runs: the Pulumi runtime's config store (and the
one engine setting of the environment belen depends on)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi.runtime import config as runtime_config

from components.errors import SettingsError
from components.settings import NAMESPACE, StackConfig
from components.settings.sealed_secrets import SealedSecretsSettings

SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"


def read_stack_config() -> StackConfig:
    """Every `belen:*` key the engine passed to the program, with the set of secret keys.

    `pulumi.Config` can only read keys it is asked for; belen needs them all to report typos.
    """
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    # A key without a namespace is kept: it is belen's written without `belen:` (load_settings says so).
    values = {key: value for key, value in merged.items() if key.startswith(f"{NAMESPACE}:") or ":" not in key}
    secret_keys = {key for key in values if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    return StackConfig.from_strings(values, frozenset(secret_keys))


def current_stack() -> str:
    return pulumi.get_stack()


def refuse_lost_checkpoints(sealed_secrets: SealedSecretsSettings, environ: Mapping[str, str], dry_run: bool) -> None:
    """An update that generates a sealing key needs the engine's checkpoints: the engine saves each
    resource before anything that depends on it starts, so a key Secret in the cluster always has its
    key in the state. With PULUMI_SKIP_CHECKPOINTS it saves only when the update ends: an `up` that
    dies after the key reached the cluster leaves it in no state, and the re-run generates a second
    one. Previews (and renders) save nothing and go on."""
    generates = not sealed_secrets.keys_from_stack and sealed_secrets.key_generation >= sealed_secrets.first_generated
    value = environ.get(SKIP_CHECKPOINTS, "")
    if generates and not dry_run and (value == "1" or value.lower() == "true"):
        raise SettingsError([f"{SKIP_CHECKPOINTS}: is {value}, so the engine saves the state only when `pulumi up` "
                             "ends and an `up` that dies would lose the sealing key belen generates — unset it"])
