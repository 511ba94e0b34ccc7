"""belen's test bed from Python: the toolchain, clusters, host controllers, Git server and the Pulumi
CLI, for the drill's scenarios (tests/e2e) and bin/up-local.

Every process runs on this machine and talks to 127.0.0.1 only; the e2e/ scripts do the work,
this module calls them and keeps their logs under build/e2e/.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / "e2e"
# Everything a test-bed run writes; BELEN_E2E_BUILD gives concurrent runs folders of their own.
BUILD = Path(os.environ.get("BELEN_E2E_BUILD") or ROOT / "build" / "e2e").resolve()
PROJECT = BUILD / "project"  # the program as the drill deploys it, with the drill's stack files
STATE = BUILD / "state"
# The drill's own passphrase for its throwaway state (not a secret of anyone's), unless one is set.
PASSPHRASE = os.environ.get("PULUMI_CONFIG_PASSPHRASE") or "belen-drill"


def bin_dir() -> Path:
    return Path(subprocess.run([E2E / "build-toolchain", "--bin"], check=True, capture_output=True,
                               text=True).stdout.strip())


def toolchain_cached() -> bool:
    return subprocess.run([E2E / "build-toolchain", "--check"]).returncode == 0


def interruptible() -> None:
    """Give the commands the test bed starts the SIGINT a terminal gives them. Started in the
    background (`cmd &`, nohup, many CI runners), this process inherits SIGINT ignored, and so would
    every child: the Pulumi CLI stops a plugin with SIGINT and waits 5 s before it kills one that
    ignores it — every `pulumi up` then starts 5 s late (its language host, asked for metadata, is
    stopped that way before the update begins), a delay no user at a terminal sees."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # children get SIGINT's default again


