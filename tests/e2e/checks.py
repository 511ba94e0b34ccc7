"""What the drill's scenarios check on a cluster, in the engine's event log and in the state."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from e2e import testbed
from tests.e2e.drill_config import APPS, SEALED
from tools import mockrun, render

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


def one(items: list[dict]) -> dict:
    assert len(items) == 1, f"expected one, found {len(items)}"
    return items[0]


def named(cluster: testbed.Cluster, kind: str, namespace: str, name: str) -> dict | None:
    found = cluster.get(kind, "-n", namespace, "--field-selector", f"metadata.name={name}")
    return found[0] if found else None


def condition(obj: dict, kind: str = "Ready") -> dict:
    """The object's condition of type `kind` (`{}` when it has none)."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def is_ready(obj: dict | None) -> bool:
    return bool(obj) and condition(obj).get("status") == "True"


# --- what the offline render declares ------------------------------------------------------------

def rendered_objects(stack: testbed.Stack) -> list[dict[str, str]]:
    """What the offline render of `stack` (its settings and secrets) declares: (kind, namespace, name)
    of each object, and each release, with the Pulumi resource (`resource`) that declares it."""
    config = stack.program_config()
    secret_keys = {f"belen:{path.split('.')[0]}" for path in stack.secrets}
    run = mockrun.run_main(stack=stack.name, config={key: render.as_config_string(value) for key, value in config.items()},
                           secret_keys=secret_keys)
    objects = []
    for resource in run.resources:
        inputs = resource.inputs()
        if resource.type == "kubernetes:helm.sh/v3:Release":
            objects.append({"kind": "HelmRelease", "namespace": inputs["namespace"], "name": inputs["name"],
                            "resource": resource.name})
        elif mockrun.api_version_kind(resource.type) and not resource.read:
            meta = inputs.get("metadata") or {}
            objects.append({"kind": mockrun.api_version_kind(resource.type)[1], "resource": resource.name,
                            "namespace": meta.get("namespace", ""), "name": meta.get("name", mockrun.UNKNOWN)})
    return objects


def deployed_names(stack: testbed.Stack) -> dict[str, str]:
    """Pulumi resource name → the object name the engine recorded in the stack's state (its outputs)."""
    return {r["urn"].rsplit("::", 1)[1]: ((r.get("outputs") or {}).get("metadata") or {}).get("name", "")
            for r in stack.state()["deployment"]["resources"]}


def exists(cluster: testbed.Cluster, obj: dict[str, str], deployed: dict[str, str]) -> bool:
    """The object is in the API server by its exact name; a name only the deployment computes (a key's
    fingerprint) is the one the engine recorded for the declaring resource (`deployed_names`)."""
    if obj["kind"] == "HelmRelease":  # Helm's own record of an installed release
        releases = cluster.get("secrets", "-n", obj["namespace"], "-l", f"owner=helm,name={obj['name']},status=deployed")
        return bool(releases)
    namespace = ["-n", obj["namespace"]] if obj["namespace"] else []
    name = deployed.get(obj["resource"]) if obj["name"] == mockrun.UNKNOWN else obj["name"]
    return bool(name) and cluster.kubectl("get", obj["kind"].lower(), name, *namespace, check=False).returncode == 0


# --- the engine's event log ----------------------------------------------------------------------

class EventLog:
    """`pulumi up --event-log`: when each resource's step started and when its outputs (the resource
    created and, for awaited ones, ready) were recorded, by URN."""

    def __init__(self, path: Path):
        self.path = path
        self.started: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.timestamps: list[int] = []  # each event's Unix second (the engine stamps whole seconds), by index
        for index, event in enumerate(testbed.read_events(path)):
            self.timestamps.append(event.get("timestamp", 0))
            for kind, into in (("resourcePreEvent", self.started), ("resOutputsEvent", self.done)):
                meta = (event.get(kind) or {}).get("metadata") or {}
                if meta.get("urn") and meta.get("op") in ("create", "update", "replace", "create-replacement"):
                    into.setdefault(meta["urn"], index)

    def urns(self, type_suffix: str = "", name_suffix: str = "") -> list[str]:
        return [urn for urn in self.started if urn.split("::")[-2].endswith(type_suffix)
                and urn.endswith(name_suffix)]

    def one(self, name: str) -> str:
        found = [urn for urn in self.started if urn.endswith(f"::{name}")]
        assert len(found) == 1, f"{len(found)} steps of a resource named {name} in {self.path}"
        return found[0]

    def assert_before(self, first: str, second: str) -> None:
        """Resource `first` was done (created, and ready when awaited) before `second` started."""
        assert first in self.done, f"{first} was never done in {self.path}"
        assert self.done[first] < self.started[second], f"{second} started before {first} was done"


