"""What belen's command-line tools (`tools.render`, `tools.preflight`, `tools.keys`, `tools.schema`) do alike
at their edges: one line instead of a traceback when this Python lacks belen's requirements, and a quiet
end when the reader of their output goes away (`... | head -1`). Standard library only: it must run in
any Python."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

# belen's own packages: a module missing from these is a bug in belen, not a missing requirement.
OWN_PACKAGES = frozenset({"components", "tools", "tests"})
# Exit code of a tool that cannot start: the tools' code for bad input or a missing program.
CANNOT_START = 2


@contextlib.contextmanager
def requirements() -> Iterator[None]:
    """Around a tool's imports: a Python without belen's requirements gets one line saying what to run."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in OWN_PACKAGES:
            raise
        print(f"error: belen's requirements are not installed in this Python ({sys.executable} has no module "
              f"'{exc.name}') — run ./bin/test once (it creates ./venv) and use {_venv_command()}", file=sys.stderr)
        sys.exit(CANNOT_START)


def _venv_command() -> str:
    """This very command, run with ./venv's Python."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    module = spec.name.removesuffix(".__main__") if spec else "tools.…"
    return shlex.join(["venv/bin/python", "-m", module, *sys.argv[1:]])


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s code. When the reader closes the pipe early, stop quietly with exit 0: the reader
    had what it wanted, which is no failure of the tool (and no BrokenPipeError traceback)."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Whatever Python would still write at exit goes nowhere, instead of failing once more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
        code = 0
    sys.exit(code)
