"""The `local` stack on belen's test bed, for a machine without Docker, kind or the Pulumi CLI
(bin/up-local falls back to it):

    venv/bin/python -m e2e.local_stack up      # build the toolchain if needed, then `pulumi up` of stacks/Pulumi.local.yaml
    venv/bin/python -m e2e.local_stack down    # stop the cluster, its controllers and the Git server

The cluster is the drill's kind (kwok: a real API server, control plane and the real controllers as
host processes; pods are simulated — no container runs). What the stack asks for that this machine
cannot give is replaced, and said so: the charts come from their Go modules, Traefik is not installed
(no Go module carries its chart), every image (and the Flux Operator's manifests artifact, Flux 2.9.x)
comes from the test bed's loopback mirror, and Flux syncs a sample repository from a local Git server
instead of the stack's GitHub URL (the test bed connects to 127.0.0.1 only). State, kubeconfig and logs live
in build/up-local; the state is kept across runs, like ./.state with kind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BELEN_E2E_BUILD", str(ROOT / "build" / "up-local"))
os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "belen-local")  # as bin/up-local with kind

import yaml  # noqa: E402 - after the environment the test bed reads at import

from e2e import testbed  # noqa: E402

STACK = "local"
SAMPLE = {  # the local stack's Flux path, served by the local Git server
    "clusters/staging/hello.yaml": yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hello"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hello", "namespace": "hello"},
         "data": {"cluster": "${cluster_name}", "message": "synced by Flux from the local Git server"}},
    ], sort_keys=False),
}


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["down"]):
        print("usage: python -m e2e.local_stack up|down", file=sys.stderr)
        return 2
    testbed.interruptible()
    cluster = testbed.Cluster(STACK)
    if argv == ["down"]:
        cluster.down()
        testbed.GitServer.stop_running()
        testbed.ImageMirror.stop()
        print(f"stopped the local test-bed cluster (state kept in {testbed.STATE})")
        return 0
    build_toolchain()
    say("charts: from their Go modules (e2e/charts)")
    charts = {line.split()[0]: line.split()[1] for line in
              testbed.run([testbed.E2E / "charts"], log=testbed.BUILD / "logs" / "charts.log").stdout.splitlines()}
    project = testbed.Project(keep=True)  # noqa: F841 - holds the build folder for this run
    if not answers(cluster):
        say("cluster: starting kwok's control plane on 127.0.0.1")
        cluster.down()
        cluster.up()
    git = testbed.GitServer()
    git.commit(SAMPLE, "sample apps for the local stack")
    mirror = testbed.ImageMirror()
    stack = testbed.Stack(STACK, cluster)
    stack.configure(local_config(charts, git.url, mirror.registry))
    if f'"name": "{STACK}"' in testbed.run(["pulumi", "stack", "ls", "--json"], cwd=testbed.PROJECT).stdout:
        stack.pulumi("config", "set", "--secret", "belen:kubeconfig", stdin=cluster.kubeconfig.read_text())
    else:
        stack.init()
    say("pulumi up: the real engine and kubernetes provider; the sealed-secrets, ESO, cert-manager and Flux controllers "
        "start as host processes when their Deployments appear")
    with echoed(stack.log):
        # --refresh: a cluster started anew since the last run holds none of what the state lists.
        # --run-program: the refresh reads it with the kubeconfig just set, not the old cluster's from the state.
        result = stack.up("--refresh", "--run-program", check=False)
    if result.returncode:
        say(f"pulumi up failed (exit {result.returncode}); the whole log is {stack.log}")
        return 1
    print(testbed.run(["pulumi", "stack", "output", "--stack", STACK], cwd=testbed.PROJECT).stdout)
    say(f"the local stack is up. kubeconfig: {cluster.kubeconfig}\n"
        f"  KUBECONFIG={cluster.kubeconfig} {testbed.bin_dir()}/kubectl get pods -A   (simulated pods)\n"
        f"  bin/up-local --down   stops it")
    # Is the platform whole? The status table, as `python -m tools.status local` shows it to a user.
    return subprocess.run([sys.executable, "-m", "tools.status", STACK, "--wait", "300"], cwd=testbed.PROJECT,
                          env={**testbed.environment(), "PYTHONPATH": str(ROOT)}).returncode


def local_config(charts: dict[str, str], git_url: str, mirror: str) -> dict:
    """stacks/Pulumi.local.yaml with what this machine cannot give replaced (see the module's docstring)."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["config"]
    config["belen:cluster"] = {k: v for k, v in config["belen:cluster"].items() if k != "context"}
    config["belen:ingress"] = {"install": False}
    # The Flux Operator's manifests come from the loopback mirror, which holds the Flux it ships (2.9.x).
    config["belen:flux"] = {**config["belen:flux"], "git": {**config["belen:flux"]["git"], "url": git_url},
                            "version": "2.9.x"}
    config["belen:images"] = {"registry": mirror}
    config["belen:charts"] = {key: {"path": path} for key, path in charts.items()}
    return config


def build_toolchain() -> None:
    """The drill's toolchain, built once (cold: about an hour on 2 cores, docs/drill.md), with its progress shown."""
    if testbed.toolchain_cached():
        return
    log = testbed.BUILD / "build-toolchain.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"building the test-bed toolchain from Go modules (cold: about an hour on 2 cores, then cached); log: {log}")
    started = last = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen([testbed.E2E / "build-toolchain"], stdout=out, stderr=subprocess.STDOUT)
        seen = 0
        while process.poll() is None:
            time.sleep(5)
            lines = log.read_text(errors="replace").splitlines()
            for line in lines[seen:]:
                if " built in " in line:
                    say(line.removeprefix("[build-toolchain] "))
                    last = time.monotonic()
            seen = len(lines)
            if time.monotonic() - last >= 60:
                say(f"still building ({(time.monotonic() - started) / 60:.0f} min so far)")
                last = time.monotonic()
    if process.returncode:
        raise SystemExit(f"error: the toolchain build failed (exit {process.returncode}) — see {log}")


@contextlib.contextmanager
def echoed(log: Path):
    """What is appended to `log` meanwhile is printed too: the engine's own progress."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    done = threading.Event()

    def follow() -> None:
        with log.open() as text:
            text.seek(0, os.SEEK_END)
            while not done.is_set():
                line = text.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.2)
            print(text.read(), end="", flush=True)

    follower = threading.Thread(target=follow)
    follower.start()
    try:
        yield
    finally:
        done.set()
        follower.join()


def answers(cluster: testbed.Cluster) -> bool:
    return cluster.kubeconfig.exists() and cluster.kubectl("get", "--raw", "/readyz", check=False).returncode == 0


def say(text: str) -> None:
    print(f"[up-local] {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
