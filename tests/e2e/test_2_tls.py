"""Certificates from ops to the environments, for real: through a StackReference at each `up`
(8-tls), the least-privilege reader on the real API server (10-tls-readers), continuously through the
real ESO controller with no `up` on the replica (11-continuous-tls), and cert-manager's refusal of a
Certificate whose issuer is gone (14-missing-issuer): every certificate issued and re-issued by the real
cert-manager controller."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import yaml

from e2e import testbed
from tests.e2e.checks import condition, is_ready, named, tls_data
from tests.e2e.drill_config import APPS, CERTS, HOMELAB, cloud_config, homelab_config

CONTINUOUS_STORE = "belen-tls-mirror"
CERTIFICATES = "certificates.cert-manager.io"


def issued(homelab: testbed.Stack) -> dict[str, bytes]:
    return tls_data(homelab.cluster, CERTS, "drill-tls")


def mirrored(cloud: testbed.Stack) -> dict[str, bytes]:
    return tls_data(cloud.cluster, APPS, "drill-tls")


def renew(cluster: testbed.Cluster, namespace: str, name: str) -> None:
    """What `cmctl renew` does (cmctl's renewCertificate): set the Certificate's Issuing condition to True,
    reason ManuallyTriggered, and update its status; cert-manager's controllers then issue it anew."""
    certificate = named(cluster, CERTIFICATES, namespace, name)
    status = certificate.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c["type"] != "Issuing"]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status["conditions"] = [*conditions, {
        "type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered", "lastTransitionTime": now,
        "observedGeneration": certificate["metadata"]["generation"]}]
    # UpdateStatus: a PUT of the status subresource, refused if the object changed since it was read.
    cluster.kubectl("replace", "--subresource=status", "-f", "-", stdin=json.dumps(certificate))


def reissue(homelab: testbed.Stack) -> dict[str, bytes]:
    """cert-manager renews the certificate in ops, asked as `cmctl renew` asks: the new bytes, once the
    Certificate is Ready again at the next revision."""
    before = issued(homelab)
    revision = named(homelab.cluster, CERTIFICATES, CERTS, "drill")["status"]["revision"]
    renew(homelab.cluster, CERTS, "drill")

    def renewed():
        certificate = named(homelab.cluster, CERTIFICATES, CERTS, "drill")
        done = is_ready(certificate) and certificate["status"].get("revision") == revision + 1
        return done and (now := issued(homelab)) != before and now

    return homelab.cluster.wait_for("cert-manager to re-issue the certificate in ops", renewed, timeout=60)


@pytest.mark.scenario("8-tls")
def test_tls(homelab: testbed.Stack, cloud: testbed.Stack, charts, git: testbed.GitServer, note):
    assert mirrored(cloud) == issued(homelab), "the mirrored Secret differs from the one issued in ops"

    # Renewal: ops' next `up` publishes it, dev's next `up` carries it.
    before = issued(homelab)
    renewed = reissue(homelab)
    homelab.up()
    cloud.up()
    assert mirrored(cloud) == renewed != before, "the replica does not carry the renewed certificate"

    # A certificate that ops does not publish: dev's `up` fails with belen's line, the mirror stays.
    kept = named(cloud.cluster, "secrets", APPS, "drill-tls")
    cloud.configure(cloud_config(charts, git.url, mirrored=("drill", "ghost")))
    result = cloud.up(check=False)
    cloud.configure(cloud_config(charts, git.url))
    expected = f"belen:tls.mirror.certificates.ghost: not published by organization/belen/{HOMELAB} — "
    assert result.returncode != 0
    assert expected in result.output and "Traceback" not in result.output, result.output[-3000:]
    now = named(cloud.cluster, "secrets", APPS, "drill-tls")
    assert now["metadata"]["resourceVersion"] == kept["metadata"]["resourceVersion"]
    note("ops → dev through a real StackReference: the mirrored Secret's bytes equal the ones cert-manager issued; "
         "a re-issue (`cmctl renew`'s status update) reached dev at its next `up`; a certificate ops does not publish "
         "failed dev's `up` with "
         f"\"{expected}…\" and left the mirror untouched")


