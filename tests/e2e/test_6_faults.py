"""When an `up` goes wrong (issue 23): a killed engine, an API server that restarts, a crashed
sealed-secrets controller, a lost cluster, two `up`s at once and hand-made drift, on the real engine
and API server. Each scenario ends with the same proof (`assert_recovered`): a plain re-run `up`
converges, `pulumi preview --expect-no-changes` passes, exactly one sealing key exists and it is the
original one (same fingerprint, same bytes), and the SealedSecrets from Git open.

The stack is a primary with belen's generated key (the fragile case: the key lives only in the
state), on a cluster of its own, with Flux syncing its own folder of the drill's Git server. It needs
neither the homelab nor the replica."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from e2e import testbed
from tests.e2e.checks import EventLog, assert_whole, one, request_reconcile, seal_all, wait_opened
from tests.e2e.drill_config import APPS, CERTS, SEALED, faults_config

NAME = "faults"
STACK = "drill-faults"
FOLDER = f"clusters/{NAME}"
AFTER_CRASH = {"strict": ("sealed-after-crash", {"note": "sealed after the controller crashed"})}
LOCKED = "the stack is currently locked by 1 lock(s)"
# What every command says once a kill cut off the file backend's checkpoint metadata (an empty .attrs file).
CUT_OFF = "failed to load checkpoint: EOF"
OUTAGE_SECONDS = 10
# pulumi-kubernetes' switch to take back fields a hand edit took (server-side apply with force).
FORCE = "PULUMI_K8S_ENABLE_PATCH_FORCE"

state: dict = {}


@dataclass(frozen=True)
class Key:
    """A sealing key Secret as first seen in the cluster: its name and digests of its bytes (a failing
    assertion must never print a private key)."""

    name: str
    cert: str  # PEM, public
    key_digest: str

    @classmethod
    def of(cls, secret: dict) -> Key:
        data = testbed.decode(secret)
        return cls(secret["metadata"]["name"], data["tls.crt"], hashlib.sha256(data["tls.key"].encode()).hexdigest())


# --- a `pulumi up` that can be killed -------------------------------------------------------------

class Running:
    """A `pulumi up` started as a terminal starts it: in a session of its own. The engine puts each
    plugin (language host, providers) in a process group of its own, so the session is what holds
    them all: killing it is a laptop dying mid-`up`."""

    def __init__(self, stack: testbed.Stack, *args: str, env: dict[str, str] | None = None):
        self.stack = stack
        cmd, self.events = stack.up_command(*args)
        stack.log.parent.mkdir(parents=True, exist_ok=True)
        self._start = stack.log.stat().st_size if stack.log.exists() else 0
        with stack.log.open("a") as log:
            log.write(f"$ {' '.join(cmd)}\n")
        self._out = stack.log.open("a")
        self.process = subprocess.Popen(cmd, cwd=testbed.PROJECT, env={**testbed.environment(), **(env or {})},
                                        stdout=self._out,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def until(self, what: str, check, timeout: float = 600, interval: float = 0.1):
        """Poll `check()` while the `up` runs; fail if the `up` ends first."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if self.process.poll() is not None:
                raise AssertionError(f"pulumi up exited {self.process.returncode} before {what}: see {self.stack.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.stack.cluster.controllers.tick()  # the kubelet's part: controllers start as their Deployments appear
            time.sleep(interval)

    def kill(self) -> int:
        """Every process of the session stops at once (SIGSTOP, then SIGKILL): nothing runs a handler
        or notices the others go. Returns how many processes died."""
        count = 0
        while members := session(self.process.pid):
            for pid in members:
                os.kill(pid, signal.SIGSTOP)
            for pid in members:
                os.kill(pid, signal.SIGKILL)
            count += len(members)
            time.sleep(0.2)
        self.process.wait()
        self.finish()
        return count

    def wait(self, timeout: float = 1200) -> testbed.Up:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"pulumi up did not end within {timeout:.0f} s")
            self.stack.cluster.controllers.tick()
            time.sleep(0.5)
        self.stack.cluster.controllers.tick(now=True)
        return self.finish()

    def finish(self) -> testbed.Up:
        if not self._out.closed:
            self._out.write(f"[exit {self.process.returncode}]\n\n")
            self._out.close()
        with self.stack.log.open() as log:
            log.seek(self._start)
            output = log.read()
        return testbed.Up(self.process.returncode, self.events, output)


