"""Render a stack offline: evaluate the real program under the Pulumi mock runtime and write what
`pulumi up` would apply.

    python -m tools.render STACK [--out DIR] [--config-file FILE]... [--stack-outputs REF=FILE]...
                                 [--reads FILE] [--show-secrets]

Exit codes: 0 rendered (or its reader closed the pipe); 2 invalid settings or inputs, or belen's
requirements missing from this Python; 3 a check on values failed while they resolved (e.g. values
from a StackReference); 1 an internal error.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools import cli

with cli.requirements():
    import yaml

    from components.errors import SettingsError, find_in_chain
    from components.settings import NAMESPACE, PATH_PART, SECRET_KEYS, secure_paths, set_path
    from components.settings.charts import read_chart
    from tools import mockrun

STACKS_DIR = mockrun.PROJECT_DIR / "stacks"
RENDER_INPUTS = mockrun.PROJECT_DIR / "tests" / "render-inputs"  # dummy secrets of the example stacks
# libyaml's emitter when PyYAML has it (the same text, five times faster), else the pure-Python one.
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class UsageError(Exception):
    """Bad render inputs (files, references): exit 2, one line each."""

    def __init__(self, *lines: str):
        self.lines = list(lines)
        super().__init__("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out) if args.out else mockrun.PROJECT_DIR / "build" / "render" / args.stack
    try:
        _clear_previous_render(out)
        layers = [read_config_file(path) for path in args.config_file]
        config, secret_keys = load_config(args.stack, layers)
        stack_outputs = dict(load_stack_outputs(spec) for spec in args.stack_outputs)
        reads = _load_reads(args.reads) if args.reads else []
    except UsageError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
    try:
        result = mockrun.run_main(
            stack=args.stack, config=config, secret_keys=secret_keys, stack_outputs=stack_outputs, reads=reads
        )
    except mockrun.MissingStackOutputs as exc:
        for line in missing_outputs_lines(exc):
            print(f"error: {line}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes; unexpected ones re-raised
        error = find_in_chain(exc)
        if error is None:
            raise
        lines = error.lines + (offline_secrets_line(args.stack, error.lines, config)
                               if isinstance(error, SettingsError) else [])
        for line in lines:
            print(line, file=sys.stderr)
        return 2 if isinstance(error, SettingsError) else 3
    for warning in result.warnings + unread_stack_outputs(args.stack, stack_outputs, result):
        print(f"warning: {warning}", file=sys.stderr)
    write_render(result, out, args.show_secrets)
    print(f"rendered {len(result.resources)} resources of stack '{args.stack}' into {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: renders stacks/Pulumi.STACK.yaml")
    parser.add_argument("--out", help="output folder (default build/render/STACK), replaced on each run")
    parser.add_argument("--config-file", action="append", default=[], metavar="FILE",
                        help="YAML mapping of full config keys to values, merged over the stack file")
    parser.add_argument("--stack-outputs", action="append", default=[], metavar="REF=FILE",
                        help="JSON outputs served for StackReference(REF); keys listed in '__secret__' are secret")
    parser.add_argument("--reads", metavar="FILE", help="YAML list of Kubernetes objects served to .get() reads")
    parser.add_argument("--show-secrets", action="store_true", help="write secret values instead of [secret]")
    return parser


def load_config(stack: str, layers: list[dict[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """Stack file, then each layer (a --config-file) over it: (config as the engine passes it, secret keys).

    A layer's key is a full key (`belen:gitAuth`, replacing the whole value) or a path in one, as
    `pulumi config set --path` takes it (`belen:gitAuth.identity`). Every `secure:` value of the stack
    file, wherever it sits, must be supplied by a layer; like the engine, a key holding one is secret.
    """
    stack_file, values = read_stack_file(stack)
    secure = {key for key, value in values.items() if secure_paths(value)}
    supplied: set[str] = set()
    for overrides in layers:
        for key, value in overrides.items():
            supplied.add(_merge(values, str(key), copy.deepcopy(value)))  # later layers may set paths in it
    unsupplied = [f"{key}{path}" for key, value in values.items() for path in secure_paths(value)]
    if unsupplied:
        raise UsageError(*(f"{path} is a secure value in {stack_file.name} that no --config-file supplies — add it to "
                           f"a --config-file" for path in unsupplied))
    schema_secret = {f"{NAMESPACE}:{key}" for key in SECRET_KEYS}
    secret_keys = secure | (supplied & schema_secret)
    return {key: as_config_string(value) for key, value in values.items()}, secret_keys


def read_stack_file(stack: str) -> tuple[Path, dict[str, Any]]:
    """The stack file and its `config:` mapping, as written."""
    stack_file = STACKS_DIR / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))
        raise UsageError(f"no stack file {stack_file.relative_to(mockrun.PROJECT_DIR)} — known stacks: {', '.join(known)}")
    return stack_file, dict((read_yaml(stack_file, dict) or {}).get("config") or {})


def _merge(values: dict[str, Any], key: str, value: Any) -> str:
    """Set a layer's key over `values`; the full top-level key it set."""
    if key in values:
        values[key] = value
        return key
    head = PATH_PART.match(key).group(0)
    if not set_path(values, key, value, replace=True):
        raise UsageError(f"--config-file key {key} runs through a value of {head} that is not an object or list "
                         f"holding it — write the whole {head} instead")
    return head


