"""After an interrupted `pulumi up` (the machine died, the process was killed): ready the stack for the
next `pulumi up`.

    python -m tools.resume STACK

Run it where you run `pulumi up` (the project folder, the same backend and passphrase). It
1. removes the stack's lock when the `pulumi` that took it is gone (a dead process on this machine);
   a lock of a live process, or of another machine, stops it with the holder named;
2. runs `pulumi refresh --clear-pending-creates`: the operations the interruption left pending are
   dropped and the state is read back from the cluster. Kubernetes objects whose creation was cut off
   are applied again by the next `up` (server-side apply adopts what exists); a generated sealing key
   whose creation was cut off never reached the cluster (the engine saves a resource before anything
   that depends on it starts), so the next `up` generates the one key;
3. deletes Helm's record of each release whose install was cut off (the state never got it, and Helm
   refuses to install over a record: "cannot re-use a name that is still in use"), with kubectl and the
   stack's kubeconfig: the next `up` installs it again and adopts what the cut-off install created.
With a file backend (`file://`), it first removes an empty `.attrs` file beside the stack's checkpoint:
the backend writes that metadata file in place, so an `up` killed at that instant leaves it empty and
every later command fails with "failed to load checkpoint: EOF" (the backend reads a missing one as
no metadata). Then run `pulumi up`. Exit 0: ready; 1: a step failed or a live update holds the lock (one line says
which); 2: bad arguments, or pulumi or kubectl not installed. Secret values are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools import cli

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
LOCKED = "the stack is currently locked"
# The file backend's lock holders, one per line of its error (pkg/backend/diy/lock.go).
HOLDER = re.compile(r"created by (?P<user>\S+)@(?P<host>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)")


class ResumeError(Exception):
    """A step failed: one line for the user, exit 1."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    at: str


@dataclass(frozen=True)
class Pending:
    """An operation an interrupted update left pending in the state."""

    urn: str
    type: str
    operation: str  # creating, updating, deleting, reading, importing
    release: tuple[str, str] | None = None  # a Helm release's (namespace, name)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def pending_operations(deployment: dict[str, Any]) -> list[Pending]:
    """The pending operations of a `pulumi stack export` deployment."""
    found = []
    for op in deployment.get("pending_operations") or []:
        resource = op.get("resource") or {}
        inputs = resource.get("inputs") or {}
        release = None
        if resource.get("type") == HELM_RELEASE and all(isinstance(inputs.get(k), str) for k in ("namespace", "name")):
            release = (inputs["namespace"], inputs["name"])
        found.append(Pending(resource.get("urn", ""), resource.get("type", ""), op.get("type", ""), release))
    return found


def cut_off_installs(pending: list[Pending]) -> list[tuple[str, str]]:
    """Helm releases whose install was cut off: created in the cluster, perhaps, never in the state."""
    return sorted({p.release for p in pending if p.release and p.operation == "creating"})


def lock_holders(message: str) -> list[Holder]:
    return [Holder(m["host"], int(m["pid"]), m["at"]) for m in HOLDER.finditer(message)]


def stale(holders: list[Holder], host: str, alive: Callable[[int], bool]) -> bool:
    """Every holder is a `pulumi` of this machine that no longer runs."""
    return bool(holders) and all(h.host == host and not alive(h.pid) for h in holders)


def pulumi_alive(pid: int) -> bool:
    """A process `pid` runs and is a `pulumi` (a pid is reused once its process is gone)."""
    try:
        return b"pulumi" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: only whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


# --- the Pulumi CLI and kubectl ------------------------------------------------------------------

def pulumi(*args: str, stack: str | None) -> subprocess.CompletedProcess:
    return cli.run_program("pulumi", *args, *(["--stack", stack] if stack else []), "--non-interactive",
                           capture_output=True, text=True)


def last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [f"exit {proc.returncode}"])[-1]


def export(stack: str) -> dict[str, Any]:
    proc = pulumi("stack", "export", stack=stack)
    if proc.returncode != 0:
        raise ResumeError(f"`pulumi stack export --stack {stack}` failed: {last_error(proc)}")
    return json.loads(proc.stdout).get("deployment") or {}


def backend_url() -> str:
    """The backend's URL as `pulumi whoami --json` gives it ("" when it says nothing usable)."""
    proc = pulumi("whoami", "--json", stack=None)  # whoami takes no --stack
    try:
        return str(json.loads(proc.stdout).get("url", "")) if proc.returncode == 0 else ""
    except (ValueError, AttributeError):
        return ""


