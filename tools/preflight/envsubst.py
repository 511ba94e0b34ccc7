"""Flux's `postBuild` variable substitution (drone/envsubst as kustomize-controller runs it), on text."""

from __future__ import annotations

import re
from collections.abc import Mapping

REFERENCE = re.compile(r"\$\$|\$\{([^{}]*)\}")
NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
DEFAULTS = (":=", ":-", "=", "-")  # `${var:=default}`: the default when var is unset (":" forms: or empty)
_UNSET = object()


def substitute(text: str, values: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """The text with every `${var}` replaced, and the names of those with neither a value nor a default.

    `values[name]` is None for a value unknown offline (a sealed one). `$${var}` is the escape for a
    literal `${var}`. Unknown values, unset variables (Flux empties them) and functions Flux supports
    but this does not evaluate (`${var/a/b}`) are left as written.
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        inner = match.group(1)
        name = NAME.match(inner)
        if name is None:
            return match.group(0)
        value = values.get(name.group(0), _UNSET)
        rest = inner[name.end():]
        operator = next((op for op in DEFAULTS if rest.startswith(op)), None)
        if operator is not None:
            unset = value is _UNSET or (operator.startswith(":") and value == "")
            if unset:
                return rest[len(operator):]
            return value if isinstance(value, str) else match.group(0)
        if value is _UNSET:
            missing.append(name.group(0))
            return match.group(0)
        return value if isinstance(value, str) and not rest else match.group(0)

    return REFERENCE.sub(replace, text), missing