def offline_secrets_line(stack: str, lines: list[str], config: dict[str, str]) -> list[str]:
    """Settings lines that name secret settings the run was not given: offline, the fix is a --config-file
    (the lines' `pulumi config set --secret` stores them for `pulumi up`, where an offline tool cannot read)."""
    prefix = f"{NAMESPACE}:"
    named = {line[len(prefix):].split(":", 1)[0].split(".", 1)[0].split("[", 1)[0] for line in lines
             if line.startswith(prefix)}
    absent = sorted(key for key in named & set(SECRET_KEYS) if f"{prefix}{key}" not in config)
    if not absent:
        return []
    example = RENDER_INPUTS / f"{stack}.yaml"
    given = (f"--config-file {example.relative_to(mockrun.PROJECT_DIR)}, which holds dummy values for them"
             if example.is_file() else "--config-file FILE of dummy values for them (tests/render-inputs/ holds "
             "examples)")
    return [f"offline, secret settings ({', '.join(prefix + key for key in absent)}) come from a --config-file, "
            f"not from the Pulumi backend — add {given}"]


def missing_outputs_lines(missing: mockrun.MissingStackOutputs) -> list[str]:
    """One line per stack whose outputs a run needed and was not given."""
    return [f"the program reads the outputs of stack '{ref}' — pass them with --stack-outputs {ref}=FILE"
            for ref in missing.refs]


def unread_stack_outputs(stack: str, given: dict[str, Any], run: mockrun.Run) -> list[str]:
    """A --stack-outputs the program never read (a typo in REF, a stack that reads none): one line each."""
    read = sorted({r.inputs().get("name") or r.name for r in run.resources if r.type == "pulumi:pulumi:StackReference"})
    reads = f"it reads {', '.join(read)}" if read else "it reads no other stack"
    return [f"--stack-outputs {ref}: stack '{stack}' does not read that stack ({reads}) — check the name"
            for ref in sorted(set(given) - set(read))]


def as_config_string(value: Any) -> str:
    """The engine passes every config value as text: objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def read_config_file(path: str) -> dict[str, Any]:
    """A --config-file: a YAML mapping of full config keys to values."""
    layer = read_yaml(Path(path), dict, "write one full key a line, `belen:gitAuth.identity: \"…\"`, as "
                      "tests/render-inputs/cloud.yaml does")
    return layer or {}


def read_yaml(path: Path, expected: type, todo: str = "correct the file") -> Any:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {_yaml_problem(exc)} — correct the file") from None
    if data is not None and not isinstance(data, expected):
        found = {dict: "mapping", list: "list"}.get(type(data), "single value")
        raise UsageError(f"{path} must hold a YAML {'mapping' if expected is dict else 'list'}, not a {found} — {todo}")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What the parser found and where, on one line (its own message spans several, quoting the text)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def load_stack_outputs(spec: str) -> tuple[str, dict[str, Any]]:
    ref, sep, path = spec.partition("=")
    if not sep or not ref or not path:
        raise UsageError(f"--stack-outputs takes REF=FILE, got '{spec}'")
    return ref, read_stack_outputs(path)


def read_stack_outputs(path: str) -> dict[str, Any]:
    """A JSON object of a stack's outputs, as `pulumi stack output --json` writes them."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a JSON object of stack outputs")
    return data


