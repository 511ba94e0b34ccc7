"""Typed reads of raw stack config that collect problems instead of raising.

Every read names its full key path (`belen:cluster.name`, `belen:sealingKeys[0].cert`) so the
final error tells the user exactly which setting to fix. Reads return a usable fallback after a
problem, so one run reports every problem at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlparse

from components.crypto import pem
from components.errors import SettingsError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Flux/Go durations such as 1m, 10m30s, 1h.
STACK_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
# Namespaces every cluster already has: belen never creates (and so never deletes) them.
BUILT_IN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_MISSING = object()


class Problems:
    """Problems found so far, each one line `belen:<path>: <what> — <what to do>`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, what: str, todo: str) -> None:
        self.lines.append(f"belen:{path}: {what} — {todo}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise SettingsError(self.lines)


def describe(value: Any) -> str:
    """A value's type as users write it in YAML, never the value itself (it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Node:
    """A mapping in the config at `path`; typed getters record problems and return fallbacks."""

    def __init__(self, value: Any, path: str, problems: Problems):
        self.path = path
        self.problems = problems
        self._seen: set[str] = set()
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.add(path, f"must be an object, got {describe(value)}", "write it as a YAML mapping of settings")
            value = {}
        self.value: dict[str, Any] = value

    def child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        value = self.value.get(key, _MISSING)
        return default if value is _MISSING or value is None else value

    def _bad(self, key: str, what: str, todo: str) -> None:
        self.problems.add(self.child_path(key), what, todo)

    def str(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        todo: str = "set it to a string",
        check: Callable[[str], str | None] | None = None,
        choices: Iterable[str] | None = None,
        coerce_numbers: bool = False,
    ) -> str | None:
        """A string. `check` returns a problem text or None; `choices` lists the allowed values."""
        value = self.raw(key)
        if value is None:
            if required:
                self._bad(key, "is required", todo)
            return default
        if coerce_numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self._bad(key, f"must be a string, got {describe(value)}", todo)
            return default
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                self._bad(key, f"'{value}' is not one of {', '.join(allowed)}", f"use one of {', '.join(allowed)}")
                return default
        if check is not None:
            problem = check(value)
            if problem:
                self._bad(key, problem, todo)
                return default
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self._bad(key, f"must be true or false, got {describe(value)}", "set it to true or false")
            return default
        return value

    def int(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, f"must be a whole number, got {describe(value)}", "set it to a whole number")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
            self._bad(key, f"{value} is out of range", f"use a number {bounds}")
            return default
        return value

    def duration(self, key: str, default: str) -> str:
        return self.str(
            key,
            default,
            todo="write a duration such as 1m, 10m or 1h30m",
            check=lambda v: None if DURATION.match(v) else f"'{v}' is not a duration",
        ) or default

    def strings(self, key: str, *, check: Callable[[str], str | None] | None = None, todo: str = "") -> list[str]:
        """A list of strings (each checked)."""
        result = []
        for path, item in self.items(key):
            if not isinstance(item, str):
                self.problems.add(path, f"must be a string, got {describe(item)}", todo or "write a string")
                continue
            problem = check(item) if check else None
            if problem:
                self.problems.add(path, problem, todo or "fix the value")
                continue
            result.append(item)
        return result

    def items(self, key: str) -> Iterator[tuple[str, Any]]:
        """(path, value) for each element of a list setting."""
        value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, list):
            self._bad(key, f"must be a list, got {describe(value)}", "write it as a YAML list")
            return
        for index, item in enumerate(value):
            yield f"{self.child_path(key)}[{index}]", item

    def nodes(self, key: str) -> Iterator[Node]:
        """A Node for each element of a list of objects."""
        for path, item in self.items(key):
            yield Node(item, path, self.problems)

    def node(self, key: str) -> Node:
        return Node(self.raw(key), self.child_path(key), self.problems)

    def entries(self, key: str) -> Iterator[tuple[str, Any]]:
        """(name, value) of a mapping keyed by user-chosen names (not a fixed set of settings)."""
        value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, dict):
            self._bad(key, f"must be an object, got {describe(value)}", "write it as a YAML mapping")
            return
        yield from value.items()

    def done(self) -> None:
        """Every key not read is a typo or an unsupported setting: report it with a suggestion."""
        known = sorted(self._seen)
        for key in self.value:
            if key in self._seen:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known settings here: {', '.join(known) or 'none'}"
            self.problems.add(self.child_path(key), "unknown setting", hint)


def dns_label(value: str) -> str | None:
    if DNS_LABEL.match(value):
        return None
    return f"'{value}' is not a DNS label"


def stack_reference(value: str) -> str | None:
    if STACK_REF.match(value):
        return None
    return f"'{value}' is not <organization>/<project>/<stack>"


def dns_subdomain(value: str) -> str | None:
    if DNS_SUBDOMAIN.match(value):
        return None
    return f"'{value}' is not a valid Kubernetes name"


def url(value: str, schemes: tuple[str, ...]) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        return f"'{value}' is not an {' or '.join(schemes)} URL"
    return None


def pem_certificates(text: str) -> str | None:
    """PEM text holding one or more certificates (a CA bundle)."""
    try:
        pem.load_certificates(text)
    except pem.PemError as exc:
        return str(exc)
    return None