def session(sid: int) -> list[int]:
    """Pids of the processes of session `sid` (field 6 of /proc/PID/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def step_started(events: Path, name_suffix: str, ops: tuple[str, ...] = ("create",)) -> bool:
    """The engine began a step (its pre-event is in the event log, not the preview's) on a resource whose
    name ends so."""
    if not events.exists():
        return False
    for line in events.read_text().splitlines():
        event = (json.loads(line).get("resourcePreEvent") or {}) if line.endswith("}") else {}
        meta = event.get("metadata") or {}
        if not event.get("planning") and meta.get("op") in ops and meta["urn"].endswith(name_suffix):
            return True
    return False


# --- what a user runs -----------------------------------------------------------------------------

def resume(stack: testbed.Stack) -> str:
    """README's one step after an interrupted `up`: `python -m tools.resume STACK`, in the project."""
    env = {**testbed.environment(), "PYTHONPATH": str(testbed.ROOT)}
    return testbed.run([sys.executable, "-m", "tools.resume", stack.name], cwd=testbed.PROJECT, env=env,
                       log=stack.log).stdout


def cluster_script(action: str) -> None:
    testbed.run([testbed.E2E / "cluster", action, NAME], log=testbed.BUILD / NAME / "cluster.log", timeout=300)


def error_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if re.search(r"\berror\b", line)]


# --- the proof every scenario ends with -----------------------------------------------------------

def assert_recovered(stack: testbed.Stack, git: testbed.GitServer) -> None:
    """A plain re-run converges, nothing is left to change, exactly the original key exists (no key
    minted, none lost), and the controller opens Git's SealedSecrets again (their Secrets are deleted
    first, so they must be opened anew)."""
    cluster, original = stack.cluster, state["key"]
    stack.up()
    stack.pulumi("preview", "--expect-no-changes", "--diff")
    seal(stack, git)
    keys = [Key.of(secret) for secret in cluster.sealing_keys()]
    assert [k.name for k in keys] == [original.name], f"key Secrets {[k.name for k in keys]}, not {original.name}"
    assert keys[0] == original, "the key Secret's bytes are not the original ones"
    assert stack.output("sealingCertificate") == original.cert
    assert len(stack.output("sealingKeyFingerprints")) == 1
    sealed = (SEALED, *state.get("more_sealed", ()))
    names = [name for group in sealed for name, _ in group.values()]
    cluster.kubectl("delete", "secret", "-n", APPS, "--ignore-not-found", *names)
    request_reconcile(cluster)
    for group in sealed:
        wait_opened(cluster, group)
    state["recovered"] = True


# --- the stack ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faults(fresh_cluster, project, charts, git) -> testbed.Stack:
    cluster = fresh_cluster(NAME)
    stack = testbed.Stack(STACK, cluster)
    stack.configure(faults_config(charts, git.url, NAME))
    stack.init()
    git.commit({f"{FOLDER}/namespace.yaml": yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APPS}})}, f"{NAME}: the apps namespace")
    return stack


def converged(stack: testbed.Stack, git: testbed.GitServer) -> None:
    """A scenario starts from a converged stack with Git's SealedSecrets sealed to its key (the
    previous scenario left it so; if it failed before its proof, this gets there: its failure stays its own)."""
    if not state.pop("recovered", False):
        resume(stack)
        stack.up()
        state.setdefault("key", Key.of(one(stack.cluster.sealing_keys())))
    seal(stack, git)


def seal(stack: testbed.Stack, git: testbed.GitServer) -> None:
    """Git's SealedSecrets, sealed once with the stack's sealingCertificate by the real kubeseal."""
    if not state.get("sealed"):
        certificate = stack.output("sealingCertificate")
        git.commit({f"{FOLDER}/sealed-secrets.yaml": seal_all(certificate)}, f"{NAME}: SealedSecrets")
        state["sealed"] = True


# --- the scenarios --------------------------------------------------------------------------------