def _load_reads(path: str) -> list[dict[str, Any]]:
    objects = read_yaml(Path(path), list, "list the Kubernetes objects, `- apiVersion: v1` …, as "
                        "docs/examples/ops-issued-secrets.yaml does") or []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict) or not obj.get("kind") or not (obj.get("metadata") or {}).get("name"):
            raise UsageError(f"{path}: item {index} is not a Kubernetes object with kind and metadata.name")
    return objects


RENDER_ENTRIES = {"resources.json", "outputs.json", "manifests", "helm"}


def _clear_previous_render(out: Path) -> None:
    """Remove an earlier render, so a failed run leaves none that could pass for this run's.

    Only a folder holding nothing but a render is removed: `--out` pointing elsewhere loses no data.
    """
    if not out.exists():
        return
    if not out.is_dir() or not {p.name for p in out.iterdir()} <= RENDER_ENTRIES:
        raise UsageError(f"--out {out} exists and is not a belen render — choose an empty or new folder")
    shutil.rmtree(out)


def write_render(result: mockrun.Run, out: Path, show_secrets: bool) -> None:
    """Write the render into a fresh folder, then swap it in, so a failed run leaves no half render."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        _dump_json(staging / "resources.json", [r.to_json(show_secrets) for r in result.resources])
        _dump_json(staging / "outputs.json", {k: v.shown(show_secrets) for k, v in result.outputs.items()})
        for folder, documents in (("manifests", manifests(result, show_secrets)), ("helm", helm_releases(result, show_secrets))):
            (staging / folder).mkdir()
            for filename, document in documents.items():
                (staging / folder / filename).write_text(yaml.dump(document, Dumper=YAML_DUMPER, sort_keys=True))
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def is_manifest(resource: mockrun.Resource) -> bool:
    return (
        resource.custom
        and not resource.read
        and mockrun.api_version_kind(resource.type) is not None
        and not resource.type.startswith("kubernetes:helm.sh/")
    )


def manifests(result: mockrun.Run, show_secrets: bool) -> dict[str, dict[str, Any]]:
    """One file per Kubernetes object: `<kind>-[<namespace>-]<name>.yaml`."""
    files: dict[str, dict[str, Any]] = {}
    for resource in result.resources:
        if not is_manifest(resource):
            continue
        obj = resource.inputs(show_secrets)
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        parts = [obj.get("kind", "object"), meta.get("namespace"), name if isinstance(name, str) and name != mockrun.UNKNOWN else resource.name]
        filename = "-".join(str(p) for p in parts if p).lower() + ".yaml"
        if filename in files:
            filename = filename[:-5] + f"--{resource.name}.yaml"
        files[filename] = obj
    return files


def helm_releases(result: mockrun.Run, show_secrets: bool) -> dict[str, dict[str, Any]]:
    files = {}
    for resource in result.resources:
        if not resource.type.startswith("kubernetes:helm.sh/"):
            continue
        inputs = resource.inputs(show_secrets)
        files[f"{resource.name}.yaml"] = {
            "name": inputs.get("name", resource.name),
            "namespace": inputs.get("namespace"),
            **release_source(inputs),
            "values": inputs.get("values") or {},
        }
    return files


def release_source(inputs: dict[str, Any]) -> dict[str, Any]:
    """The chart's name, version and source (repository, oci:// path or local path) of a release's inputs."""
    chart, version = inputs.get("chart"), inputs.get("version")
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    if repository:
        return {"chart": chart, "version": version, "source": repository}
    if chart.startswith("oci://"):
        source, _, name = chart.rpartition("/")
        return {"chart": name, "version": version, "source": source}
    name, version = read_chart(Path(chart))  # a local chart, checked by the settings
    return {"chart": name, "version": version, "source": chart}


if __name__ == "__main__":
    cli.run(main)
