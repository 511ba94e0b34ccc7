"""`python -m tools.status`: stack inputs → one read of the cluster → the five areas → a table or JSON;
with --wait, again until whole or out of time."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import tools.status
from tools.status import checks, kube, stack

POLL_SECONDS = 5
PROGRESS_EVERY = 30  # seconds between progress lines that say nothing new
WIDTH = max(len(area) for area in checks.AREAS) + 2


def main(argv: list[str] | None = None, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> int:
    args = _parser().parse_args(argv)
    try:
        inputs = stack.read_inputs(args.stack, args.kubeconfig, args.context, args.stack_outputs)
        reader = kube.Reader(inputs.kubeconfig, inputs.kubeconfig_text, inputs.context)
    except (stack.StackError, kube.KubeconfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        areas, error = _poll(reader, inputs, args, sleep, clock)
    except kube.Unreachable as exc:  # refused: waiting does not help
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        reader.close()
    report = _report(inputs, reader, areas, error)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    if error:
        print(f"error: {error}", file=sys.stderr)
    return 0 if report["whole"] else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.status", description=tools.status.__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name (its settings in the Pulumi project here, else belen's stacks/)")
    parser.add_argument("--wait", type=_non_negative, default=0, metavar="SECONDS",
                        help="check again every few seconds until whole or SECONDS have passed, printing progress")
    parser.add_argument("--json", action="store_true", help="write the result as JSON")
    parser.add_argument("--kubeconfig", metavar="F", help="kubeconfig file, instead of the stack's")
    parser.add_argument("--context", metavar="C", help="kubeconfig context, instead of belen:cluster.context")
    parser.add_argument("--stack-outputs", metavar="FILE",
                        help="the stack's outputs as `pulumi stack output --json` writes them, instead of asking pulumi")
    parser.add_argument("--expiry-days", type=_non_negative, default=14, metavar="N",
                        help="warn about Certificates expiring in fewer days (default 14)")
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _poll(reader: kube.Reader, inputs: stack.StackInputs, args: argparse.Namespace,
          sleep: Callable[[float], None], clock: Callable[[], float]) -> tuple[list[checks.Area], str | None]:
    """Check until whole, or once more after --wait seconds; an unreachable API server is retried meanwhile."""
    started = clock()
    said, said_at = "", started
    while True:
        try:
            areas = checks.check_all(reader.snapshot(), inputs.expected, dt.datetime.now(dt.timezone.utc),
                                     args.expiry_days)
            error = None
        except kube.Unreachable as exc:
            if exc.refused:
                raise
            areas, error = [], str(exc)
        elapsed = clock() - started
        if (areas and not any(a.problems for a in areas)) or elapsed >= args.wait:
            return areas, error
        news = error or _left(areas)
        if news != said or clock() - said_at >= PROGRESS_EVERY:
            print(f"waiting ({int(elapsed)} s of {args.wait}): {news}", file=sys.stderr, flush=True)
            said, said_at = news, clock()
        sleep(min(POLL_SECONDS, max(args.wait - elapsed, 0)))


def _left(areas: list[checks.Area]) -> str:
    counts = ", ".join(f"{a.name} {len(a.problems)}" for a in areas if a.problems)
    return f"{sum(len(a.problems) for a in areas)} problem(s) left ({counts})"


def _report(inputs: stack.StackInputs, reader: kube.Reader, areas: list[checks.Area], error: str | None) -> dict[str, Any]:
    problems = sum(len(a.problems) for a in areas)
    return {
        "stack": inputs.stack,
        "apiServer": reader.server,
        "context": inputs.context,
        "whole": not error and problems == 0,
        "problems": problems,
        "warnings": sum(len(a.warnings) for a in areas),
        "areas": [a.to_json() for a in areas],
        **({"error": error} if error else {}),
    }


def _print_table(report: dict[str, Any]) -> None:
    print(f"stack {report['stack']}: API server {report['apiServer']}"
          + (f" (context {report['context']})" if report["context"] else ""))
    _row("AREA", "STATE", "DETAIL")
    for area in report["areas"]:
        for line in area["problems"]:
            _row(area["area"], "PROBLEM", line)
        for line in area["warnings"]:
            _row(area["area"], "warning", line)
        if area["whole"]:
            _row(area["area"], "ok", area["summary"])
    if report.get("error"):
        print("whole: unknown — the API server did not answer")
        return
    print(f"whole: {'yes' if report['whole'] else 'no'} ({report['problems']} problem(s), "
          f"{report['warnings']} warning(s))")


def _row(area: str, state: str, text: str) -> None:
    print(f"{area:<{WIDTH}}{state:<9}{text}")
