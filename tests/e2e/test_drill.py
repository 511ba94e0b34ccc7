"""The replica drill: `pulumi up` for real — the Pulumi engine, two local API servers, the real
sealed-secrets controller and kubeseal, the real Flux source- and kustomize-controllers syncing a
local Git server. The homelab dies; its cloud replica converges from Git and opens every
SealedSecret the homelab sealed.

Scenarios run in this order and build on each other: drill I ("1-primary" … "6-bad-settings") and
drill II ("7-gitops", "8-tls", "10-tls-readers", "9-mirror"), which need the replica before
"5-destroy" removes it.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import yaml

from tests.e2e import testbed
from tests.e2e.drill_config import (APPS, BAD, CLOUD, HOMELAB, MIRROR, SEALED, cloud_config, gitops_repository,
                                    homelab_config, sealed_secrets_file)
from tools import mockrun, render

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def git():
    server = testbed.GitServer()
    server.commit(gitops_repository(), "apps")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def homelab(clusters, project, charts, git) -> testbed.Stack:
    state["homelab_config"] = homelab_config(charts, git.url, clusters["homelab"].api_server())
    project.write_stack(HOMELAB, state["homelab_config"])
    stack = testbed.Stack(HOMELAB, clusters["homelab"])
    stack.init()
    return stack


@pytest.fixture(scope="module")
def cloud(clusters, project, charts, git) -> testbed.Stack:
    project.write_stack(CLOUD, cloud_config(charts, git.url))
    stack = testbed.Stack(CLOUD, clusters["cloud"])
    stack.init()
    return stack


@pytest.mark.scenario("1-primary")
def test_primary(homelab: testbed.Stack, note):
    cluster = homelab.cluster
    cluster.start_standins()
    events = testbed.BUILD / "logs" / f"events-{HOMELAB}.jsonl"
    homelab.up(event_log=events)  # starts the real controllers as their workloads appear

    declared = rendered_objects(state["homelab_config"], HOMELAB)
    missing = [obj for obj in declared if not exists(cluster, obj)]
    assert not missing, f"declared by the offline render but absent from the API server: {missing}"

    keys = cluster.sealing_keys()
    assert len(keys) == 1, f"expected the one generated key Secret, found {len(keys)}"
    key = keys[0]
    assert key["type"] == "kubernetes.io/tls" and key["metadata"]["labels"][KEY_LABEL] == "active"
    assert_created_before(events, "homelab-sealed-secrets-generated-key-secret", "homelab-sealed-secrets-controller")
    deployment = one(cluster.get("deployments", "-A", "-l", "app.kubernetes.io/name=sealed-secrets"))
    assert key["metadata"]["creationTimestamp"] <= deployment["metadata"]["creationTimestamp"]

    assert "Searching for existing private keys" in cluster.controller_log()
    time.sleep(3)  # a controller that found no key would mint one at start
    after = cluster.sealing_keys()
    assert [k["metadata"]["name"] for k in after] == [key["metadata"]["name"]], \
        f"the real controller minted a key: {[k['metadata']['name'] for k in after]}"
    state["fingerprints"] = homelab.output("sealingKeyFingerprints")
    assert_no_plaintext_in_state(homelab, [testbed.decode(key)["tls.key"], kubeconfig_client_key(cluster)])
    note(f"{len(declared)} rendered objects present; key {key['metadata']['name']} created before the "
         "controller; the real controller minted none; neither the key nor the kubeconfig is in the state "
         "in plain text")


@pytest.mark.scenario("2-seal")
def test_seal(homelab: testbed.Stack, git: testbed.GitServer, note):
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
    git.commit(sealed_secrets_file("---\n".join(sealed)), "SealedSecrets for the homelab's key")
    request_reconcile(homelab.cluster)
    wait_opened(homelab.cluster)
    note("kubeseal --cert sealed strict, namespace-wide and cluster-wide Secrets; pushed to Git, applied by "
         "Flux, opened by the homelab's controller")


@pytest.mark.scenario("3-replica")
def test_replica(cloud: testbed.Stack, figures, note):
    cluster = cloud.cluster
    cluster.start_standins()
    started = time.monotonic()
    cloud.up()
    wait_opened(cluster)  # from Git, through the replica's Flux and sealed-secrets controller
    figures["recovery_seconds"] = round(time.monotonic() - started, 1)
    assert cloud.output("sealingKeyFingerprints") == state["fingerprints"]
    keys = cluster.sealing_keys()
    assert len(keys) == len(state["fingerprints"]), \
        f"the replica holds {len(keys)} keys, the homelab {len(state['fingerprints'])}"
    note(f"the replica converged from Git and opened all three SealedSecrets with the homelab's key; recovery "
         f"{figures['recovery_seconds']} s from `pulumi up` start to the last Secret")


@pytest.mark.scenario("7-gitops")
def test_gitops(homelab: testbed.Stack, cloud: testbed.Stack, git: testbed.GitServer, note):
    revision = testbed.run(["git", "-C", git.work, "rev-parse", "HEAD"]).stdout.strip()
    for stack in (homelab, cloud):
        cluster, name = stack.cluster, stack.cluster.name
        sync = one(cluster.get("kustomizations.kustomize.toolkit.fluxcd.io", "-n", "flux-system",
                               "--field-selector", "metadata.name=flux-system"))
        assert condition(sync, "Ready") == "True", f"{name}: flux-system Kustomization: {sync.get('status')}"
        assert sync["status"]["lastAppliedRevision"].endswith(revision)
        info = one(cluster.get("configmaps", "-n", APPS, "--field-selector", "metadata.name=cluster-info"))
        assert info["data"] == {"cluster": name, "environment": "homelab", "greeting": f"hello from {name}"}
        ingress = one(cluster.get("ingresses", "-n", APPS))
        assert ingress["spec"]["rules"][0]["host"] == f"hello.{name}.drill.test"
        assert one(cluster.get("deployments", "-n", APPS))["metadata"]["name"] == "hello"
        assert_opened(cluster)
    note(f"the real source- and kustomize-controllers applied Git revision {revision[:12]} on both clusters, "
         "with each cluster's own substitutions; the SealedSecrets from Git are open on both")


@pytest.mark.scenario("8-tls")
def test_tls(homelab: testbed.Stack, cloud: testbed.Stack, project, charts, git: testbed.GitServer, note):
    issued = lambda: tls_data(homelab.cluster, "drill-certs", "drill-tls")  # noqa: E731
    mirrored = lambda: tls_data(cloud.cluster, APPS, "drill-tls")  # noqa: E731
    assert mirrored() == issued(), "the mirrored Secret differs from the one issued in ops"

    # Renewal: the stand-in re-issues; ops' next `up` publishes it, dev's next `up` carries it.
    before = issued()
    (homelab.cluster.dir / "standin-ca" / "reissue").write_text("drill\n")
    testbed.wait_for("the stand-in to re-issue the certificate", lambda: issued() != before, timeout=30)
    homelab.up()
    cloud.up()
    assert mirrored() == issued() != before, "the replica does not carry the renewed certificate"

    # A certificate that ops does not publish: dev's `up` fails with belen's message, the mirror stays.
    kept = one(cloud.cluster.get("secrets", "-n", APPS, "--field-selector", "metadata.name=drill-tls"))
    project.write_stack(CLOUD, cloud_config(charts, git.url, mirrored=("drill", "ghost")))
    result = cloud.up(check=False)
    output = cloud.log.read_text().rsplit("$ pulumi up", 1)[-1]
    project.write_stack(CLOUD, cloud_config(charts, git.url))
    assert result.returncode != 0
    assert "ghost" in output and "Traceback" not in output, output[-3000:]
    now = one(cloud.cluster.get("secrets", "-n", APPS, "--field-selector", "metadata.name=drill-tls"))
    assert now["metadata"]["resourceVersion"] == kept["metadata"]["resourceVersion"]
    note("ops → dev through a real StackReference: the mirrored Secret's bytes equal the issued ones; a "
         "re-issue reached dev at its next `up`; a certificate ops does not publish failed dev's `up` "
         "with belen's message and left the mirror untouched")


@pytest.mark.scenario("10-tls-readers")
def test_tls_readers(homelab: testbed.Stack, note):
    """issue 16 on a real API server: the reader's token opens its certificate's Secret and nothing else."""
    assert homelab.pulumi("stack", "output", "tlsReaders").stdout.strip() == "[secret]"
    reader = homelab.output("tlsReaders", show_secrets=True)["cloud"]
    assert reader["server"] == homelab.cluster.api_server()["url"] and reader["namespace"] == "drill-certs"
    ca = testbed.BUILD / "homelab" / "reader-ca.pem"
    ca.write_text(reader["caBundle"])

    def as_reader(*args: str):
        return testbed.run(["kubectl", "--kubeconfig", "/dev/null", "--server", reader["server"],
                            "--certificate-authority", ca, "--token", reader["token"], *args], check=False)

    secret = as_reader("get", "secret", reader["secrets"]["drill"], "-n", "drill-certs", "-o", "json")
    assert secret.returncode == 0, secret.stderr
    assert testbed.decode(json.loads(secret.stdout)) == testbed.decode(
        one(homelab.cluster.get("secrets", "-n", "drill-certs", "--field-selector", "metadata.name=drill-tls")))
    refused = {" ".join(args): as_reader("auth", "can-i", *args).stdout.strip() for args in (
        ("list", "secrets", "-n", "drill-certs"), ("watch", "secrets", "-n", "drill-certs"),
        ("get", "secrets/other", "-n", "drill-certs"), ("get", "secrets/drill-tls", "-n", "kube-system"),
        ("get", "configmaps", "-n", "drill-certs"), ("create", "secrets", "-n", "drill-certs"))}
    assert set(refused.values()) == {"no"}, refused
    note(f"the reader token from `tlsReaders` (a secret output) gets secret drill-certs/drill-tls on the real API "
         f"server and is refused {len(refused)} other requests (list, watch, other names and namespaces, write)")


@pytest.mark.scenario("9-mirror")
def test_mirror(cloud: testbed.Stack, note):
    images = pod_template_images(cloud.cluster)
    outside = sorted({f"{where}: {image}" for where, image in images if not image.startswith(MIRROR + "/")})
    for line in outside:
        print(f"not from the mirror: {line}")
    assert images and not outside, "images not pulled from the mirror:\n" + "\n".join(outside)
    note(f"all {len(images)} container images of {len({w for w, _ in images})} pod templates on the replica "
         f"(charts, Flux from the FluxInstance, the app from Git) start with {MIRROR}/")


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
    run = mockrun.run_main(stack=stack, config={key: render.as_config_string(value) for key, value in config.items()})
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


def one(items: list[dict]) -> dict:
    assert len(items) == 1, f"expected one, found {len(items)}"
    return items[0]


def request_reconcile(cluster: testbed.Cluster) -> None:
    """What `flux reconcile` does: ask both Flux objects to reconcile now, not at their interval."""
    stamp = f"reconcile.fluxcd.io/requestedAt={time.time()}"
    for kind in ("gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"):
        cluster.kubectl("annotate", "--overwrite", "-n", "flux-system", kind, "flux-system", stamp)


def opened(cluster: testbed.Cluster) -> bool:
    found = {s["metadata"]["name"]: testbed.decode(s) for s in cluster.get("secrets", "-n", APPS)}
    return all(found.get(name) == data for name, data in SEALED.values())


def wait_opened(cluster: testbed.Cluster) -> None:
    """Every SealedSecret was opened by the controller into its Secret, with the sealed plaintext."""
    testbed.wait_for(f"the SealedSecrets from Git to open on {cluster.name}", lambda: opened(cluster), timeout=180)


def assert_opened(cluster: testbed.Cluster) -> None:
    assert opened(cluster), f"{cluster.name}: the SealedSecrets are not all open"


def condition(obj: dict, kind: str) -> str | None:
    return next((c["status"] for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def tls_data(cluster: testbed.Cluster, namespace: str, name: str) -> dict[str, bytes]:
    secret = one(cluster.get("secrets", "-n", namespace, "--field-selector", f"metadata.name={name}"))
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
