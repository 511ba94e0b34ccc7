"""stacks/belen.schema.json against belen itself: whenever `load_settings` refuses a stack for a reason the settings
catalog states (a type, a required key, a choice, a bound, a pattern, a plain-text secret, an unknown key:
`Problems.declared`), the schema, run by a real JSON Schema validator, must refuse that stack file too.

tests/conftest.py applies this to every settings test, so their refused inputs are the schema's test cases.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import jsonschema

from components.settings import StackConfig
from tools import schema

ENCRYPTED = {"secure": "v1:AAAA"}


@functools.cache
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(schema.SCHEMA_FILE.read_text()))


def stack_file(config: StackConfig) -> dict[str, Any]:
    """The stack file whose config the engine passes as `config`: each text value of a secret key encrypted."""
    return {"config": {key: encrypted(value) if key in config.secret_keys else value
                       for key, value in config.values.items()}}


def encrypted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: encrypted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [encrypted(item) for item in value]
    return ENCRYPTED if isinstance(value, str) else value


def refuses(config: StackConfig) -> bool:
    return any(True for _ in validator().iter_errors(stack_file(config)))


def watch(settings_module: Any, accepted: list[list[str]]) -> Any:
    """A stand-in for `components.settings._parse` that notes in `accepted` the declared problems of each stack
    `load_settings` refuses and the schema does not (other callers, such as missing_secrets, are not judged)."""
    parse = settings_module._parse

    def watched(config, stack, now, problems):
        settings = parse(config, stack, now, problems)
        if problems.declared and sys._getframe(1).f_code.co_name == "load_settings" and not refuses(config):
            accepted.append(problems.declared)
        return settings

    return watched