@pytest.mark.scenario("10-tls-readers")
def test_tls_readers(homelab: testbed.Stack, note):
    """issue 16 on a real API server: the reader's token opens its certificate's Secret and nothing else."""
    assert homelab.pulumi("stack", "output", "tlsReaders").stdout.strip() == "[secret]"
    reader = homelab.output("tlsReaders", show_secrets=True)["cloud"]
    assert reader["server"] == homelab.cluster.api_server()["url"] and reader["namespace"] == CERTS
    ca = homelab.cluster.dir / "reader-ca.pem"
    ca.write_text(reader["caBundle"])

    def as_reader(*args: str):
        return testbed.run(["kubectl", "--kubeconfig", "/dev/null", "--server", reader["server"],
                            "--certificate-authority", ca, "--token", reader["token"], *args], check=False)

    secret = as_reader("get", "secret", reader["secrets"]["drill"], "-n", CERTS, "-o", "json")
    assert secret.returncode == 0, secret.stderr
    assert testbed.decode(json.loads(secret.stdout)) == testbed.decode(named(homelab.cluster, "secrets", CERTS, "drill-tls"))
    refused = {" ".join(args): as_reader("auth", "can-i", *args).stdout.strip() for args in (
        ("list", "secrets", "-n", CERTS), ("watch", "secrets", "-n", CERTS),
        ("get", "secrets/other", "-n", CERTS), ("get", "secrets/drill-tls", "-n", "kube-system"),
        ("get", "configmaps", "-n", CERTS), ("create", "secrets", "-n", CERTS))}
    assert set(refused.values()) == {"no"}, refused
    note(f"the reader token from `tlsReaders` (a secret output) gets secret {CERTS}/drill-tls on the real API "
         f"server and is refused {len(refused)} other requests (list, watch, other names and namespaces, write)")


@pytest.mark.scenario("11-continuous-tls")
def test_continuous_tls(homelab: testbed.Stack, cloud: testbed.Stack, charts, git: testbed.GitServer, figures, note):
    """issue 16's continuous mode on the real ESO controller: the replica pulls ops' certificate with
    the reader's token, and a re-issue in ops arrives with no `up` on the replica."""
    cloud.configure(cloud_config(charts, git.url, continuous=True))
    cloud.up()
    store = next(s for s in cloud.cluster.get("clustersecretstores.external-secrets.io")
                 if s["metadata"]["name"] == CONTINUOUS_STORE)
    # ESO's own verdict on the store: it validated the reader's server, CA and token.
    assert is_ready(store) and condition(store).get("reason") == "Valid", store.get("status")
    assert mirrored(cloud) == issued(homelab), "the replica's Secret differs from the one issued in ops"

    # Renewal in ops, then ops' `up` (it publishes the new certificate's facts); the replica is left alone.
    replica_updates = updates(cloud)
    renewed = reissue(homelab)
    started = time.monotonic()
    ops: dict[str, testbed.Up] = {}
    ops_up = threading.Thread(target=lambda: ops.setdefault("up", homelab.up(check=False)))
    ops_up.start()
    testbed.wait_for("the re-issued certificate on the replica", lambda: mirrored(cloud) == renewed, timeout=60,
                     interval=0.2)
    figures["tls_propagation_seconds"] = round(time.monotonic() - started, 1)
    ops_up.join()
    assert ops["up"].returncode == 0, ops["up"].output[-3000:]
    assert updates(cloud) == replica_updates, "the replica's stack was updated meanwhile (pulumi stack history)"
    # ESO reads at each refreshInterval (10 s), from its last sync: within one interval, and a little.
    assert figures["tls_propagation_seconds"] <= 10 + 5, figures["tls_propagation_seconds"]

    # Least privilege through ESO itself: another Secret of ops' namespace is refused.
    homelab.cluster.kubectl("create", "secret", "generic", "not-for-dev", "-n", CERTS, "--from-literal=x=y")
    foreign = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
               "metadata": {"name": "foreign", "namespace": APPS},
               "spec": {"refreshInterval": "10s", "secretStoreRef": {"kind": "ClusterSecretStore", "name": CONTINUOUS_STORE},
                        "target": {"name": "foreign"},
                        "data": [{"secretKey": "x", "remoteRef": {"key": "not-for-dev", "property": "x"}}]}}
    cloud.cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(foreign))
    refusal = testbed.wait_for("ESO to report the foreign read", lambda: (
        (es := named(cloud.cluster, "externalsecrets.external-secrets.io", APPS, "foreign"))
        and condition(es).get("status") == "False" and condition(es)), timeout=60)
    # ESO puts the provider's error in the ExternalSecret's events, its condition says only that it failed.
    forbidden = testbed.wait_for("the API server's refusal in ESO's events", lambda: [
        e["message"] for e in cloud.cluster.get("events", "-n", APPS, "--field-selector",
                                                "involvedObject.name=foreign,reason=UpdateFailed")
        if "forbidden" in e["message"]], timeout=30)
    assert refusal.get("reason") == "SecretSyncedError", refusal
    assert named(cloud.cluster, "secrets", APPS, "foreign") is None, "ESO wrote the foreign Secret"
    cloud.cluster.kubectl("delete", "externalsecret", "foreign", "-n", APPS)
    note(f"the real ESO controller validated store {CONTINUOUS_STORE} and copied ops' certificate byte for byte; a "
         f"re-issue in ops reached the replica {figures['tls_propagation_seconds']} s later (ops ran its `up` meanwhile), "
         f"with no `up` on the replica (refreshInterval 10s); a read of another Secret of {CERTS} was refused "
         f"({refusal.get('reason')}; event: {forbidden[0][forbidden[0].find('secrets'):][:150]}) and wrote nothing")


