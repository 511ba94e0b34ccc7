"""What belen's command-line tools (`tools.render`, `tools.preflight`, `tools.keys`, `tools.resume`, `tools.bench`
…) do alike at their edges: one line instead of a traceback when this Python lacks belen's requirements or
when a program they run (pulumi, kubectl) is not installed, and a quiet end with the tool's own exit code
when the reader of their output goes away (`... | head -1`). Standard library only: it must run in any
Python."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

# belen's own packages: a module missing from these is a bug in belen, not a missing requirement.
OWN_PACKAGES = frozenset({"components", "tools", "tests"})
# Exit code of a tool that cannot start: the tools' code for bad input or a missing program.
CANNOT_START = 2
# Where README says how to install each program a tool runs.
INSTALL = {"pulumi": "the Pulumi CLI", "kubectl": "kubectl"}


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


def run_program(program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`program ARGS` (subprocess.run's keyword arguments). Not installed: the tool stops with one line,
    the same in every tool, and exit 2."""
    try:
        return subprocess.run([program, *args], **kwargs)
    except FileNotFoundError:
        print(f"error: {program} is not installed (not on PATH) — install {INSTALL.get(program, program)} "
              "(README, Prerequisites) and run this command again", file=sys.stderr)
        sys.exit(CANNOT_START)


class _UntilReaderGone:
    """Standard output (or error) that, once its reader has closed the pipe (`... | head -1`), sends the rest to
    /dev/null: the tool runs to its end and exits with its own verdict, as `grep -q` does."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def _discard(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
        self._stream.flush()  # what was buffered goes to /dev/null now

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s code, also when the reader of standard output goes away early (no BrokenPipeError
    traceback, no changed verdict)."""
    sys.stdout, sys.stderr = _UntilReaderGone(sys.stdout), _UntilReaderGone(sys.stderr)
    code = main()
    sys.stdout.flush()
    sys.exit(code)