@pytest.mark.scenario("fault-killed-up")
def test_killed_up(faults: testbed.Stack, git: testbed.GitServer, note):
    stack, cluster = faults, faults.cluster
    # 0. Without the engine's checkpoints the state is saved only at the end: belen refuses to generate a key so.
    unsaved = Running(stack, env={"PULUMI_SKIP_CHECKPOINTS": "true"}).wait()
    assert unsaved.returncode != 0 and "PULUMI_SKIP_CHECKPOINTS: is true" in unsaved.output, unsaved.output[-3000:]
    assert not cluster.sealing_keys()
    told = ["`up` with PULUMI_SKIP_CHECKPOINTS=true refused by belen before any resource"]
    # 1. The key's own window: killed once the engine has begun creating the generated key.
    killed, pending = kill_when(stack, "the engine to begin creating the generated key",
                                lambda run: step_started(run.events, "-generated-key"))
    in_state = [r for r in checkpoint(stack).get("resources") or [] if r["urn"].endswith("-generated-key")]
    assert not cluster.sealing_keys() or in_state, "a key Secret exists whose key is not in the state"
    told.append(f"killed while the key was generated: pending {', '.join(pending) or 'nothing'}, "
                f"{len(cluster.sealing_keys())} key Secret(s)")
    told.append(summary(resume(stack)))

    # 2. The fault itself: killed right after the key Secret appears, the platform not done.
    started = time.monotonic()
    secrets: list[dict] = []
    killed, pending = kill_when(stack, "the sealing key Secret", lambda run: secrets.extend(cluster.sealing_keys())
                                or secrets)
    state["key"] = original = Key.of(secrets[0])
    generated = [r for r in checkpoint(stack)["resources"] if r["urn"].endswith("-generated-key")]
    assert generated and original.name.endswith(generated[0]["id"][:16]), \
        "the key Secret is in the cluster but its key is not in the state"
    assert pending, "the kill left no pending operation: it came too late"
    told.append(f"killed ({killed} processes) right after key Secret {original.name} appeared: pending "
                f"{', '.join(pending)}")
    # What a user sees first: a plain `up`, refused by the lock the kill left — or, when the kill also cut off
    # the file backend's checkpoint metadata (its .attrs file left empty), failing to read the checkpoint.
    cut = empty_attrs(stack)
    plain = stack.up(check=False)
    expected = CUT_OFF if cut else LOCKED
    assert plain.returncode != 0 and expected in plain.output, (expected, plain.output[-2000:])
    seen = next(line for line in error_lines(plain.output) if expected in line)
    told.append(f"a plain `up`{' (the kill left an empty .attrs)' if cut else ''}: {seen!r}")
    told.append(summary(resume(stack)))  # README's step, whose first step removes an empty .attrs

    # 3. Killed while Helm installs a release (its record says pending-install: Helm's own wedge).
    killed, pending = kill_when(stack, "a Helm install in progress", lambda run: cluster.get(
        "secrets", "-A", "-l", "owner=helm,status=pending-install"))
    wedged = [s["metadata"]["labels"]["name"] for s in cluster.get("secrets", "-A", "-l", "owner=helm")
              if s["metadata"]["labels"]["status"].startswith("pending-")]
    assert wedged, "no Helm release was left pending"
    told.append(f"killed during the Helm install of {', '.join(wedged)}: pending {', '.join(pending)}")
    told.append(summary(resume(stack), "Helm release"))
    assert_recovered(stack, git)
    note("; ".join(told) + f"; then a plain `up` converged with the one original key ({time.monotonic() - started:.0f} s "
         "from the second kill)")


def kill_when(stack: testbed.Stack, what: str, check) -> tuple[int, list[str]]:
    """Start `pulumi up`, kill it when `check(run)` holds: (processes killed, the state's pending operations)."""
    run = Running(stack)
    run.until(what, lambda: check(run), interval=0.05)
    killed = run.kill()
    deployment = checkpoint(stack)
    return killed, [op["resource"]["urn"].rsplit("::", 1)[1] for op in deployment.get("pending_operations") or []]


def stack_files(stack: testbed.Stack, suffix: str) -> list[Path]:
    return sorted((testbed.STATE / ".pulumi" / "stacks").rglob(f"{stack.name}.json{suffix}"))


def checkpoint(stack: testbed.Stack) -> dict:
    """The deployment in the file backend's checkpoint, read from the file as the test's own look (no
    pulumi command: after a kill, the user's first command is what the scenario checks)."""
    (path,) = stack_files(stack, "")
    return json.loads(path.read_text())["checkpoint"].get("latest") or {}


def empty_attrs(stack: testbed.Stack) -> bool:
    """A kill cut off the backend writing the checkpoint's metadata: its .attrs file is empty. Only the
    checkpoint's own counts: an empty one of its backup (`.json.bak.attrs`, a kill during the backend's
    copy) is never read by an `up`, which then meets the lock."""
    return any(path.stat().st_size == 0 for path in stack_files(stack, ".attrs"))


