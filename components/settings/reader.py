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

from components.crypto import pem
from components.errors import SettingsError
from components.settings.catalog import SETTINGS, Setting
from components.settings.constants import mismatch


class CatalogError(Exception):
    """The settings code reads a setting components/settings/catalog.py does not declare: a bug in belen."""


# How early a problem is listed: a key belen does not know, or a value of the wrong type, is often the
# cause of the problems found after it (`instal: true` leaves install false), so it comes first.
UNKNOWN, WRONG_TYPE, OTHER = range(3)


class Problems:
    """Problems found so far, each one line `belen:<path>: <what> — <what to do>`, root causes first."""

    def __init__(self) -> None:
        self._found: list[tuple[int, str]] = []
        self.missing: list[str] = []  # paths of required values that are absent, in the order found
        self.paths: set[str] = set()  # where a problem was found: its consequences are not reported again
        self.declared: list[str] = []  # the problems the catalog's declarations state

    def add(self, path: str, what: str, todo: str, *, rank: int = OTHER, declared: bool = False) -> None:
        """`declared`: the catalog states what is wrong (a type, a required key, a choice, a bound, a pattern),
        so stacks/belen.schema.json refuses it too."""
        line = f"belen:{path}: {what} — {todo}"
        self._found.append((rank, line))
        self.paths.add(path)
        if declared:
            self.declared.append(line)

    def require(self, path: str, what: str, todo: str, *, where: str | None = None, declared: bool = False) -> None:
        """A problem that a value must be set at `where` (default `path`)."""
        self.add(path, what, todo, declared=declared)
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
        self.given = value is not None  # the catalog's "required" holds where the object is given
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

    def raw(self, key: str) -> Any:
        """The value of `key` as written (None if absent), marked as read."""
        self._seen.add(key)
        return self.value.get(key)

    def _bad(self, key: str, what: str, todo: str, declared: bool = False) -> None:
        self.problems.add(self.child_path(key), what, todo, declared=declared)

    def _wrong_type(self, path: str, what: str, value: Any, todo: str) -> None:
        self.problems.add(path, f"{what}, got {describe(value)}", todo, rank=WRONG_TYPE, declared=True)

    def _declared(self, key: str) -> Setting:
        """The catalog's declaration of `key`: its default, choices, bounds and pattern are the ones read."""
        declared = self.setting.child(str(key))
        if declared is None:
            raise _undeclared(self.child_path(key))
        return declared

    def str(
        self,
        key: str,
        *,
        todo: str = "set it to a string",
        check: Callable[[str], str | None] | None = None,
        required: bool = False,
        choices: Iterable[str] | None = None,
    ) -> str | None:
        """A string as declared. `check` returns a problem text or None, before the declared choices and
        pattern are checked; `required` and `choices` add what the catalog cannot declare (they depend on
        other settings)."""
        declared = self._declared(key)
        value = self.raw(key)
        if value is None:
            if required or declared.required:
                self.problems.require(self.child_path(key), "is required", todo,
                                      declared=declared.required and self.given)
            return declared.default
        if declared.numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self._wrong_type(self.child_path(key), "must be a string", value, todo)
            return declared.default
        allowed = list(choices or declared.enum)
        problem, stated = _problem(value, check, declared.pattern)
        if not problem and allowed and value not in allowed:
            self._bad(key, f"'{value}' is not one of {', '.join(allowed)}", _choice_hint(value, allowed),
                      declared=not choices)
            return declared.default
        if problem:
            self._bad(key, problem, todo, declared=stated)
            return declared.default
        return value

    def bool(self, key: str) -> bool | None:
        declared = self._declared(key)
        value = self.raw(key)
        if value is None:
            return declared.default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self._wrong_type(self.child_path(key), "must be true or false", value, "set it to true or false")
            return declared.default
        return value

    def int(self, key: str) -> int:
        declared = self._declared(key)
        minimum, maximum = declared.minimum, declared.maximum
        value = self.raw(key)
        if value is None:
            return declared.default
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(self.child_path(key), "must be a whole number", value, "set it to a whole number")
            return declared.default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
            self._bad(key, f"{value} is out of range", f"use a number {bounds}", declared=True)
            return declared.default
        return value

    def strings(self, key: str, *, check: Callable[[str], str | None] | None = None, todo: str = "") -> list[str]:
        """A list of strings (each checked)."""
        result = []
        pattern = self._declared(key).item.pattern
        for path, item in self.items(key):
            if not isinstance(item, str):
                self._wrong_type(path, "must be a string", item, todo or "write a string")
                continue
            problem, stated = _problem(item, check, pattern)
            if problem:
                self.problems.add(path, problem, todo or "fix the value", declared=stated)
                continue
            result.append(item)
        return result

    def items(self, key: str) -> Iterator[tuple[str, Any]]:
        """(path, value) for each element of a list setting."""
        for index, item in enumerate(self._typed(key, list, "must be a list", "write it as a YAML list") or []):
            yield f"{self.child_path(key)}[{index}]", item

    def _typed(self, key: str, kind: type, what: str, todo: str) -> Any:
        """The value of a declared list or map `key` if it is one (None if absent or not one: reported)."""
        self._declared(key)
        value = self.raw(key)
        if value is None or isinstance(value, kind):
            return value
        self._wrong_type(self.child_path(key), what, value, todo)
        return None

    def nodes(self, key: str) -> Iterator[Node]:
        """A Node for each element of a list of objects."""
        for path, item in self.items(key):
            yield Node(item, path, self.problems)

    def node(self, key: str) -> Node:
        self._declared(key)
        return Node(self.raw(key), self.child_path(key), self.problems)

    def entries(self, key: str) -> Iterator[tuple[str, Any]]:
        """(name, value) of a mapping keyed by user-chosen names (not a fixed set of settings)."""
        yield from (self._typed(key, dict, "must be an object", "write it as a YAML mapping") or {}).items()

    def done(self) -> None:
        """Every key not read is a typo or an unsupported setting: report it with a suggestion."""
        known = sorted(self._seen)
        for key in self.value:
            if key in self._seen:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known settings here: {', '.join(known) or 'none'}"
            self.problems.add(self.child_path(key), "unknown setting", hint, rank=UNKNOWN,
                              declared=self.setting.kind == "object" and key not in self.setting.fields)


def _problem(value: str, check: Callable[[str], str | None] | None, pattern: str | None) -> tuple[str | None, bool]:
    """A value's problem, `check`'s before the declared pattern's, and whether the catalog states it."""
    problem = check(value) if check else None
    if problem or not pattern:
        return problem, False
    problem = mismatch(pattern, value)
    return problem, problem is not None


def _choice_hint(value: str, allowed: list[str]) -> str:
    """What to write instead of a value that is not among `allowed`: the one it was meant to be, if clear."""
    same_but_case = [choice for choice in allowed if choice.lower() == value.lower()]
    close = same_but_case or difflib.get_close_matches(value, allowed, n=1)
    return f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(allowed)}"


def _catalog_setting(path: str) -> Setting:
    """The declaration of the setting at `path`; reading an undeclared one is a mistake in belen's code."""
    setting = SETTINGS.at(path)
    if setting is None:
        raise _undeclared(path)
    return setting


def _undeclared(path: str) -> CatalogError:
    return CatalogError(f"belen:{path} is read by the settings code but not declared in "
                        f"components/settings/catalog.py — declare it there")


def pem_certificates(text: str) -> str | None:
    """PEM text holding one or more certificates (a CA bundle)."""
    try:
        pem.load_certificates(text)
    except pem.PemError as exc:
        return str(exc)
    return None
