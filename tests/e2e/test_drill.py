"""Replica drill I: `pulumi up` for real — the Pulumi engine, two local API servers, the real
sealed-secrets controller and kubeseal. The homelab dies; its cloud replica opens every
SealedSecret the homelab sealed.

Scenarios run in order and build on each other (report names "1-primary" … "6-bad-settings").
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

from tests.e2e import testbed
from tools import mockrun

HOMELAB, CLOUD, BAD = "drill-homelab", "drill-cloud", "drill-bad"
APPS = "drill-apps"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
# The three scopes a SealedSecret can have, each with its own plaintext.
SEALED = {
    "strict": ("db-password", {"password": "correct horse battery staple"}),
    "namespace-wide": ("api-token", {"token": "tok-4f1c9e"}),
    "cluster-wide": ("shared-config", {"greeting": "hello from the homelab"}),
}
state: dict[str, Any] = {}


def platform(name: str, charts: dict) -> dict[str, Any]:
    """The settings both drill stacks share: a fake store, a self-signed issuer and a certificate,
    every chart from its local path (the real charts, from their Go modules)."""
    return {
        "belen:cluster": {"name": name, "environment": "homelab"},
        "belen:ingress": {"install": False},
        "belen:externalSecrets": {"stores": [
            {"name": "demo", "provider": "fake", "data": [{"key": "greeting", "value": "hello from the drill"}]},
        ]},
        "belen:certManager": {
            "issuers": [{"name": "selfsigned", "selfSigned": {}}],
            "certificates": [{"name": "drill", "namespace": "drill-certs", "dnsNames": [f"{name}.drill.test"],
                              "issuer": "selfsigned"}],
        },
        "belen:charts": {key: {"path": chart["path"]} for key, chart in charts.items()},
    }


@pytest.fixture(scope="module")
def homelab(clusters, project, charts) -> testbed.Stack:
    project.write_stack(HOMELAB, platform("homelab", charts))
    stack = testbed.Stack(HOMELAB, clusters["homelab"])
    stack.init()
    return stack


@pytest.fixture(scope="module")
def cloud(clusters, project, charts) -> testbed.Stack:
    config = platform("cloud", charts)
    config["belen:sealedSecrets"] = {"keysFromStack": f"organization/belen/{HOMELAB}"}
    project.write_stack(CLOUD, config)
    stack = testbed.Stack(CLOUD, clusters["cloud"])
    stack.init()
    return stack


@pytest.mark.scenario("1-primary")
def test_primary(homelab: testbed.Stack, charts, note):
    cluster = homelab.cluster
    cluster.start_standins()
    events = testbed.BUILD / "logs" / f"events-{HOMELAB}.jsonl"
    homelab.up(event_log=events)

    missing = [obj for obj in rendered_objects(platform("homelab", charts), HOMELAB) if not exists(cluster, obj)]
    assert not missing, f"declared by the offline render but absent from the API server: {missing}"

    keys = cluster.sealing_keys()
    assert len(keys) == 1, f"expected the one generated key Secret, found {len(keys)}"
    key = keys[0]
    assert key["type"] == "kubernetes.io/tls" and key["metadata"]["labels"][KEY_LABEL] == "active"
    assert_created_before(events, "homelab-sealed-secrets-generated-key-secret", "homelab-sealed-secrets-controller")
    deployment = one(cluster.get("deployments", "-A", "-l", "app.kubernetes.io/name=sealed-secrets"))
    assert key["metadata"]["creationTimestamp"] <= deployment["metadata"]["creationTimestamp"]

    cluster.start_controller()
    time.sleep(3)  # a controller that found no key would mint one at start
    after = cluster.sealing_keys()
    assert [k["metadata"]["name"] for k in after] == [key["metadata"]["name"]], \
        f"the real controller minted a key: {[k['metadata']['name'] for k in after]}"
    state["fingerprints"] = homelab.output("sealingKeyFingerprints")
    assert_no_plaintext_in_state(homelab, [testbed.decode(key)["tls.key"], kubeconfig_client_key(cluster)])
    note(f"{len(rendered_objects(platform('homelab', charts), HOMELAB))} rendered objects present; "
         f"key {key['metadata']['name']} created before the controller; the real controller minted none; "
         "neither the key nor the kubeconfig is in the state in plain text")


@pytest.mark.scenario("2-seal")
def test_seal(homelab: testbed.Stack, note):
    certificate = homelab.output("sealingCertificate")
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    cert_file = testbed.BUILD / "sealing-cert.pem"
    cert_file.write_text(certificate)
    sealed = []
    for scope, (name, data) in SEALED.items():
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": APPS},
                  "stringData": data}
        sealed.append(testbed.run(["kubeseal", "--cert", cert_file, "--scope", scope, "--format", "yaml"],
                                  stdin=json.dumps(secret), log=testbed.BUILD / "logs" / "kubeseal.log").stdout)
    state["sealed"] = "---\n".join(sealed)
    (testbed.BUILD / "sealed-secrets.yaml").write_text(state["sealed"])
    apply_sealed(homelab.cluster)
    wait_opened(homelab.cluster)
    note("kubeseal --cert sealed strict, namespace-wide and cluster-wide Secrets; the homelab's controller opened all three")


@pytest.mark.scenario("3-replica")
def test_replica(cloud: testbed.Stack, figures, note):
    assert "sealed" in state, "needs 2-seal"
    cluster = cloud.cluster
    cluster.start_standins()
    started = time.monotonic()
    cloud.up()
    cluster.start_controller()
    apply_sealed(cluster)
    wait_opened(cluster)
    figures["recovery_seconds"] = round(time.monotonic() - started, 1)
    assert cloud.output("sealingKeyFingerprints") == state["fingerprints"]
    keys = cluster.sealing_keys()
    assert len(keys) == len(state["fingerprints"]), f"the replica holds {len(keys)} keys, the homelab {len(state['fingerprints'])}"
    note(f"the replica opened all three SealedSecrets with the homelab's key; recovery {figures['recovery_seconds']} s "
         "from `pulumi up` start to the last Secret")


@pytest.mark.scenario("4-idempotent")
def test_idempotent(homelab: testbed.Stack, cloud: testbed.Stack, note):
    for stack in (homelab, cloud):
        stack.pulumi("preview", "--expect-no-changes", "--diff")
    note("`pulumi preview --expect-no-changes` passes on both stacks after their `up`")


@pytest.mark.scenario("5-destroy")
def test_destroy_keeps_keys(cloud: testbed.Stack, note):
    before = {k["metadata"]["name"] for k in cloud.cluster.sealing_keys()}
    cloud.pulumi("destroy", "--yes")
    after = {k["metadata"]["name"] for k in cloud.cluster.sealing_keys()}
    assert before and after == before, f"destroy removed sealing keys: {sorted(before - after)}"
    note(f"`pulumi destroy` of the replica left its {len(after)} key Secret(s)")


@pytest.mark.scenario("6-bad-settings")
def test_bad_settings(clusters, project, note):
    project.write_stack(BAD, {
        "belen:cluster": {"name": "bad"},
        "belen:sealedSecrets": {"keysFromStack": f"organization/belen/{HOMELAB}", "keyRenewPeriod": "720h"},
        "belen:ingres": {"install": True},
    })
    stack = testbed.Stack(BAD, clusters["cloud"])
    stack.init()
    namespaces = {n["metadata"]["name"] for n in stack.cluster.get("namespaces")}
    result = stack.pulumi("preview", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for expected in ("belen:sealedSecrets.keyRenewPeriod", "belen:ingres"):
        assert expected in output, f"{expected} not named in:\n{output}"
    for noise in ("Traceback", "unhandled exception"):
        assert noise not in output, f"{noise!r} in:\n{output}"
    assert not [r for r in stack.state()["deployment"].get("resources") or [] if r["type"] != "pulumi:pulumi:Stack"]
    assert {n["metadata"]["name"] for n in stack.cluster.get("namespaces")} == namespaces
    note("`pulumi preview` failed with belen's lines only; nothing was created")


# --- helpers -------------------------------------------------------------------------------------

def rendered_objects(config: dict[str, Any], stack: str) -> list[dict[str, str]]:
    """What the offline render declares: (kind, namespace, name) of each object, and each release."""
    as_text = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    run = mockrun.run_main(stack=stack, config=as_text)
    objects = []
    for resource in run.resources:
        inputs = resource.inputs()
        if resource.type == "kubernetes:helm.sh/v3:Release":
            objects.append({"kind": "HelmRelease", "namespace": inputs["namespace"], "name": inputs["name"]})
        elif mockrun.api_version_kind(resource.type) and not resource.read:
            meta = inputs.get("metadata") or {}
            objects.append({"kind": mockrun.api_version_kind(resource.type)[1],
                            "namespace": meta.get("namespace", ""), "name": meta.get("name", mockrun.UNKNOWN)})
    return objects


def exists(cluster: testbed.Cluster, obj: dict[str, str]) -> bool:
    if obj["kind"] == "HelmRelease":  # Helm's own record of an installed release
        releases = cluster.get("secrets", "-n", obj["namespace"], "-l", f"owner=helm,name={obj['name']},status=deployed")
        return bool(releases)
    namespace = ["-n", obj["namespace"]] if obj["namespace"] else []
    if obj["name"] == mockrun.UNKNOWN:  # named after a value only the deployment computes (a key's fingerprint)
        return bool(cluster.get(obj["kind"].lower(), *namespace))
    return cluster.kubectl("get", obj["kind"].lower(), obj["name"], *namespace, check=False).returncode == 0


def assert_created_before(event_log, first: str, second: str) -> None:
    """In the engine's event log, resource `first` was created (its outputs recorded) before the
    creation of resource `second` started (names as in the URNs)."""
    events = testbed.read_events(event_log)

    def index(kind: str, name: str) -> int:
        for i, event in enumerate(events):
            meta = (event.get(kind) or {}).get("metadata") or {}
            if meta.get("op") == "create" and meta.get("urn", "").endswith(f"::{name}"):
                return i
        raise AssertionError(f"no create of a resource named {name} in {event_log}")

    assert index("resOutputsEvent", first) < index("resourcePreEvent", second), \
        f"{second} started before {first} was created"


def kubeconfig_client_key(cluster: testbed.Cluster) -> str:
    user = yaml.safe_load(cluster.kubeconfig.read_text())["users"][0]["user"]
    return user.get("client-key-data") or user.get("token") or ""


def assert_no_plaintext_in_state(stack: testbed.Stack, secrets: list[str]) -> None:
    """The state file on disk holds the sealing key and the kubeconfig only encrypted."""
    files = [path.read_text(errors="replace") for path in testbed.STATE.rglob("*.json")]
    assert files, f"no state files under {testbed.STATE}"
    for secret in secrets:
        needle = secret.strip().splitlines()[1] if "-----BEGIN" in secret else secret
        assert needle and not any(needle in text for text in files), "a secret is in the state in plain text"
    assert "PRIVATE KEY-----" not in "".join(files)


def apply_sealed(cluster: testbed.Cluster) -> None:
    cluster.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APPS}}))
    cluster.apply(state["sealed"])


def wait_opened(cluster: testbed.Cluster) -> None:
    """Every SealedSecret was opened by the controller into its Secret, with the sealed plaintext."""
    def opened():
        found = {s["metadata"]["name"]: testbed.decode(s) for s in cluster.get("secrets", "-n", APPS)}
        return all(found.get(name) == data for name, data in SEALED.values())
    testbed.wait_for(f"the controller on {cluster.name} to open the SealedSecrets", opened, timeout=90)


def one(items: list[dict]) -> dict:
    assert len(items) == 1, f"expected one, found {len(items)}"
    return items[0]