def environment() -> dict[str, str]:
    """The environment of every test-bed command: the built binaries first on PATH, Pulumi offline."""
    env = dict(os.environ)
    env.update({
        "PATH": f"{bin_dir()}{os.pathsep}{env['PATH']}",
        "PULUMI_HOME": str(BUILD / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{STATE}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DEBUG_COMMANDS": "true",  # enables `pulumi up --event-log`
        # Nothing leaves the machine: any attempt meets a closed port on loopback.
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    env.pop("KUBECONFIG", None)
    return env


# A command with this flag prints secrets in plaintext: its stdout stays out of logs and error messages.
SHOWS_SECRETS = "--show-secrets"


def run(cmd: list[Any], *, log: Path | None = None, check: bool = True, stdin: str | None = None,
        env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command; its output goes to `log` too (appended, with the command line), but for a command
    with --show-secrets, whose stdout only the caller gets."""
    result = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, text=True,
                            env=env or environment(), cwd=cwd, timeout=timeout)
    stdout = result.stdout
    if SHOWS_SECRETS in map(str, cmd) and stdout:
        stdout = f"[stdout withheld: {len(stdout)} characters, secrets shown by {SHOWS_SECRETS}]\n"
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"$ {' '.join(map(str, cmd))}\n{stdout}{result.stderr}[exit {result.returncode}]\n\n")
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd[:3]))} … exited {result.returncode}:\n"
                             f"{(stdout + result.stderr)[-4000:]}")
    return result


@dataclass
class Cluster:
    name: str
    dir: Path = field(init=False)
    controllers: HostControllers = field(init=False)

    def __post_init__(self) -> None:
        self.dir = BUILD / self.name
        self.controllers = HostControllers(self)

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def up(self) -> None:
        run([E2E / "cluster", "up", self.name], log=self.dir / "cluster.log", timeout=300)

    def down(self) -> None:
        self.controllers.stop()
        run([E2E / "cluster", "down", self.name], log=BUILD / f"{self.name}-down.log", check=False)

    def stop(self) -> None:
        """Every process of the cluster stops (controllers, kwok, the control plane); its data stays."""
        self.controllers.stop()
        run([E2E / "cluster", "stop", self.name], log=self.dir / "cluster.log")
        wait_for(f"every process of {self.name} to exit", lambda: not self.processes(), timeout=60)

    def processes(self) -> list[int]:
        """Pids of the processes that belong to this cluster: started with its kwok workdir or its
        folder under build/e2e in their command line or environment."""
        marks = (f"{BUILD}/kwok/clusters/belen-{self.name}/".encode(), f"{self.dir}/".encode())
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
            except OSError:
                continue
            if any(mark in text for mark in marks):
                found.append(int(proc.name))
        return found

    def run_as_kubelet(self, cmd: list[Any], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None,
                       timeout: float = 1800) -> int:
        """Run `cmd` (its output appended to `log`) while doing the kubelet's part: the host controllers
        are polled every second while it runs, and once more after. Returns its exit code; a command the
        harness gives up on (a failure, the timeout) is terminated, never left running."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"$ {' '.join(map(str, cmd))}\n")
            out.flush()
            process = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env or environment(), stdout=out,
                                       stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            try:
                while process.poll() is None and time.monotonic() < deadline:
                    self.controllers.poll()
                    try:  # a second between polls, and the command's end seen at once
                        process.wait(1)
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                if process.poll() is None:
                    process.terminate()
                    process.wait(60)
            out.write(f"[exit {process.returncode}]\n\n")
        self.controllers.poll()
        return process.returncode

    def wait_for(self, what: str, check, timeout: float = 60, interval: float = 0.5):
        """`wait_for`, doing the kubelet's part meanwhile: a host controller that died is started again
        (the sealed-secrets controller v0.40.0 does die, on a Secret deleted while its watch was down)."""
        def polling_check():
            self.controllers.tick()
            return check()

        return wait_for(what, polling_check, timeout, interval)

    def answers(self) -> bool:
        """Its API server answers, as itself (the kubeconfig's CA and credentials)."""
        return self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0

    def ports(self) -> list[int]:
        """The TCP ports this cluster's processes listen on."""
        pids = set(self.processes())
        listening = run(["ss", "-ltnpH"], check=False).stdout.splitlines()
        return sorted({int(line.split()[3].rsplit(":", 1)[1]) for line in listening
                       if any(f"pid={pid}," in line for pid in pids)})

    def api_server(self) -> dict[str, str]:
        """`{url, caBundle}`: the API server's address and its CA certificate (PEM)."""
        cluster = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]
        return {"url": cluster["server"], "caBundle": base64.b64decode(cluster["certificate-authority-data"]).decode()}

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return run(["kubectl", "--kubeconfig", self.kubeconfig, *args], stdin=stdin, check=check,
                   log=self.dir / "kubectl.log")

    def get(self, *args: str) -> list[dict]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout).get("items", [])

    def sealing_keys(self) -> list[dict]:
        return self.get("secrets", "-A", "-l", "sealedsecrets.bitnami.com/sealed-secrets-key")

    def controller_log(self) -> str:
        path = self.dir / "sealed-secrets-controller.log"
        return path.read_text() if path.exists() else ""


@dataclass(frozen=True)
class HostProcess:
    """A workload the drill runs for real as a host process: `e2e/<script> start|stop CLUSTER`,
    started once a Deployment matching each of `workloads` (label=value) exists and `crds` are served."""

    script: str
    workloads: tuple[str, ...]
    crds: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()  # what the script starts (its pid files in the cluster's folder), if not itself

    @property
    def names(self) -> tuple[str, ...]:
        """Each process it starts: `<name>.pid` and `<name>.log` in the cluster's folder."""
        return self.processes or (self.script,)


HOST_PROCESSES = (
    HostProcess("sealed-secrets-controller", ("app.kubernetes.io/name=sealed-secrets",)),
    # Its chart's CRDs come in the same Helm install as its Deployment: it starts a controller per kind.
    HostProcess("eso-controller", ("app.kubernetes.io/name=external-secrets",),
                ("secretstores.external-secrets.io", "clustersecretstores.external-secrets.io",
                 "generatorstates.generators.external-secrets.io", "externalsecrets.external-secrets.io",
                 "pushsecrets.external-secrets.io", "clusterexternalsecrets.external-secrets.io",
                 "clusterpushsecrets.external-secrets.io")),
    # The controller Deployment only (the webhook's and cainjector's name labels are webhook, cainjector).
    HostProcess("cert-manager-controller", ("app.kubernetes.io/name=cert-manager",),
                ("certificates.cert-manager.io", "certificaterequests.cert-manager.io", "issuers.cert-manager.io",
                 "clusterissuers.cert-manager.io", "orders.acme.cert-manager.io", "challenges.acme.cert-manager.io")),
    HostProcess("flux-operator", ("app.kubernetes.io/name=flux-operator",), ("fluxinstances.fluxcd.controlplane.io",)),
    HostProcess("flux-controllers", ("app.kubernetes.io/component=source-controller",
                                     "app.kubernetes.io/component=kustomize-controller"),
                ("gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"),
                ("source-controller", "kustomize-controller")),
)

# A host controller's death the drill accepts, because it is the upstream program's own known behaviour:
# (process, text in its log since its last start, the upstream bug). Any other death fails the scenario.
KNOWN_DEATHS = (
    ("sealed-secrets-controller", "cache.DeletedFinalStateUnknown, not *v1.Secret",
     "sealed-secrets v0.40.0 panics on the tombstone of a Secret deleted while its watch was down "
     "(pkg/controller/controller.go:224, an unchecked type assertion in the Secret informer's delete handler)"),
)
# The kubelet's restart back-off (CrashLoopBackOff): 10 s, doubled at each restart up to 5 minutes, and
# back to 10 s once a container has run for 10 minutes.
BACK_OFF_FIRST, BACK_OFF_MAX, BACK_OFF_RESET = 10.0, 300.0, 600.0
LAST_LINES = 12


@dataclass
class Restart:
    """One start of a host controller after it died (`died`), or a start that failed (`start failed`):
    what report.json lists under `restarts`, per cluster."""

    controller: str
    reason: str  # "died" or "start failed"
    scenario: str
    at: str  # UTC
    last_lines: list[str]  # the log's last lines before it died (from a panic's first line, if any)
    cause: str | None  # the known upstream bug (KNOWN_DEATHS) that explains it; None: unexplained
    back_off_seconds: float = 0.0  # waited before this start, as a kubelet does


# Every cluster's restarts this run, and the scenario running now (set by the drill's conftest).
RESTARTS: dict[str, list[Restart]] = {}
SCENARIO = {"name": ""}


def last_run(log: str) -> str:
    """The part of a host process's log since its last start (each start writes a `--- <time> start` line)."""
    return log[log.rfind("\n--- ") + 1:] if "\n--- " in log else log


def death(controller: str, log: str) -> tuple[list[str], str | None]:
    """(the last lines before it died, the known cause) from its log since its last start."""
    lines = last_run(log).rstrip("\n").splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(("panic:", "fatal error:"))), None)
    shown = lines[first:first + LAST_LINES] if first is not None else lines[-LAST_LINES:]
    text = "\n".join(lines)
    cause = next((why for name, needle, why in KNOWN_DEATHS if name == controller and needle in text), None)
    return shown, cause


