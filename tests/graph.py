"""Test helpers: render a stack or run a component under mocks, and ask questions of the graph.

Renders run in the test's own process; a render of the same inputs is computed once per session
(tests only read a Graph). Real subprocesses (`run_cli`) are kept for the command-line contract.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools import mockrun, render

PROJECT_DIR = mockrun.PROJECT_DIR
RENDER_INPUTS = PROJECT_DIR / "tests" / "render-inputs"


class Graph:
    """The recorded resources of one run, with questions tests ask of them."""

    def __init__(self, run: mockrun.Run):
        self.run = run
        self.resources = run.resources
        self.by_urn = run.by_urn()

    def find(self, type_: str, name: str | None = None) -> list[mockrun.Resource]:
        """Resources whose type equals or ends with `type_` (e.g. `core/v1:Secret`)."""
        return [
            r for r in self.resources
            if (r.type == type_ or r.type.endswith(type_)) and (name is None or r.name == name)
        ]

    def one(self, type_: str, name: str | None = None) -> mockrun.Resource:
        found = self.find(type_, name)
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def objects(self, kind: str) -> list[mockrun.Resource]:
        """Kubernetes objects (not reads, not Helm releases) of a kind."""
        return [r for r in self.resources if render.is_manifest(r) and r.type.endswith(f":{kind}")]

    def obj(self, kind: str, name: str) -> mockrun.Resource:
        found = [r for r in self.objects(kind) if (r.inputs().get("metadata") or {}).get("name") == name]
        assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
        return found[0]

    def depends_on(self, dependent: mockrun.Resource, dependency: mockrun.Resource) -> bool:
        """True if `dependent` waits for `dependency`, directly or through other resources."""
        seen: set[str] = set()
        pending = list(dependent.dependencies)
        while pending:
            urn = pending.pop()
            if urn == dependency.urn:
                return True
            if urn in seen or urn not in self.by_urn:
                continue
            seen.add(urn)
            pending.extend(self.by_urn[urn].dependencies)
        return False

    def children(self, parent: mockrun.Resource) -> list[mockrun.Resource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def output(self, name: str) -> mockrun.StackOutput:
        return self.run.outputs[name]


def render_inputs(stack: str) -> list[dict[str, Any]]:
    path = RENDER_INPUTS / f"{stack}.yaml"
    return [yaml.safe_load(path.read_text())] if path.exists() else []


def render_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    with_inputs: bool = True,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    reads: list[dict[str, Any]] | None = None,
) -> Graph:
    """Run the real program for a shipped stack, with its render inputs and `overrides` over them.

    The same inputs give the same Graph object, computed once per session: treat it as read-only.
    """
    key = json.dumps([stack, overrides, with_inputs, stack_outputs, reads], default=str)  # keeps key order
    return _render_stack(key)


@functools.lru_cache(maxsize=None)
def _render_stack(key: str) -> Graph:
    stack, overrides, with_inputs, stack_outputs, reads = json.loads(key)
    layers = (render_inputs(stack) if with_inputs else []) + ([overrides] if overrides else [])
    config, secret_keys = render.load_config(stack, layers)
    return Graph(mockrun.run_main(
        stack=stack, config=config, secret_keys=secret_keys, stack_outputs=stack_outputs, reads=reads,
    ))


def run_program(program: Callable[[], Any], stack: str = "test", **kwargs: Any) -> Graph:
    """Run a small program (e.g. one component) under mocks."""
    kwargs.setdefault("config", {})
    return Graph(mockrun.run(program, stack=stack, **kwargs))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path = PROJECT_DIR, env: Mapping[str, str] | None = None) -> CliResult:
    """`python ARGS` in a new process: the command-line contract (exit code, stdout, stderr, files)."""
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_main(main: Callable[[list[str]], int], *args: str) -> CliResult:
    """A tool's entry point (`render.main`, `keys.main`) in this process, its output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def render_cli(stack: str, *args: str) -> CliResult:
    """`python -m tools.render STACK` with the stack's render inputs first, then `args`, run in this
    process (test_cli_contract.py runs the real command for every failure path)."""
    inputs = RENDER_INPUTS / f"{stack}.yaml"
    base = ["--config-file", str(inputs)] if inputs.exists() else []
    return run_main(render.main, stack, *base, *args)


def render_failure(tmp_path: Path, config: Mapping[str, Any] | None = None, stack: str = "local", *,
                   expect: int = 2, args: tuple[str, ...] = ()) -> str:
    """Render `stack` (with its render inputs, then `config`) expecting failure; returns stderr.

    Every failure must exit with `expect`, print no traceback and leave no render behind.
    """
    extra = ["--config-file", str(write_yaml(tmp_path / "in.yaml", dict(config)))] if config else []
    result = render_cli(stack, "--out", str(tmp_path / "out"), *extra, *args)
    assert result.code == expect, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
    return result.stderr
