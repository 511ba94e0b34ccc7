"""`python -m tools.preflight`: the wiring from inputs to findings; the checks themselves are pure."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import tools.preflight
from components.crypto import pem, sealing
from components.errors import find_in_chain
from components.settings import missing_secrets
from components.settings.catalog import SETTINGS
from tools import keys as key_tools
from tools import mockrun, render
from tools.preflight.build import follow
from tools.preflight.checks import all_findings
from tools.preflight.model import CHECK_NAMES, Applied, Finding
from tools.preflight.platform import Platform, platform_of

KEY_BACKUP = f"kubectl get secret -n kube-system -l {sealing.KEY_LABEL} -o yaml"


class BadInput(Exception):
    """Inputs the check cannot start from: exit 2, one line a problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.secrets:
        return _secrets(args.stack)
    if args.repo is None:
        parser.error("the following arguments are required: --repo (or --secrets)")
    try:
        repo = Path(args.repo)
        if not repo.is_dir():
            raise BadInput([f"--repo {repo} is not a folder — pass a checkout of the GitOps repository"])
        extra_keys = _extra_keys(args.keys)
        platform = _platform(args)
    except (BadInput, render.UsageError, key_tools.KeysError) as exc:
        for line in getattr(exc, "lines", [str(exc)]):
            print(f"error: {line}", file=sys.stderr)
        return 2
    kubectl = shutil.which("kubectl")
    applied = follow(repo, platform, kubectl)
    sealing_keys = _sealing_keys(platform, extra_keys)
    findings = all_findings(applied, platform, sealing_keys)
    notes = [*applied.notes, *_notes(applied, platform, sealing_keys, kubectl)]
    report = _report(args, applied, findings, notes)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 1 if findings else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.preflight",
                                     description=tools.preflight.__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: evaluates stacks/Pulumi.STACK.yaml")
    parser.add_argument("--repo", metavar="DIR", help="a checkout of the GitOps repository Flux syncs")
    parser.add_argument("--secrets", action="store_true",
                        help="print the `pulumi config set --secret` line of each secret setting the stack file lacks")
    parser.add_argument("--config-file", action="append", default=[], metavar="FILE",
                        help="YAML mapping of full config keys to values, merged over the stack file (as tools.render)")
    parser.add_argument("--stack-outputs", action="append", default=[], metavar="REF=FILE",
                        help="JSON outputs served for StackReference(REF) (as tools.render)")
    parser.add_argument("--keys", action="append", default=[], metavar="FILE",
                        help="sealing keys (a kubectl backup or PEM pairs), e.g. of a key the stack generates")
    parser.add_argument("--json", action="store_true", help="write the findings and the summary as JSON")
    return parser


def _secrets(stack: str) -> int:
    """One `pulumi config set` line for each secret setting the stack needs and its file does not hold."""
    try:
        stack_file, values = render.read_stack_file(stack)
    except render.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = missing_secrets(values, stack)
    for path in missing:
        command = f"pulumi config set --secret --path 'belen:{path}' --stack {stack}"
        print(f"{command}  # {SETTINGS.at(path).doc}")
    if not missing:
        print(f"{stack_file.name} holds every secret setting stack '{stack}' needs")
    return 1 if missing else 0


def _platform(args: argparse.Namespace) -> Platform:
    """The stack's program, run offline: what the platform will hold."""
    layers = [render.read_config_file(path) for path in args.config_file]
    config, secret_keys = render.load_config(args.stack, layers)
    stack_outputs = dict(render.load_stack_outputs(spec) for spec in args.stack_outputs)
    try:
        run = mockrun.run_main(stack=args.stack, config=config, secret_keys=secret_keys, stack_outputs=stack_outputs)
    except Exception as exc:  # noqa: BLE001 - belen's own errors are bad input; others are re-raised
        missing = find_in_chain(exc, (mockrun.MissingStackOutputs,))
        if missing is not None:
            raise BadInput(render.missing_outputs_lines(missing)) from None
        error = find_in_chain(exc)
        if error is None:
            raise
        raise BadInput(error.lines + render.offline_secrets_line(args.stack, error.lines, config)) from None
    for warning in run.warnings + render.unread_stack_outputs(args.stack, stack_outputs, run):
        print(f"warning: {warning}", file=sys.stderr)
    platform = platform_of(run, args.stack)
    if not platform.kustomizations:
        raise BadInput([f"stack '{args.stack}' has no belen:flux, so nothing syncs from a repository — "
                        f"check a stack that configures Flux"])
    return platform


def _extra_keys(paths: list[str]) -> list[Any]:
    if not paths:
        return []
    items = key_tools.load_key_items(paths)
    loaded, problems = key_tools.check_items(items)
    hard = [p for p in problems if "expired" not in p.what]  # an expired key still opens what it sealed
    if hard:
        raise BadInput([f"{items[p.index].source if p.index >= 0 else 'keys'}: {p.what} — {p.todo}" for p in hard])
    return [pem.load_private_key(k.key_pem) for k in loaded]


def _sealing_keys(platform: Platform, extra: list[Any]) -> list[Any] | None:
    """The keys the replica's controller will hold; None when one of them is unknown offline."""
    if platform.generated_key and not extra:
        return None
    return [*platform.sealing_keys, *extra]


def _notes(applied: Applied, platform: Platform, sealing_keys: list[Any] | None, kubectl: str | None) -> list[str]:
    notes = []
    if applied.read_without_kubectl and kubectl is None:
        notes.append(f"kubectl is not installed: {len(applied.read_without_kubectl)} kustomization file(s) were read "
                     f"without it (resources, components and namespace only; patches, generators and name changes "
                     f"not applied) — install kubectl to build them as Flux does")
    sealed = sum(1 for o in applied.objects if o.kind == "SealedSecret")
    if sealing_keys is None and sealed:
        notes.append(f"{sealed} SealedSecret(s) not checked: stack '{platform.stack}' generates its sealing key, "
                     f"unknown offline — pass --keys with a backup of it ({KEY_BACKUP})")
    return notes


def _report(args: argparse.Namespace, applied: Applied, findings: list[Finding], notes: list[str]) -> dict[str, Any]:
    per_check = Counter(f.check for f in findings)
    return {
        "stack": args.stack,
        "repo": str(args.repo),
        "kustomizations": [f"{k.ref} ({k.spec.get('path') or './'})" for k in applied.followed],
        "checked": dict(sorted(Counter(o.kind for o in applied.objects).items())),
        "findings": [f.to_json() for f in findings],
        "findingsPerCheck": {check: per_check[check] for check in CHECK_NAMES},
        "notes": notes,
    }


def _print_text(report: dict[str, Any]) -> None:
    for finding in report["findings"]:
        print(finding["line"])
    for note in report["notes"]:
        print(f"note: {note}")
    checked = report["checked"]
    print(f"checked {sum(checked.values())} object(s) from {len(report['kustomizations'])} Kustomization(s): "
          + (", ".join(f"{count} {kind}" for kind, count in checked.items()) or "none"))
    print("findings per check: " + ", ".join(f"{check} {n}" for check, n in report["findingsPerCheck"].items()))
    total = len(report["findings"])
    print(f"{total} finding(s): stack '{report['stack']}' will " + (
        "not converge as it stands" if total else "converge as far as these checks see"))
