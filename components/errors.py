"""The two ways belen refuses to go on.

Both subclass `pulumi.RunError`, which the Pulumi language host reports as a plain message
without a Python traceback.
"""

from __future__ import annotations

import pulumi


class SettingsError(pulumi.RunError):
    """Invalid stack configuration, found before any resource is registered.

    Carries every problem at once, each a line `belen:<key path>: <what is wrong> — <what to do>`.
    """

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("invalid belen settings:\n" + "\n".join(f"  {line}" for line in self.lines))


class ValueCheckError(pulumi.RunError):
    """A value that only exists at deployment time (e.g. from a StackReference) failed a check.

    Raised inside an apply, before the resources that would use the value are written.
    """

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def find_in_chain(exc: BaseException, types: tuple[type[BaseException], ...] = (SettingsError, ValueCheckError)):
    """The first exception of `types` in an exception's cause/context chain (belen's errors by default).

    Pulumi re-raises errors from applies wrapped in others, and the chain can loop, so it is
    walked with a visited set.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, types):
            return current
        pending.extend([current.__cause__, current.__context__, *getattr(current, "exceptions", ())])
    return None