def _labelled(obj: dict, label: str) -> bool:
    key, _, value = label.partition("=")
    return (obj["metadata"].get("labels") or {}).get(key) == value


class HostControllers:
    """What the kubelet would do for the workloads the drill runs for real: start each host process
    as soon as its Deployment exists, while `pulumi up` is still running, and start it again when the
    Deployment's pod template changes (a rollout: new pods, e.g. after belen changed the sealing keys)
    or, after the kubelet's back-off, when it died or its start failed. Each such restart is recorded
    in RESTARTS with the last lines it logged."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.started: dict[str, tuple] = {}  # script → the pod templates it runs (uid, generation) of
        self.due: dict[str, float] = {}  # script → when a dead (or failed) one may start again
        self.back_off: dict[str, float] = {}  # script → its last back-off
        self.ran_since: dict[str, float] = {}  # script → when its last start succeeded
        self.failed: set[str] = set()  # scripts whose last start failed (already recorded)
        self.restarts = RESTARTS.setdefault(cluster.name, [])
        self._ticked = 0.0

    @property
    def restarted(self) -> list[str]:
        """Each host process started again because it had died."""
        return [r.controller for r in self.restarts if r.reason == "died"]

    def tick(self, now: bool = False) -> None:
        """The kubelet's loop: `poll()` at most once a second (or `now`); while the API server is away
        it waits, like a kubelet."""
        if not now and time.monotonic() - self._ticked < 1:
            return
        self._ticked = time.monotonic()
        try:
            self.poll()
        except AssertionError:
            pass

    def poll(self) -> None:
        deployments = self.cluster.get("deployments", "-A")
        discovered: set[str] | None = None  # asked once a poll, and only when a start waits on it
        for process in HOST_PROCESSES:
            script = process.script
            matches = [[d for d in deployments if _labelled(d, workload)] for workload in process.workloads]
            if not all(matches):
                continue
            templates = tuple(sorted((d["metadata"]["uid"], d["metadata"]["generation"]) for m in matches for d in m))
            rollout = self.started.get(script) != templates  # new pods (or the first): no back-off
            if not rollout and self._running(process):
                continue
            now = time.monotonic()
            if not rollout and script not in self.due:  # found dead: it restarts after the back-off
                self.due[script] = now + self._next_back_off(script, now)
            if not rollout and now < self.due[script]:
                continue
            if process.crds:
                discovered = self._discovered() if discovered is None else discovered
                if not discovered.issuperset(process.crds):
                    continue
            waited = 0.0 if rollout else self.back_off[script]
            if not rollout and script not in self.failed:
                self._record(process, "died", waited)
            self.started[script] = templates
            if self.start(script):
                self.due.pop(script, None)
                self.failed.discard(script)
                self.ran_since[script] = time.monotonic()
            else:  # reported, and tried again after a back-off, as a kubelet does for a container that exits
                self._record(process, "start failed", waited, self._read(f"{script}-start.log"))
                self.failed.add(script)
                self.due[script] = time.monotonic() + self._next_back_off(script, time.monotonic())

    def _next_back_off(self, script: str, now: float) -> float:
        previous = self.back_off.get(script)
        ran = now - self.ran_since.get(script, now)
        delay = BACK_OFF_FIRST if previous is None or ran >= BACK_OFF_RESET else min(previous * 2, BACK_OFF_MAX)
        self.back_off[script] = delay
        return delay

    def _record(self, process: HostProcess, reason: str, waited: float, log: str | None = None) -> None:
        for name in process.names:
            if log is None and self._alive(name):
                continue  # of a script's processes, only the dead ones
            text = log if log is not None else self._read(f"{name}.log")
            lines, cause = death(name, text)
            self.restarts.append(Restart(name, reason, SCENARIO["name"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         lines, None if reason == "start failed" else cause, waited))
            if log is not None:
                break

    def _read(self, filename: str) -> str:
        path = self.cluster.dir / filename
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, script: str) -> bool:
        return run([E2E / script, "start", self.cluster.name], log=self.cluster.dir / f"{script}-start.log",
                   check=False).returncode == 0

    def stop(self, script: str | None = None) -> None:
        """Stop one host process (or all of them): the cluster's kubelet is gone."""
        for process in HOST_PROCESSES:
            if script in (None, process.script):
                run([E2E / process.script, "stop", self.cluster.name], check=False)
                for state in (self.started, self.due):
                    state.pop(process.script, None)
                self.failed.discard(process.script)

    def _running(self, process: HostProcess) -> bool:
        """Every process it started is alive."""
        return all(self._alive(name) for name in process.names)

    def _alive(self, name: str) -> bool:
        """The process of `<name>.pid` runs (not gone, not a zombie)."""
        try:
            stat = Path(f"/proc/{int((self.cluster.dir / f'{name}.pid').read_text())}/stat").read_text()
        except (OSError, ValueError):
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def _discovered(self) -> set[str]:
        """Every resource the API server serves in discovery (`plural.group`), as the controllers see it
        before they start: a CRD is listed there only once it is Established, so one discovery call
        answers both (and no poll lists the CRDs' whole schemas, megabytes a call)."""
        return set(self.cluster.kubectl("api-resources", "-o", "name", check=False).stdout.split())