# --- the state -----------------------------------------------------------------------------------

def kubeconfig_client_key(cluster: testbed.Cluster) -> str:
    user = yaml.safe_load(cluster.kubeconfig.read_text())["users"][0]["user"]
    return user.get("client-key-data") or user.get("token") or ""


def assert_no_plaintext_in_state(secrets: list[str]) -> None:
    """The state files on disk hold the sealing keys and the kubeconfigs only encrypted."""
    files = [path.read_text(errors="replace") for path in testbed.STATE.rglob("*.json")]
    assert files, f"no state files under {testbed.STATE}"
    for secret in secrets:
        needle = secret.strip().splitlines()[1] if "-----BEGIN" in secret else secret
        assert needle and not any(needle in text for text in files), "a secret is in the state in plain text"
    assert "PRIVATE KEY-----" not in "".join(files)


# --- Flux and the SealedSecrets from Git ---------------------------------------------------------

def request_reconcile(cluster: testbed.Cluster) -> None:
    """What `flux reconcile` does: ask both Flux objects to reconcile now, not at their interval."""
    stamp = f"reconcile.fluxcd.io/requestedAt={time.time()}"
    for kind in ("gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"):
        cluster.kubectl("annotate", "--overwrite", "-n", "flux-system", kind, "flux-system", stamp)


def opened(cluster: testbed.Cluster, sealed: dict = SEALED, namespace: str = APPS) -> bool:
    found = {s["metadata"]["name"]: testbed.decode(s) for s in cluster.get("secrets", "-n", namespace)}
    return all(found.get(name) == data for name, data in sealed.values())


def wait_opened(cluster: testbed.Cluster, sealed: dict = SEALED, namespace: str = APPS, timeout: float = 180) -> None:
    """Every SealedSecret was opened by the controller into its Secret, with the sealed plaintext."""
    cluster.wait_for(f"the SealedSecrets from Git to open on {cluster.name}",
                     lambda: opened(cluster, sealed, namespace), timeout=timeout)


def tls_data(cluster: testbed.Cluster, namespace: str, name: str) -> dict[str, bytes]:
    secret = named(cluster, "secrets", namespace, name)
    assert secret, f"{cluster.name}: no secret {namespace}/{name}"
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def pod_template_images(cluster: testbed.Cluster) -> list[tuple[str, str]]:
    """(kind namespace/name, image) of every container of every pod template in the cluster."""
    found = []
    for obj in cluster.get("deployments,daemonsets,statefulsets,jobs,cronjobs", "-A"):
        spec = obj["spec"]
        template = spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec["template"]
        pod = template["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            found.append((f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}", container["image"]))
    return found


def seal_all(certificate: str, sealed: dict = SEALED, namespace: str = APPS) -> str:
    """The real kubeseal seals each of `sealed`'s Secrets with `certificate`, in its scope."""
    cert_file = testbed.BUILD / "sealing-cert.pem"
    cert_file.write_text(certificate)
    documents = []
    for scope, (name, data) in sealed.items():
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                  "stringData": data}
        documents.append(testbed.run(["kubeseal", "--cert", cert_file, "--scope", scope, "--format", "yaml"],
                                     stdin=json.dumps(secret), log=testbed.BUILD / "logs" / "kubeseal.log").stdout)
    return "---\n".join(documents)


# --- tools.status on a live cluster ---------------------------------------------------------------

def platform_status(stack: testbed.Stack, *args: str) -> subprocess.CompletedProcess:
    """`python -m tools.status STACK` as a user runs it in the project: the stack's kubeconfig and outputs
    read through the Pulumi CLI (the drill's backend and passphrase)."""
    env = {**testbed.environment(), "PYTHONPATH": str(testbed.ROOT)}
    return testbed.run([sys.executable, "-m", "tools.status", stack.name, *args], cwd=testbed.PROJECT, env=env,
                       check=False, log=testbed.BUILD / "logs" / f"status-{stack.name}.log", timeout=600)


def assert_whole(stack: testbed.Stack, wait: int = 120) -> str:
    """tools.status finds the stack's platform whole (waiting up to `wait` s for controllers to catch up):
    each area's summary, for the scenario's note."""
    result = platform_status(stack, "--json", "--wait", str(wait))
    assert result.returncode == 0, f"tools.status {stack.name} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    report = json.loads(result.stdout)
    return "; ".join(f"{area['area']}: {area['summary']}" for area in report["areas"])
