"""Run the real belen program (or any Pulumi function) under the Pulumi mock runtime and record
the resource graph exactly as the engine would be asked to build it.

Used by `python -m tools.render`, the tests and the benchmark. No CLI, no cluster, no network.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import logging
import runpy
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_DIR / "__main__.py"
SECRET = "[secret]"
UNKNOWN = "[unknown]"
_SIG_KEY = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig


@dataclass
class Resource:
    """One RegisterResource or ReadResource request, as the engine would receive it."""

    type: str
    name: str
    urn: str
    parent: str | None
    dependencies: list[str]
    custom: bool
    read: bool
    provider: str | None
    protect: bool
    retain_on_delete: bool
    raw_inputs: dict[str, Any]  # protobuf-JSON form: secrets and unknowns still marked

    def inputs(self, show_secrets: bool = False) -> Any:
        return reveal(self.raw_inputs, show_secrets)

    @property
    def secret_paths(self) -> list[str]:
        found: list[str] = []
        _collect_secret_paths(self.raw_inputs, "", found)
        return found

    def is_secret(self, path: str) -> bool:
        """True if the input at dotted `path` (or a value around it) was passed as a secret."""
        return any(path == p or path.startswith(p + ".") for p in self.secret_paths)

    def to_json(self, show_secrets: bool = False) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "parent": self.parent,
            "dependencies": self.dependencies,
            "custom": self.custom,
            "read": self.read,
            "provider": self.provider,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "inputs": self.inputs(show_secrets),
            "secretPaths": self.secret_paths,
        }


@dataclass
class StackOutput:
    value: Any
    secret: bool
    known: bool

    def shown(self, show_secrets: bool = False) -> Any:
        if not self.known:
            return UNKNOWN
        if self.secret and not show_secrets:
            return SECRET
        return self.value


@dataclass
class Run:
    resources: list[Resource]
    outputs: dict[str, StackOutput]
    warnings: list[str]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}


def reveal(value: Any, show_secrets: bool) -> Any:
    """Protobuf-JSON inputs → plain JSON, secrets as `[secret]`, unknowns as `[unknown]`."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            inner = value.get("value")
            return reveal(inner, show_secrets) if show_secrets or inner == rpc.UNKNOWN else SECRET
        return {k: reveal(v, show_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, show_secrets) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct carries every number as a double
    return value


def _collect_secret_paths(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            found.append(path)
            return
        for key, item in value.items():
            _collect_secret_paths(item, f"{path}.{key}" if path else key, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect_secret_paths(item, f"{path}[{index}]", found)


def api_version_kind(type_token: str) -> tuple[str, str] | None:
    """`kubernetes:core/v1:Secret` → (`v1`, `Secret`); None for non-Kubernetes-object types."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group, version = parts[1].rsplit("/", 1)
    return (version if group == "core" else f"{group}/{version}"), parts[2]


class MissingStackOutputs(Exception):
    """The program read the outputs of stacks that the run was not given."""

    def __init__(self, refs: list[str]):
        self.refs = sorted(set(refs))  # the mocks see registrations in varying order: name them stably
        super().__init__(f"no outputs were given for stack(s) {', '.join(self.refs)}")


class BelenMocks(mocks.Mocks):
    """Serves StackReference outputs and `.get()` reads from files, and the stack's previous state (by
    default none: a first `up`) to the engine's readStackResourceOutputs; echoes inputs otherwise.

    Outputs that only a real deployment computes are left out, so they stay unknown, as in a preview.
    A StackReference without outputs is served unknown outputs too and noted in `missing`: the
    program runs to its end, as a preview would, and the run then reports what it lacked (raising
    inside the SDK's tasks would leave them failing one after the other, noisily, at exit).
    """

    def __init__(self, stack_outputs: Mapping[str, Mapping[str, Any]], reads: list[dict[str, Any]],
                 state: Mapping[str, Mapping[str, Any]] | None = None):
        self.stack_outputs = stack_outputs
        self.reads = reads
        self.state = state or {}  # URN → {type, outputs}: the previous update's resources, its root Stack's outputs too
        self.missing: list[str] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == "pulumi:pulumi:StackReference":
            ref = args.inputs.get("name") or args.name
            return ref, self._stack_reference(ref)
        if args.resource_id is not None and args.custom is None:
            return args.resource_id, self._read(args)
        return args.name, dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> dict:
        if args.token == "pulumi:pulumi:readStackResourceOutputs":
            return {"name": args.args.get("stackName"), "outputs": dict(self.state)}
        if args.token == "pulumi:pulumi:readStackOutputs":  # the root Stack resource's outputs
            roots = [r for r in self.state.values() if r.get("type") == "pulumi:pulumi:Stack"]
            return {"name": args.args.get("name"), "outputs": dict(roots[0].get("outputs") or {}) if roots else {},
                    "secretOutputNames": []}
        return {}

    def _stack_reference(self, ref: str) -> dict[str, Any]:
        if ref not in self.stack_outputs:
            if ref not in self.missing:
                self.missing.append(ref)
            return {"name": ref}
        served = dict(self.stack_outputs[ref])
        secret_names = served.pop("__secret__", [])
        return {"name": ref, "outputs": served, "secretOutputNames": list(secret_names)}

    def _read(self, args: mocks.MockResourceArgs) -> dict[str, Any]:
        identity = api_version_kind(args.typ)
        namespace, _, name = args.resource_id.rpartition("/")
        for obj in self.reads:
            meta = obj.get("metadata") or {}
            if (
                identity == (obj.get("apiVersion"), obj.get("kind"))
                and meta.get("name") == name
                and (meta.get("namespace") or "") == namespace
            ):
                return dict(obj)
        metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
        api_version, kind = identity or ("", "")
        return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that keeps the full requests: parents, dependencies, provider, protect, retain."""

    def __init__(self, mock: mocks.Mocks):
        super().__init__(mock)
        self.recorded: list[Resource] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        deps = set(request.dependencies)
        for prop in request.propertyDependencies.values():
            deps.update(prop.urns)
        self._record(request, response.urn, deps, read=False)
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self._record(request, response.urn, set(request.dependencies), read=True)
        return response

    def _record(self, request, urn: str, deps: set[str], read: bool) -> None:
        if threading.current_thread() is not threading.main_thread():
            try:
                _THREAD_LOOPS.add(asyncio.get_event_loop())
            except RuntimeError:  # this thread never needed one
                pass
        props = request.properties if read else request.object
        self.recorded.append(
            Resource(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=request.parent or None,
                dependencies=sorted(deps),
                custom=True if read else bool(request.custom),
                read=read,
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                protect=bool(getattr(request, "protect", False)),
                retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
                raw_inputs=json_format.MessageToDict(props),
            )
        )


# The SDK gives each worker thread an event loop and never closes it; left to the garbage collector
# they print "Exception ignored ... Invalid file descriptor". Closed at the end of each run.
_THREAD_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.messages.append(record.getMessage())


def run(
    program: Callable[[], Any],
    *,
    stack: str,
    config: Mapping[str, str],
    secret_keys: set[str] | frozenset[str] = frozenset(),
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    reads: list[dict[str, Any]] | None = None,
    project: str = "belen",
    state: Mapping[str, Mapping[str, Any]] | None = None,
) -> Run:
    """Run `program` under mocks in a fresh runtime context; raise what the program raised, or
    MissingStackOutputs when it read stacks whose outputs were not given (first: no check could run).

    Each run has its own event loop and its own set of tracked outputs, closed at its end with
    whatever a failed program left pending, so nothing of one run can run, fail or print during the
    next or at exit.
    """
    loop, context = asyncio.new_event_loop(), contextvars.Context()
    asyncio.set_event_loop(loop)
    try:
        return context.run(
            _run, program, stack, dict(config), set(secret_keys), stack_outputs or {}, reads or [], project, state or {}
        )
    except BaseException:
        # The futures that depended on the failed value hold the same error: the caller gets it
        # once, raised; it must not be printed again for each of them when they are collected.
        loop.set_exception_handler(_ignore_unretrieved)
        raise
    finally:
        context.run(_close, loop)


def _ignore_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if "exception was never retrieved" not in context.get("message", ""):
        loop.default_exception_handler(context)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())  # joins the worker threads
    loop.close()
    asyncio.set_event_loop(None)
    for thread_loop in list(_THREAD_LOOPS):
        if not thread_loop.is_closed():
            thread_loop.close()


def run_main(**kwargs: Any) -> Run:
    """Run belen's real `__main__.py`."""
    return run(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), **kwargs)


def _run(program, stack, config, secret_keys, stack_outputs, reads, project, state) -> Run:
    mock = BelenMocks(stack_outputs, reads, state)
    monitor = RecordingMonitor(mock)
    logger = logging.getLogger(f"belen.mockrun.{id(monitor)}")
    logger.propagate = False
    collector = _WarningCollector()
    logger.addHandler(collector)
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    # set_mocks leaves the tracked outputs to a set shared by every run: a failed run's outputs
    # would be awaited, and fail, in the next one.
    pulumi.runtime.settings.SETTINGS.outputs = set()
    mocks.set_mocks(mock, project=project, stack=stack, preview=True, monitor=monitor, logger=logger)
    try:
        _sync_await(run_pulumi_func(program))
    except Exception:
        if mock.missing:
            raise MissingStackOutputs(mock.missing) from None
        raise
    if mock.missing:
        raise MissingStackOutputs(mock.missing)
    root = pulumi.runtime.settings.get_root_resource()
    outputs = {name: _resolve(value) for name, value in sorted(root.outputs.items())}
    return Run(_topological(monitor.recorded), outputs, collector.messages)


def _resolve(value: Any) -> StackOutput:
    output = pulumi.Output.from_input(value)
    return StackOutput(
        value=_sync_await(output.future()),
        secret=bool(_sync_await(output.is_secret())),
        known=bool(_sync_await(output.is_known())),
    )


def _topological(resources: list[Resource]) -> list[Resource]:
    """Parents, providers and dependencies before dependents; ties broken by URN."""
    by_urn = {r.urn: r for r in resources}
    before: dict[str, set[str]] = {urn: set() for urn in by_urn}
    for r in resources:
        for dep in [r.parent, r.provider, *r.dependencies]:
            if dep and dep in by_urn and dep != r.urn:
                before[r.urn].add(dep)
    after: dict[str, list[str]] = {urn: [] for urn in by_urn}
    for urn, deps in before.items():
        for dep in deps:
            after[dep].append(urn)
    waiting = {urn: len(deps) for urn, deps in before.items()}
    ready = [urn for urn, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for nxt in after[urn]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(ordered) != len(by_urn):
        cyclic = sorted(set(by_urn) - {r.urn for r in ordered})
        raise RuntimeError(f"dependency cycle among: {', '.join(cyclic)}")
    return ordered