@pytest.mark.scenario("fault-apiserver-restart")
def test_apiserver_restart(faults: testbed.Stack, git: testbed.GitServer, charts, note):
    """The control plane stops while the `up` waits on a Certificate it created: the `up` rides the
    outage out and succeeds, and a user sees nothing of it."""
    stack, cluster = faults, faults.cluster
    converged(stack, git)
    # Something to do: a second store and a second certificate.
    config = faults_config(charts, git.url, NAME)
    config["belen:externalSecrets"]["stores"].append(
        {"name": "second", "provider": "fake", "data": [{"key": "k", "value": "v"}]})
    config["belen:certManager"]["certificates"].append(
        {"name": "second", "namespace": CERTS, "dnsNames": ["second.drill.test"], "issuer": "selfsigned"})
    stack.configure(config)
    # cert-manager's controller is held (SIGSTOP) until the control plane is back, so the new Certificate
    # cannot be Ready before the outage: the `up` is certainly inside its wait on it, with every create sent.
    held = int((cluster.dir / "cert-manager-controller.pid").read_text())
    os.kill(held, signal.SIGSTOP)
    try:
        run = Running(stack)
        run.until("both new objects in the API server", lambda: exists(cluster, "clustersecretstore", "second")
                  and exists(cluster, "certificate", "second", "-n", CERTS), interval=0.2)
        log = EventLog(run.events)
        assert not [urn for urn in log.urns(name_suffix="-certificate-second") if urn in log.done], \
            "the `up` ended its wait on the Certificate before the outage"
        stopped = time.monotonic()
        cluster_script("stop")  # kwokctl stops the whole control plane: etcd, API server, controller manager, scheduler
        time.sleep(OUTAGE_SECONDS)
        cluster_script("start")
        outage = time.monotonic() - stopped
    finally:
        os.kill(held, signal.SIGCONT)
    up = run.wait()
    # What a user sees: the update's own summary and exit 0; the provider's wait went on through the
    # outage without a line about it.
    assert up.returncode == 0, f"the `up` did not ride out the outage:\n{up.output[-3000:]}"
    summary = re.search(r"^Resources:\n    \+ 2 created\n", up.output, re.M)
    assert summary and not error_lines(up.output) and "connection refused" not in up.output, up.output[-3000:]
    assert_recovered(stack, git)
    # A controller dying on the outage is the real one's behaviour (sealed-secrets v0.40.0 panics on the
    # tombstone of a Secret deleted while its watch was down); Kubernetes restarts it, as the test bed does.
    died = sorted(set(cluster.controllers.restarted)) or ["none"]
    note(f"the control plane (etcd, API server, controller manager, scheduler) stopped for {outage:.0f} s while the "
         f"`up` waited on a new Certificate (cert-manager held until it was back): the `up` rode it out and exited 0 "
         f"with `Resources: + 2 created`, no line about the outage; the next plain `up` converged; host controllers "
         f"that died and were started again, as a kubelet would: {', '.join(died)}")


def exists(cluster: testbed.Cluster, kind: str, name: str, *namespace: str) -> bool:
    """The API server has the object (`namespace`: `-n NAME` for a namespaced kind)."""
    return cluster.kubectl("get", kind, name, *namespace, "-o", "name", check=False).returncode == 0