class ImageMirror:
    """The test bed's image mirror (e2e/oci-mirror): a loopback OCI registry holding the Flux
    Operator's manifests artifact; `registry` is the value for belen:images.registry."""

    def __init__(self) -> None:
        run([E2E / "oci-mirror", "start"], log=BUILD / "logs" / "oci-mirror.log")
        self.registry = (BUILD / "oci-mirror" / "mirror").read_text().strip()

    @staticmethod
    def stop() -> None:
        run([E2E / "oci-mirror", "stop"], check=False)


class GitServer:
    """The test bed's Git server (e2e/git_server.py, on 127.0.0.1) and its one repository, `gitops`,
    new and empty. It runs until `stop()` (or `GitServer.stop_running()` from another process)."""

    def __init__(self) -> None:
        self.dir = BUILD / "git"
        GitServer.stop_running()
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.bare = self.dir / "repos" / "gitops.git"
        self.work = self.dir / "work"
        self._git("init", "-q", "--bare", "-b", "main", str(self.bare))
        self._git("init", "-q", "-b", "main", str(self.work))
        portfile = self.dir / "port"
        self.process = subprocess.Popen([sys.executable, E2E / "git_server.py", self.dir / "repos", portfile],
                                        stdout=(self.dir / "server.log").open("w"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        (self.dir / "server.pid").write_text(str(self.process.pid))
        self.url = f"http://127.0.0.1:{wait_for('the Git server', lambda: portfile.exists() and portfile.read_text(), 10)}/gitops.git"

    def commit(self, files: dict[str, str], message: str) -> None:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self._git("-C", str(self.work), "add", "-A")
        self._git("-C", str(self.work), "-c", "user.name=belen drill", "-c", "user.email=drill@belen.test",
                  "commit", "-q", "-m", message)
        self._git("-C", str(self.work), "push", "-q", str(self.bare), "main")

    def stop(self) -> None:
        self.process.terminate()
        (self.dir / "server.pid").unlink(missing_ok=True)

    @staticmethod
    def stop_running() -> None:
        pidfile = BUILD / "git" / "server.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
            pidfile.unlink()

    @staticmethod
    def _git(*args: str) -> None:
        run(["git", *args], log=BUILD / "logs" / "git.log")


def wait_for(what: str, check, timeout: float = 60, interval: float = 0.5):
    """Poll `check()` until it returns a truthy value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def claim(folder: Path):
    """Hold `folder` for this process (an advisory lock, released when the process exits): a second
    run would wipe the first one's state."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / ".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another test-bed run is using {folder}: wait for it, or set BELEN_E2E_BUILD to a "
                         "folder of your own") from None
    return lock


class Project:
    """The program as the test bed deploys it: belen's own files (linked), the test bed's stack files,
    and a Pulumi state (a file backend): fresh for every drill; `keep` keeps the state and the stack
    files (with their secrets) of an earlier run."""

    def __init__(self, keep: bool = False) -> None:
        self._lock = claim(BUILD)
        for directory in (BUILD / "logs", *(() if keep else (PROJECT, STATE))):
            if directory.exists():
                shutil.rmtree(directory)
        STATE.mkdir(parents=True, exist_ok=True)
        (PROJECT / "stacks").mkdir(parents=True, exist_ok=True)
        for name in ("__main__.py", "components", "requirements.txt", "venv"):
            (PROJECT / name).unlink(missing_ok=True)
            (PROJECT / name).symlink_to(ROOT / name)
        shutil.copy(ROOT / "Pulumi.yaml", PROJECT / "Pulumi.yaml")


def write_stack(stack: str, config: dict[str, Any]) -> Path:
    """Write a stack's plain settings; what Pulumi wrote there (its encryption salt, the secrets
    set with `pulumi config set --secret`) is kept."""
    path = PROJECT / "stacks" / f"Pulumi.{stack}.yaml"
    current = yaml.safe_load(path.read_text()) if path.exists() else {}
    secure = {key: value for key, value in (current.get("config") or {}).items() if _holds_secure(value)}
    plain = {key: value for key, value in config.items() if key not in secure}
    path.write_text(yaml.safe_dump({**current, "config": {**plain, **secure}}, sort_keys=False))
    return path


def _holds_secure(value: Any) -> bool:
    """A value set with `pulumi config set --secret` (`{secure: …}`), at the top or nested (`--path`)."""
    if isinstance(value, dict):
        return "secure" in value or any(_holds_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)
    return False


@dataclass
class Up:
    """One `pulumi up`: its exit code, its engine event log, and what it printed."""

    returncode: int
    events: Path
    output: str


@dataclass
class Stack:
    """One Pulumi stack of the drill, driven through the real Pulumi CLI."""

    name: str
    cluster: Cluster
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # what set_secret set: belen key path → value
    ups: int = 0

    @property
    def log(self) -> Path:
        return BUILD / "logs" / f"pulumi-{self.name}.log"

    def pulumi(self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 1200):
        return run(["pulumi", *args, "--stack", self.name, "--non-interactive"], cwd=PROJECT, check=check,
                   stdin=stdin, log=self.log, timeout=timeout)

    def configure(self, config: dict[str, Any]) -> None:
        """The stack's plain settings (secrets set with `pulumi config set --secret` are kept)."""
        self.config = config
        write_stack(self.name, config)

    def init(self) -> None:
        self.pulumi("stack", "init", "--secrets-provider", "passphrase")
        self.pulumi("config", "set", "--secret", "belen:kubeconfig", stdin=self.cluster.kubeconfig.read_text())

    def program_config(self) -> dict[str, Any]:
        """What the program reads: the plain settings with the secrets set by `set_secret` nested in."""
        config = json.loads(json.dumps(self.config))
        for path, value in self.secrets.items():
            *parents, leaf = path.split(".")
            node = config.setdefault(f"belen:{parents[0]}", {}) if parents else config
            for part in parents[1:]:
                node = node.setdefault(part, {})
            node[leaf if parents else f"belen:{leaf}"] = value
        return config

    def set_secret(self, path: str, value: str) -> None:
        """A secret setting set as README tells users: `pulumi config set --secret --path 'belen:PATH' < file`."""
        self.pulumi("config", "set", "--secret", "--path", f"belen:{path}", stdin=value)
        self.secrets[path] = value

    def up_command(self, *args: str, diff: bool = True) -> tuple[list[str], Path]:
        """The command line of this stack's next `pulumi up`, and the engine event log it writes;
        `diff`: every resource's details in the log (a user's runbook command shows none)."""
        self.ups += 1
        events = BUILD / "logs" / f"events-{self.name}-{self.ups}.jsonl"
        return ["pulumi", "up", "--yes", *(("--diff",) if diff else ()), "--event-log", str(events), *args,
                "--stack", self.name, "--non-interactive"], events

    def up(self, *args: str, check: bool = True, diff: bool = True) -> Up:
        """`pulumi up` with its event log, the host processes started as their workloads appear."""
        cmd, events = self.up_command(*args, diff=diff)
        start = self.log.stat().st_size if self.log.exists() else 0
        returncode = self.cluster.run_as_kubelet(cmd, self.log, cwd=PROJECT)
        with self.log.open() as log:
            log.seek(start)
            output = log.read()
        if check and returncode != 0:
            raise AssertionError(f"pulumi up of {self.name} exited {returncode}: see {self.log}\n{output[-3000:]}")
        return Up(returncode, events, output)

    def output(self, name: str, show_secrets: bool = False) -> Any:
        args = ["stack", "output", name, "--json"] + (["--show-secrets"] if show_secrets else [])
        return json.loads(self.pulumi(*args).stdout)

    def state(self) -> dict:
        return json.loads(self.pulumi("stack", "export").stdout)


def decode(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def read_events(path: Path) -> list[dict]:
    """The engine's event log, an event a line; a last line still being written (the `up` runs) is left out."""
    text = path.read_text() if path.exists() else ""
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [json.loads(line) for line in lines if line.strip()]