def remove_empty_attrs(url: str, stack: str) -> list[str]:
    """Under a file backend, the empty `.attrs` files of `stack`'s checkpoint and its backup. Returns what it did."""
    if not url.startswith("file://"):
        return []
    name = stack.rsplit("/", 1)[-1]
    stacks = Path(url.removeprefix("file://")).expanduser() / ".pulumi" / "stacks"
    done = []
    for attrs in sorted(stacks.rglob(f"{name}.json*.attrs")):
        if attrs.stat().st_size == 0:
            attrs.unlink()
            done.append(f"removed {attrs}: empty (the backend was cut off writing it; a missing one reads as no "
                        "metadata)")
    return done


def refresh(stack: str, host: str, alive: Callable[[int], bool] | None = None) -> list[str]:
    """`pulumi refresh --clear-pending-creates`, once more after removing a stale lock. Returns what it did."""
    done = []
    for _attempt in range(2):
        proc = pulumi("refresh", "--yes", "--skip-preview", "--clear-pending-creates", stack=stack)
        if proc.returncode == 0:
            return [*done, "refreshed the state from the cluster and cleared the pending operations"]
        message = proc.stderr + proc.stdout
        holders = lock_holders(message)
        if LOCKED not in message or done:
            raise ResumeError(f"`pulumi refresh --stack {stack}` failed: {last_error(proc)}")
        if not stale(holders, host, alive or pulumi_alive):
            who = ", ".join(f"pid {h.pid} on {h.host} since {h.at}" for h in holders) or "another update"
            raise ResumeError(f"stack {stack} is locked by a running update ({who}) — wait for it to end; if that "
                              f"machine died, run `pulumi cancel --stack {stack}` and then this command again")
        proc = pulumi("cancel", "--yes", stack=stack)
        if proc.returncode != 0:
            raise ResumeError(f"`pulumi cancel --stack {stack}` failed: {last_error(proc)}")
        done.append("removed the lock of " + ", ".join(f"pid {h.pid} (since {h.at})" for h in holders)
                    + ": that pulumi is gone")
    raise AssertionError("unreachable")


def config_value(stack: str, key: str, path: bool = False) -> str | None:
    proc = pulumi("config", "get", key, *(["--path"] if path else []), stack=stack)
    return proc.stdout.rstrip("\n") if proc.returncode == 0 else None


def delete_release_records(stack: str, releases: list[tuple[str, str]]) -> list[str]:
    """kubectl deletes Helm's records (Secrets labelled owner=helm, name=NAME) of each release, with the
    stack's kubeconfig (in a private file, never an argument) and context, as its provider reads them."""
    if not releases:
        return []
    kubeconfig = config_value(stack, "belen:kubeconfig")
    context = config_value(stack, "belen:cluster.context", path=True)
    done = []
    with tempfile.TemporaryDirectory(prefix="belen-resume-") as private:  # mode 0700
        args = ["kubectl"]
        if kubeconfig:
            path = Path(private) / "kubeconfig"
            path.touch(mode=0o600)
            path.write_text(kubeconfig)
            args += ["--kubeconfig", str(path)]
        if context:
            args += ["--context", context]
        for namespace, name in releases:
            proc = cli.run_program(*args, "delete", "secret", "--namespace", namespace, "--selector",
                                   f"owner=helm,name={name}", "--ignore-not-found", capture_output=True, text=True)
            if proc.returncode != 0:
                raise ResumeError(f"kubectl could not delete Helm's record of release {namespace}/{name}: "
                                  f"{last_error(proc)}")
            count = proc.stdout.count(" deleted")
            done.append(f"Helm release {namespace}/{name}: its install was cut off; " + (
                f"deleted its {count} record(s), so the next `up` installs it again and adopts what it created"
                if count else "Helm had not recorded it yet"))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.resume", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", metavar="STACK", help="the stack whose `pulumi up` was interrupted")
    args = parser.parse_args(argv)
    try:
        repaired = remove_empty_attrs(backend_url(), args.stack)
        for line in repaired:
            print(line)
        pending = pending_operations(export(args.stack))
        for op in pending:
            print(f"pending: {op.name} ({op.type}), interrupted while {op.operation}")
        done = refresh(args.stack, socket.gethostname())
        done += delete_release_records(args.stack, cut_off_installs(pending))
    except ResumeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    print(f"ready: run `pulumi up --stack {args.stack}`")
    return 0


if __name__ == "__main__":
    cli.run(main)
