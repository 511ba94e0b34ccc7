"""Where raw config comes from when the program runs: the Pulumi runtime's config store."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.settings import NAMESPACE, StackConfig


def read_stack_config() -> StackConfig:
    """Every `belen:*` key the engine passed to the program, with the set of secret keys.

    `pulumi.Config` can only read keys it is asked for; belen needs them all to report typos.
    """
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values = {key: value for key, value in merged.items() if key.startswith(f"{NAMESPACE}:")}
    secret_keys = {key for key in values if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    return StackConfig.from_strings(values, frozenset(secret_keys))


def current_stack() -> str:
    return pulumi.get_stack()