@pytest.mark.scenario("fault-controller-crash")
def test_controller_crash(faults: testbed.Stack, git: testbed.GitServer, note):
    stack, cluster = faults, faults.cluster
    converged(stack, git)
    cluster.controllers.poll()  # the kubelet's part: a controller that died in an earlier scenario runs again
    pidfile = cluster.dir / "sealed-secrets-controller.pid"
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    testbed.wait_for("the controller to die", lambda: not Path(f"/proc/{pid}").exists() or
                     Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z", timeout=10)
    cluster.controllers.start("sealed-secrets-controller")  # what the kubelet does: the same pod spec, again
    time.sleep(3)  # a controller that found no key would mint one at start
    assert [k["metadata"]["name"] for k in cluster.sealing_keys()] == [state["key"].name], "the controller minted a key"
    port = (cluster.dir / "sealed-secrets-controller.port").read_text().strip()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/cert.pem", timeout=5) as response:
        assert response.read().decode() == state["key"].cert, "the restarted controller seals with another key"
    git.commit({f"{FOLDER}/sealed-after-crash.yaml": seal_all(stack.output("sealingCertificate"), AFTER_CRASH)},
               f"{NAME}: a SealedSecret sealed after the crash")
    request_reconcile(cluster)
    wait_opened(cluster, AFTER_CRASH)
    state["more_sealed"] = (AFTER_CRASH,)
    assert_recovered(stack, git)
    note(f"the controller (pid {pid}) was SIGKILLed and started again: it loaded the restored key, minted none, "
         "serves the stack's sealingCertificate and opened a SealedSecret sealed after the restart")


@pytest.mark.scenario("fault-cluster-lost")
def test_cluster_lost(faults: testbed.Stack, git: testbed.GitServer, note):
    stack, cluster = faults, faults.cluster
    converged(stack, git)
    resources = len(stack.state()["deployment"]["resources"])
    cluster.stop()
    etcd = testbed.BUILD / "kwok" / "clusters" / f"belen-{NAME}" / "etcd"
    assert etcd.is_dir(), f"no etcd data at {etcd}"
    shutil.rmtree(etcd)
    cluster_script("start")
    cluster_script("node")
    assert not cluster.sealing_keys() and not cluster.get("deployments", "-A")
    plain = stack.up(check=False)
    plain_says = (f"exit {plain.returncode}: {error_lines(plain.output)[:2]}" if plain.returncode
                  else "exit 0 with " + ("no changes" if not cluster.get("deployments", "-A") else "changes"))
    started = time.monotonic()
    stack.up("--refresh", "--run-program")  # the runbook's (docs/faults.md)
    assert_recovered(stack, git)
    note(f"etcd wiped under a live stack ({resources} resources in its state); a plain `up`: {plain_says}; "
         f"`pulumi up --refresh --run-program` rebuilt the platform with the same key from the state and Git's SealedSecrets "
         f"opened ({time.monotonic() - started:.0f} s)")


@pytest.mark.scenario("fault-concurrent-up")
def test_concurrent_up(faults: testbed.Stack, git: testbed.GitServer, note):
    stack = faults
    converged(stack, git)
    locks = testbed.STATE / ".pulumi" / "locks"
    first = Running(stack)
    first.until("the first `up` to hold the stack's lock", lambda: list(locks.rglob("*.json")), interval=0.1)
    second = stack.up(check=False)
    still_running = first.process.poll() is None
    done = first.wait()
    assert second.returncode != 0 and LOCKED in second.output, second.output[-2000:]
    assert done.returncode == 0, done.output[-3000:]
    deployment = stack.state()["deployment"]
    urns = [r["urn"] for r in deployment["resources"]]
    assert len(urns) == len(set(urns)), "a resource is listed twice in the state"
    assert not deployment.get("pending_operations"), deployment.get("pending_operations")
    assert_recovered(stack, git)
    refused = next(line for line in second.output.splitlines() if LOCKED in line).strip()
    note(f"the second `up` was refused {'while the first ran' if still_running else ''}: {refused!r}; the first "
         f"converged; `pulumi stack export` parses, {len(urns)} resources each once, no pending operation")


@pytest.mark.scenario("fault-drift")
def test_drift(faults: testbed.Stack, git: testbed.GitServer, note):
    stack, cluster = faults, faults.cluster
    converged(stack, git)
    key = one(cluster.sealing_keys())
    cluster.kubectl("delete", "secret", "-n", key["metadata"]["namespace"], key["metadata"]["name"])
    store = "clustersecretstores.external-secrets.io"
    before = one(cluster.get(store, "--field-selector", "metadata.name=demo"))["spec"]
    edited = {"spec": {"provider": {"fake": {"data": [{"key": "greeting", "value": "edited by hand"}]}}}}
    cluster.kubectl("patch", store, "demo", "--type", "merge", "-p", json.dumps(edited))
    blind = stack.pulumi("preview", "--expect-no-changes", check=False).returncode
    refused = stack.up("--refresh", check=False)  # the hand edit owns the field now: server-side apply refuses
    conflict = next(line.strip() for line in refused.output.splitlines() if "had an apply conflict" in line)
    assert refused.returncode != 0 and "kubectl-patch" in conflict, refused.output[-3000:]
    forced = Running(stack, "--refresh", env={FORCE: "true"}).wait()
    assert forced.returncode == 0, forced.output[-3000:]
    assert Key.of(one(cluster.sealing_keys())) == state["key"], "the restored key is not the original"
    assert one(cluster.get(store, "--field-selector", "metadata.name=demo"))["spec"] == before
    assert_recovered(stack, git)
    note(f"the key Secret deleted and ClusterSecretStore demo edited by hand (kubectl patch); `pulumi preview` "
         f"without refresh {'saw nothing' if blind == 0 else 'saw the drift'}; `pulumi up --refresh` refused: "
         f"{conflict!r}; `{FORCE}=true pulumi up --refresh` restored the key with its original bytes and the "
         "store's spec")


@pytest.mark.scenario("status-faults")
def test_status_faults(faults: testbed.Stack, git: testbed.GitServer, note):
    """tools.status on the primary the faults left converged (issue 32)."""
    converged(faults, git)
    note(f"tools.status {STACK}: whole (exit 0) — {assert_whole(faults)}")


def summary(output: str, about: str = "") -> str:
    """What `tools.resume` did, on one line (its lines that start with `about`, else all but `pending:`)."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("pending:")]
    chosen = [line for line in lines if about and line.startswith(about)] or lines
    return "`tools.resume`: " + " / ".join(chosen)