def updates(stack: testbed.Stack) -> int:
    """How many updates the engine recorded for the stack (`pulumi stack history`)."""
    return len(json.loads(stack.pulumi("stack", "history", "--json").stdout))


@pytest.mark.scenario("14-missing-issuer")
def test_missing_issuer(homelab: testbed.Stack, charts, git: testbed.GitServer, note):
    """The real cert-manager controller issues nothing for a Certificate whose ClusterIssuer is gone;
    belen's `up` fails once the awaited timeout passes."""
    homelab.cluster.kubectl("delete", "clusterissuer", "selfsigned")
    config = homelab_config(charts, git.url, homelab.cluster.api_server())
    manager = config["belen:certManager"]
    manager["certificates"] = [*manager["certificates"], {"name": "orphan", "namespace": CERTS,
                                                          "dnsNames": ["orphan.drill.test"], "issuer": "selfsigned"}]
    homelab.configure(config)
    result = homelab.up(check=False)
    certificate = named(homelab.cluster, CERTIFICATES, CERTS, "orphan")
    written = named(homelab.cluster, "secrets", CERTS, "orphan-tls")
    requests = [r for r in homelab.cluster.get("certificaterequests.cert-manager.io", "-n", CERTS)
                if (r["metadata"].get("annotations") or {}).get("cert-manager.io/certificate-name") == "orphan"]
    # Back as it was: the refresh sees the issuer gone, the `up` creates it again and drops the orphan
    # (whose Secret, issued once the issuer is back, stays as cert-manager leaves it: removed here).
    homelab.configure(homelab_config(charts, git.url, homelab.cluster.api_server()))
    homelab.pulumi("refresh", "--yes")
    homelab.up()
    homelab.cluster.kubectl("delete", "secret", "orphan-tls", "-n", CERTS, "--ignore-not-found")
    assert result.returncode != 0, "belen's up passed with a Certificate nobody can issue"
    # The engine's line names the Certificate and the wait that ran out.
    lines = [line for line in result.output.splitlines()
             if "Certificate::homelab-cert-manager-certificate-orphan" in line and "timed out waiting" in line]
    assert lines and "Traceback" not in result.output, result.output[-3000:]
    assert "Resource has condition Ready=False (want True)" in result.output
    assert certificate and not is_ready(certificate), certificate
    assert written is None, "cert-manager issued a Certificate whose issuer is gone"
    # cert-manager's own reason, on the request it made: the issuer is not found.
    pending = [condition(r) for r in requests]
    assert pending and all(c.get("reason") == "Pending" and 'Referenced "ClusterIssuer" not found' in c.get("message", "")
                           for c in pending), pending
    note(f"a Certificate naming a ClusterIssuer deleted from the cluster stayed not Ready "
         f"({condition(certificate).get('reason')}; its CertificateRequest: {pending[0]['message'][:120]}), no Secret "
         f"was written, and belen's `up` failed after the 60 s wait: "
         f"{lines[0].strip().replace('* resource ', '')[-220:]}")
