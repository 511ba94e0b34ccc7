"""Is the platform whole? `python -m tools.status` on the converged, settled homelab and replica
(status-homelab, status-cloud: exit 0), then four faults planted by hand in the homelab's cluster, each
named in its output with exit 1 and removed again (status-sealed-with-unknown-key,
status-missing-issuer, status-missing-store-key, status-extra-sealing-key): the homelab is whole again
after each, for the scenarios that follow. The drill's own checks stay independent of the tool."""

from __future__ import annotations

import contextlib
import json

import pytest
import yaml

from components.crypto import pem, sealing
from e2e import testbed
from tests import keyfactory
from tests.e2e.checks import assert_whole, condition, named, platform_status
from tests.e2e.drill_config import APPS, CERTS


@pytest.mark.scenario("status-homelab")
def test_status_homelab(homelab: testbed.Stack, note):
    note(f"tools.status drill-homelab: whole (exit 0) — {assert_whole(homelab)}")


@pytest.mark.scenario("status-cloud")
def test_status_cloud(cloud: testbed.Stack, note):
    note(f"tools.status drill-cloud: whole (exit 0) — {assert_whole(cloud)}")


@pytest.mark.scenario("status-sealed-with-unknown-key")
def test_status_sealed_with_unknown_key(homelab: testbed.Stack, note):
    cluster = homelab.cluster
    foreign = testbed.BUILD / "foreign-cert.pem"
    foreign.write_text(keyfactory.pair("status-foreign")["cert"])
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "status-foreign", "namespace": APPS},
              "stringData": {"password": "sealed for another cluster"}}
    sealed = testbed.run(["kubeseal", "--cert", foreign, "--format", "yaml"], stdin=json.dumps(secret),
                         log=testbed.BUILD / "logs" / "kubeseal.log").stdout
    with planted(cluster, sealed, "sealedsecret", "status-foreign", APPS):
        cluster.wait_for("the controller to fail on the foreign SealedSecret", lambda: condition(
            named(cluster, "sealedsecrets.bitnami.com", APPS, "status-foreign") or {}, "Synced").get("status") == "False")
        line = assert_named(homelab, f"SealedSecret {APPS}/status-foreign: not Synced — no key could decrypt secret")
    assert_whole(homelab)
    note(f"a SealedSecret sealed with a key the cluster lacks: exit 1, `{line}`; removed, whole again")


@pytest.mark.scenario("status-missing-issuer")
def test_status_missing_issuer(homelab: testbed.Stack, note):
    certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "status-ghost", "namespace": CERTS},
                   "spec": {"secretName": "status-ghost-tls", "dnsNames": ["ghost.drill.test"],
                            "issuerRef": {"name": "ghost", "kind": "ClusterIssuer", "group": "cert-manager.io"}}}
    with planted(homelab.cluster, yaml.safe_dump(certificate), "certificate", "status-ghost", CERTS):
        line = assert_named(homelab, f"Certificate {CERTS}/status-ghost: names ClusterIssuer ghost, which does not exist")
    homelab.cluster.kubectl("delete", "secret", "status-ghost-tls", "-n", CERTS, "--ignore-not-found")
    assert_whole(homelab)
    note(f"a Certificate naming a missing issuer: exit 1, `{line}`; removed, whole again")


@pytest.mark.scenario("status-missing-store-key")
def test_status_missing_store_key(homelab: testbed.Stack, note):
    cluster = homelab.cluster
    external = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "status-missing-key", "namespace": APPS},
                "spec": {"refreshInterval": "1m", "secretStoreRef": {"kind": "ClusterSecretStore", "name": "demo"},
                         "target": {"name": "status-missing-key"},
                         "data": [{"secretKey": "value", "remoteRef": {"key": "no-such-key"}}]}}
    with planted(cluster, yaml.safe_dump(external), "externalsecret", "status-missing-key", APPS):
        cluster.wait_for("ESO to fail on the missing key", lambda: condition(
            named(cluster, "externalsecrets.external-secrets.io", APPS, "status-missing-key") or {}).get("status") == "False")
        line = assert_named(homelab, f"ExternalSecret {APPS}/status-missing-key: not Ready — SecretSyncedError")
    assert_whole(homelab)
    note(f"an ExternalSecret on a key its store lacks: exit 1, `{line}`; removed, whole again")


@pytest.mark.scenario("status-extra-sealing-key")
def test_status_extra_sealing_key(homelab: testbed.Stack, note):
    pair = keyfactory.pair("status-extra")
    fingerprint = pem.public_key_fingerprint(pem.load_certificate(pair["cert"]).public_key())
    namespace = (homelab.config.get("belen:sealedSecrets") or {}).get("namespace", "kube-system")
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "status-extra-key", "namespace": namespace,
                           "labels": {sealing.KEY_LABEL: "active"}},
              "stringData": {"tls.crt": pair["cert"], "tls.key": pair["key"]}}
    with planted(homelab.cluster, yaml.safe_dump(secret), "secret", "status-extra-key", namespace):
        line = assert_named(homelab, f"key {fingerprint}: an extra active key the stack's state does not list "
                                     f"(Secret {namespace}/status-extra-key)")
    assert_whole(homelab)
    note(f"an extra active sealing key: exit 1, `{line[:200]}…`; removed, whole again")


@contextlib.contextmanager
def planted(cluster: testbed.Cluster, manifest: str, kind: str, name: str, namespace: str):
    """A fault applied with kubectl for the length of a `with`, deleted after it (the scenario then checks
    that the homelab is whole again, for the scenarios that follow)."""
    cluster.kubectl("apply", "-f", "-", stdin=manifest)
    try:
        yield
    finally:
        cluster.kubectl("delete", kind, name, "-n", namespace, "--ignore-not-found")


def assert_named(stack: testbed.Stack, problem: str) -> str:
    """tools.status exits 1 and names `problem` in a PROBLEM row of its table: that row's text."""
    result = platform_status(stack)
    rows = [" ".join(line.split()) for line in result.stdout.splitlines() if " PROBLEM " in line]
    found = [row for row in rows if problem in row]
    assert result.returncode == 1 and found, (f"tools.status {stack.name} exited {result.returncode} without naming "
                                              f"{problem!r}:\n{result.stdout}{result.stderr}")
    return found[0]
