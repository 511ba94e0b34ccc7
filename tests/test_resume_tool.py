"""tools.resume: what it reads from an interrupted update (pending operations, the backend's lock
line) and when it may remove a lock. The drill runs it for real (tests/e2e/test_6_faults.py)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tools import resume

LOCK_ERROR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the "
    "lock file with `pulumi cancel`.\n"
    "  file:///state/.pulumi/locks/organization/belen/homelab/5d1c.json: created by ana@laptop (pid 4242) at "
    "2026-02-01T10:00:00Z\n"
)


def op(kind: str, operation: str = "creating", **inputs) -> dict:
    return {"resource": {"urn": f"urn:pulumi:homelab::belen::{kind}::thing", "type": kind, "inputs": inputs},
            "type": operation}


def test_pending_operations_name_helm_releases_by_namespace_and_name():
    deployment = {"pending_operations": [
        op("kubernetes:helm.sh/v3:Release", namespace="kube-system", name="sealed-secrets"),
        op("kubernetes:core/v1:Secret", metadata={"name": "k"}),
        op("kubernetes:helm.sh/v3:Release", "updating", namespace="external-secrets", name="external-secrets"),
    ]}
    pending = resume.pending_operations(deployment)
    assert [(p.name, p.operation, p.release) for p in pending] == [
        ("thing", "creating", ("kube-system", "sealed-secrets")),
        ("thing", "creating", None),
        ("thing", "updating", ("external-secrets", "external-secrets")),
    ]
    # Only a cut-off install: an interrupted upgrade's release is in the state and keeps its records.
    assert resume.cut_off_installs(pending) == [("kube-system", "sealed-secrets")]


def test_no_pending_operations():
    assert resume.pending_operations({}) == [] and resume.cut_off_installs([]) == []


def test_a_secret_release_name_is_left_alone():
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}
    (pending,) = resume.pending_operations({"pending_operations": [
        op("kubernetes:helm.sh/v3:Release", namespace="ns", name=secret)]})
    assert pending.release is None


def test_lock_holders_from_the_backends_error():
    assert resume.lock_holders(LOCK_ERROR) == [resume.Holder("laptop", 4242, "2026-02-01T10:00:00Z")]


@pytest.mark.parametrize(("host", "alive", "expected"), [
    ("laptop", False, True),   # this machine's pulumi is gone: the lock is stale
    ("laptop", True, False),   # it still runs
    ("ci-runner", False, False),  # another machine's: only its owner knows
])
def test_stale(host, alive, expected):
    assert resume.stale(resume.lock_holders(LOCK_ERROR), host, lambda pid: alive) is expected


def test_no_holders_is_not_stale():
    assert not resume.stale([], "laptop", lambda pid: False)


def test_pulumi_alive_checks_the_process_is_a_pulumi():
    assert not resume.pulumi_alive(os.getpid())  # alive, but pytest
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    assert not resume.pulumi_alive(proc.pid)


def test_a_live_lock_stops_it_with_the_holder_named(monkeypatch, capsys):
    calls = []

    def fake(*args, stack=None):
        calls.append(args[0])
        if args[0] == "stack":
            return subprocess.CompletedProcess(args, 0, '{"deployment": {}}', "")
        return subprocess.CompletedProcess(args, 255, "", LOCK_ERROR)

    monkeypatch.setattr(resume, "pulumi", fake)
    monkeypatch.setattr(resume.socket, "gethostname", lambda: "laptop")
    monkeypatch.setattr(resume, "pulumi_alive", lambda pid: True)
    assert resume.main(["homelab"]) == 1
    assert capsys.readouterr().err == (
        "error: stack homelab is locked by a running update (pid 4242 on laptop since 2026-02-01T10:00:00Z) — wait "
        "for it to end; if that machine died, run `pulumi cancel --stack homelab` and then this command again\n")
    assert "cancel" not in calls


def test_a_stale_lock_is_removed_and_the_refresh_retried(monkeypatch, capsys):
    calls = []
    refreshes = iter([(255, LOCK_ERROR), (0, "")])

    def fake(*args, stack=None):
        calls.append(args[0])
        if args[0] == "stack":
            return subprocess.CompletedProcess(args, 0, '{"deployment": {}}', "")
        if args[0] == "refresh":
            code, err = next(refreshes)
            return subprocess.CompletedProcess(args, code, "", err)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(resume, "pulumi", fake)
    monkeypatch.setattr(resume.socket, "gethostname", lambda: "laptop")
    monkeypatch.setattr(resume, "pulumi_alive", lambda pid: False)
    assert resume.main(["homelab"]) == 0
    assert calls == ["whoami", "stack", "refresh", "cancel", "refresh"]
    out = capsys.readouterr().out
    assert "removed the lock of pid 4242 (since 2026-02-01T10:00:00Z): that pulumi is gone" in out
    assert out.endswith("ready: run `pulumi up --stack homelab`\n")


def test_an_empty_attrs_file_of_the_stack_is_removed_under_a_file_backend(tmp_path):
    stacks = tmp_path / ".pulumi" / "stacks" / "belen"
    stacks.mkdir(parents=True)
    for name, text in {"homelab.json": "{}", "homelab.json.attrs": "", "homelab.json.bak.attrs": "",
                       "homelab.json.bak": "{}", "cloud.json.attrs": "", "homelab.json.gz.attrs": '{"md5": "x"}\n'}.items():
        (stacks / name).write_text(text)
    done = resume.remove_empty_attrs(f"file://{tmp_path}", "organization/belen/homelab")
    assert len(done) == 2 and all("empty" in line for line in done)
    assert sorted(p.name for p in stacks.iterdir()) == [
        "cloud.json.attrs", "homelab.json", "homelab.json.bak", "homelab.json.gz.attrs"]


def test_other_backends_are_left_alone(tmp_path):
    assert resume.remove_empty_attrs("https://api.pulumi.com", "homelab") == []
