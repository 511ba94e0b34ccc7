"""The drill's test bed, seen from the tests: the toolchain, clusters, controllers and the Pulumi CLI.

Every process runs on this machine and talks to 127.0.0.1 only; the e2e/ scripts do the work,
this module calls them and keeps their logs under build/e2e/.
"""

from __future__ import annotations

import base64
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

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "e2e"
BUILD = ROOT / "build" / "e2e"
PROJECT = BUILD / "project"  # the program as the drill deploys it, with the drill's stack files
STATE = BUILD / "state"
# The drill's own passphrase for its throwaway state: not a secret of anyone's.
PASSPHRASE = "belen-drill"


def bin_dir() -> Path:
    return Path(subprocess.run([E2E / "build-toolchain", "--bin"], check=True, capture_output=True,
                               text=True).stdout.strip())


def toolchain_cached() -> bool:
    return subprocess.run([E2E / "build-toolchain", "--check"]).returncode == 0


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


def run(cmd: list[Any], *, log: Path | None = None, check: bool = True, stdin: str | None = None,
        env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command; its output goes to `log` too (appended, with the command line)."""
    result = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, text=True,
                            env=env or environment(), cwd=cwd, timeout=timeout)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"$ {' '.join(map(str, cmd))}\n{result.stdout}{result.stderr}[exit {result.returncode}]\n\n")
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd[:3]))} … exited {result.returncode}:\n"
                             f"{(result.stdout + result.stderr)[-4000:]}")
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
        self.stop_controller()
        self.stop_flux()
        self.stop_standins()
        self.controllers = HostControllers(self)
        run([E2E / "cluster", "down", self.name], log=BUILD / f"{self.name}-down.log", check=False)

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

    def start_controller(self) -> None:
        run([E2E / "sealed-secrets-controller", "start", self.name], log=self.dir / "controller-start.log")

    def stop_controller(self) -> None:
        run([E2E / "sealed-secrets-controller", "stop", self.name], check=False)

    def start_flux(self) -> None:
        run([E2E / "flux-controllers", "start", self.name], log=self.dir / "flux-start.log")

    def stop_flux(self) -> None:
        run([E2E / "flux-controllers", "stop", self.name], check=False)

    def controller_log(self) -> str:
        path = self.dir / "sealed-secrets-controller.log"
        return path.read_text() if path.exists() else ""

    def start_standins(self) -> None:
        self.stop_standins()
        log = (self.dir / "standins.log").open("a")
        proc = subprocess.Popen([sys.executable, E2E / "standins.py", self.kubeconfig, self.dir / "standin-ca",
                                 BUILD / "flux"],
                                stdout=log, stderr=subprocess.STDOUT, env=environment(), start_new_session=True)
        (self.dir / "standins.pid").write_text(str(proc.pid))

    def stop_standins(self) -> None:
        pidfile = self.dir / "standins.pid"
        if pidfile.exists():
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
            pidfile.unlink()


class HostControllers:
    """What the kubelet would do for the two workloads the drill runs for real: start the
    sealed-secrets controller once its Deployment exists, and Flux's controllers once their CRDs
    exist (the FluxInstance was reconciled), while `pulumi up` is still running."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.sealed_secrets = self.flux = False

    def poll(self) -> None:
        if not self.sealed_secrets and self.cluster.get("deployments", "-A", "-l", "app.kubernetes.io/name=sealed-secrets"):
            self.cluster.start_controller()
            self.sealed_secrets = True
        if not self.flux and self._served("gitrepositories.source.toolkit.fluxcd.io",
                                          "kustomizations.kustomize.toolkit.fluxcd.io"):
            self.cluster.start_flux()
            self.flux = True

    def _served(self, *crds: str) -> bool:
        """Every CRD is established and its API group is in discovery (the controllers check both)."""
        for crd in crds:
            if self.cluster.kubectl("wait", "--for=condition=Established", "--timeout=1s", f"crd/{crd}",
                                    check=False).returncode != 0:
                return False
            group = crd.split(".", 1)[1]
            if not self.cluster.kubectl("api-resources", f"--api-group={group}", "-o", "name", check=False).stdout.strip():
                return False
        return True


class GitServer:
    """The drill's Git server (e2e/git_server.py) and its one repository, `gitops`."""

    def __init__(self) -> None:
        self.dir = BUILD / "git"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.bare = self.dir / "repos" / "gitops.git"
        self.work = self.dir / "work"
        self._git("init", "-q", "--bare", "-b", "main", str(self.bare))
        self._git("init", "-q", "-b", "main", str(self.work))
        portfile = self.dir / "port"
        self.process = subprocess.Popen([sys.executable, E2E / "git_server.py", self.dir / "repos", portfile],
                                        stdout=(self.dir / "server.log").open("w"), stderr=subprocess.STDOUT)
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


class Project:
    """The program as the drill deploys it: belen's own files (linked), the drill's stack files,
    and a fresh Pulumi state (a file backend) for every drill."""

    def __init__(self) -> None:
        for directory in (PROJECT, STATE, BUILD / "logs"):
            if directory.exists():
                shutil.rmtree(directory)
        STATE.mkdir(parents=True)
        (PROJECT / "stacks").mkdir(parents=True)
        for name in ("__main__.py", "components", "requirements.txt", "venv"):
            (PROJECT / name).symlink_to(ROOT / name)
        shutil.copy(ROOT / "Pulumi.yaml", PROJECT / "Pulumi.yaml")

    def write_stack(self, stack: str, config: dict[str, Any]) -> Path:
        """Write a stack's plain settings; what Pulumi wrote there (its encryption salt, the secrets
        set with `pulumi config set --secret`) is kept."""
        path = PROJECT / "stacks" / f"Pulumi.{stack}.yaml"
        current = yaml.safe_load(path.read_text()) if path.exists() else {}
        secure = {key: value for key, value in (current.get("config") or {}).items()
                  if isinstance(value, dict) and "secure" in value}
        path.write_text(yaml.safe_dump({**current, "config": {**config, **secure}}, sort_keys=False))
        return path


@dataclass
class Stack:
    """One Pulumi stack of the drill, driven through the real Pulumi CLI."""

    name: str
    cluster: Cluster

    @property
    def log(self) -> Path:
        return BUILD / "logs" / f"pulumi-{self.name}.log"

    def pulumi(self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 1200):
        return run(["pulumi", *args, "--stack", self.name, "--non-interactive"], cwd=PROJECT, check=check,
                   stdin=stdin, log=self.log, timeout=timeout)

    def init(self) -> None:
        self.pulumi("stack", "init", "--secrets-provider", "passphrase")
        self.pulumi("config", "set", "--secret", "belen:kubeconfig", stdin=self.cluster.kubeconfig.read_text())

    def up(self, event_log: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """`pulumi up`, with the host processes started as their workloads appear (HostControllers)."""
        extra = ["--event-log", str(event_log)] if event_log else []
        cmd = ["pulumi", "up", "--yes", "--diff", *extra, "--stack", self.name, "--non-interactive"]
        controllers = self.cluster.controllers
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            process = subprocess.Popen(cmd, cwd=PROJECT, env=environment(), stdout=log, stderr=subprocess.STDOUT)
            try:
                while process.poll() is None:
                    controllers.poll()
                    time.sleep(1)
            finally:
                if process.poll() is None:  # the harness failed: never leave an update running
                    process.terminate()
                    process.wait(60)
            log.write(f"[exit {process.returncode}]\n\n")
        controllers.poll()
        if check and process.returncode != 0:
            raise AssertionError(f"pulumi up of {self.name} exited {process.returncode}: see {self.log}")
        return process

    def output(self, name: str, show_secrets: bool = False) -> Any:
        args = ["stack", "output", name, "--json"] + (["--show-secrets"] if show_secrets else [])
        return json.loads(self.pulumi(*args).stdout)

    def state(self) -> dict:
        return json.loads(self.pulumi("stack", "export").stdout)


def decode(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
