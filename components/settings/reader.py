"""Typed reads of raw stack config that collect problems instead of raising.

Every read names its full key path (`belen:cluster.name`, `belen:sealingKeys[0].cert`) so the
final error tells the user exactly which setting to fix. Reads return a usable fallback after a
problem, so one run reports every problem at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from components.crypto import pem
from components.errors import SettingsError

if TYPE_CHECKING:
    from components.settings.catalog import Setting

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Flux/Go durations such as 1m, 10m30s, 1h.
STACK_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
# Namespaces every cluster already has: belen never creates (and so never deletes) them.
BUILT_IN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_MISSING = object()


class CatalogError(Exception):
    """The settings code reads a setting otherwise than components/settings/catalog.py declares it: a bug in belen."""


# How early a problem is listed: a key belen does not know, or a value of the wrong type, is often the
# cause of the problems found after it (`instal: true` leaves install false), so it comes first.
UNKNOWN, WRONG_TYPE, OTHER = range(3)


class Problems:
    """Problems found so far, each one line `belen:<path>: <what> — <what to do>`, root causes first."""

    def __init__(self) -> None:
        self._found: list[tuple[int, str]] = []
        self.missing: list[str] = []  # paths of required values that are absent, in the order found
        self.paths: set[str] = set()  # where a problem was found: its consequences are not reported again

    def add(self, path: str, what: str, todo: str, *, rank: int = OTHER) -> None:
        self._found.append((rank, f"belen:{path}: {what} — {todo}"))
        self.paths.add(path)

    def require(self, path: str, what: str, todo: str, *, where: str | None = None) -> None:
        """A problem that a value must be set at `where` (default `path`)."""
        self.add(path, what, todo)
        self.missing.append(where or path)

    @property
    def lines(self) -> list[str]:
        return [line for _, line in sorted(self._found, key=lambda found: found[0])]

    def raise_if_any(self) -> None:
        if self._found:
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
    """A mapping in the config at `path`; typed getters record problems and return fallbacks.

    Every key is read as `components/settings/catalog.py` declares it (see `_declared`).
    """

    def __init__(self, value: Any, path: str, problems: Problems):
        self.path = path
        self.problems = problems
        self._seen: set[str] = set()
        self.setting = _catalog_setting(path)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self._wrong_type(path, "must be an object", value, "write it as a YAML mapping of settings")
            value = {}
        self.value: dict[str, Any] = value

    def child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def valid(self, key: str) -> bool:
        """No problem was reported about `key`'s value (so what follows from it is worth reporting)."""
        return self.child_path(key) not in self.problems.paths

    def raw(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        value = self.value.get(key, _MISSING)
        return default if value is _MISSING or value is None else value

    def _bad(self, key: str, what: str, todo: str) -> None:
        self.problems.add(self.child_path(key), what, todo)

    def _wrong_type(self, path: str, what: str, value: Any, todo: str) -> None:
        self.problems.add(path, f"{what}, got {describe(value)}", todo, rank=WRONG_TYPE)

    def _declared(self, key: str, kinds: tuple[str, ...], **given: Any) -> None:
        """Refuse to read `key` other than as the catalog declares it: a mistake in belen's code, not the user's."""
        declared = self.setting.child(str(key))
        where = f"belen:{self.child_path(key)}"
        if declared is None:
            raise CatalogError(f"{where} is read by the settings code but not declared in "
                               f"components/settings/catalog.py — declare it there")
        if declared.kind not in (*kinds, "any"):
            raise CatalogError(f"{where} is read as {' or '.join(kinds)} but declared as {declared.kind}")
        for name, value in given.items():
            expected = getattr(declared, name)
            if name == "required":
                differs = expected and not value
            elif name == "enum":
                differs = bool(expected) and value is not None and set(value) != set(expected)
            else:
                differs = expected is not None and value is not None and value != expected
            if differs:
                raise CatalogError(f"{where} is read with {name} {value!r} but declared with {expected!r}")

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
        allowed = list(choices) if choices is not None else None
        self._declared(key, ("string",), default=default, required=required, enum=allowed)
        value = self.raw(key)
        if value is None:
            if required:
                self.problems.require(self.child_path(key), "is required", todo)
            return default
        if coerce_numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self._wrong_type(self.child_path(key), "must be a string", value, todo)
            return default
        if allowed is not None and value not in allowed:
            self._bad(key, f"'{value}' is not one of {', '.join(allowed)}", _choice_hint(value, allowed))
            return default
        if check is not None:
            problem = check(value)
            if problem:
                self._bad(key, problem, todo)
                return default
        return value

    def bool(self, key: str, default: bool) -> bool:
        self._declared(key, ("boolean",), default=default)
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self._wrong_type(self.child_path(key), "must be true or false", value, "set it to true or false")
            return default
        return value

    def int(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        self._declared(key, ("integer",), default=default, minimum=minimum, maximum=maximum)
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(self.child_path(key), "must be a whole number", value, "set it to a whole number")
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
                self._wrong_type(path, "must be a string", item, todo or "write a string")
                continue
            problem = check(item) if check else None
            if problem:
                self.problems.add(path, problem, todo or "fix the value")
                continue
            result.append(item)
        return result

    def items(self, key: str) -> Iterator[tuple[str, Any]]:
        """(path, value) for each element of a list setting."""
        self._declared(key, ("list",))
        value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, list):
            self._wrong_type(self.child_path(key), "must be a list", value, "write it as a YAML list")
            return
        for index, item in enumerate(value):
            yield f"{self.child_path(key)}[{index}]", item

    def nodes(self, key: str) -> Iterator[Node]:
        """A Node for each element of a list of objects."""
        for path, item in self.items(key):
            yield Node(item, path, self.problems)

    def node(self, key: str) -> Node:
        self._declared(key, ("object", "map"))
        return Node(self.raw(key), self.child_path(key), self.problems)

    def entries(self, key: str) -> Iterator[tuple[str, Any]]:
        """(name, value) of a mapping keyed by user-chosen names (not a fixed set of settings)."""
        self._declared(key, ("map",))
        value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, dict):
            self._wrong_type(self.child_path(key), "must be an object", value, "write it as a YAML mapping")
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
            self.problems.add(self.child_path(key), "unknown setting", hint, rank=UNKNOWN)


def _choice_hint(value: str, allowed: list[str]) -> str:
    """What to write instead of a value that is not among `allowed`: the one it was meant to be, if clear."""
    same_but_case = [choice for choice in allowed if choice.lower() == value.lower()]
    close = same_but_case or difflib.get_close_matches(value, allowed, n=1)
    return f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(allowed)}"


def _catalog_setting(path: str) -> Setting:
    """The declaration of the setting at `path`; reading an undeclared one is a mistake in belen's code."""
    from components.settings.catalog import SETTINGS  # the catalog imports the parsers' constants

    setting = SETTINGS.at(path)
    if setting is None:
        raise CatalogError(f"belen:{path} is read by the settings code but not declared in "
                           f"components/settings/catalog.py — declare it there")
    return setting


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
