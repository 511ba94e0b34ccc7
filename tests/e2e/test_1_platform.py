"""The platform for real: the homelab's `pulumi up` (1-primary), SealedSecrets sealed with its key and
synced from Git (2-seal), the replica converging from the same Git while the homelab still runs
(3-replica), Flux's real controllers on both clusters (7-gitops) and the replica's image mirror
(9-mirror)."""

from __future__ import annotations

import time

import pytest

from components.crypto import sealing
from e2e import testbed
from tests.e2e.checks import (KEY_LABEL, EventLog, assert_no_plaintext_in_state, condition, deployed_names, exists,
                              is_ready, kubeconfig_client_key, named, one, opened, pod_template_images,
                              rendered_objects, request_reconcile, seal_all, wait_opened)
from tests.e2e.drill_config import ACME_ISSUER, APPS, FROM_STORE, acme_server, sealed_secrets_file
from tests.e2e.ordering import assert_platform_order

state: dict = {}


@pytest.mark.scenario("1-primary")
def test_primary(homelab: testbed.Stack, figures, note):
    cluster = homelab.cluster
    up = homelab.up()  # starts the real controllers as their workloads appear

    declared = rendered_objects(homelab)
    deployed = deployed_names(homelab)
    missing = [obj for obj in declared if not exists(cluster, obj, deployed)]
    assert not missing, f"declared by the offline render but absent from the API server: {missing}"

    keys = cluster.sealing_keys()
    assert len(keys) == 1, f"expected the one generated key Secret, found {len(keys)}"
    key = keys[0]
    assert key["type"] == "kubernetes.io/tls" and key["metadata"]["labels"][KEY_LABEL] == "active"
    assert_platform_order(EventLog(up.events))
    deployment = one(cluster.get("deployments", "-A", "-l", "app.kubernetes.io/name=sealed-secrets"))
    assert key["metadata"]["creationTimestamp"] <= deployment["metadata"]["creationTimestamp"]

    time.sleep(3)  # a controller that found no key would mint one at start
    after = cluster.sealing_keys()
    assert [k["metadata"]["name"] for k in after] == [key["metadata"]["name"]], \
        f"the real controller minted a key: {[k['metadata']['name'] for k in after]}"
    state["fingerprints"] = homelab.output("sealingKeyFingerprints")
    # The key the controller loaded at its last start is belen's: the Secret named after the fingerprint
    # belen outputs, which is the fingerprint of the certificate in that Secret.
    (fingerprint,) = state["fingerprints"]
    assert sealing.certificate_facts(testbed.decode(key)["tls.crt"])[0] == fingerprint
    loaded = [line for line in testbed.last_run(cluster.controller_log()).splitlines() if "registered private key" in line]
    assert loaded and all(f"secretname={sealing.secret_name_of(fingerprint)}" in line for line in loaded), loaded
    issuer = acme_issuer(cluster)
    figures["acme_issuer"] = issuer
    assert_no_plaintext_in_state([testbed.decode(key)["tls.key"], kubeconfig_client_key(cluster),
                                  homelab.secrets["caKeyPair.drill-ca.key"]])
    note(f"{len(declared)} rendered objects present; key {key['metadata']['name']} created before the "
         "controller, stores after the ESO release, Kustomizations after the platform (engine event log); the "
         f"real controller loaded it ({fingerprint[:16]}…) and minted none; the real cert-manager controller made "
         f"every issuer Ready, ACME issuer {ACME_ISSUER} by registering account {issuer['account']} with Pebble; "
         "neither the key, the kubeconfig nor the CA key set with `config set --secret --path` is in the state in "
         "plain text")


def acme_issuer(cluster: testbed.Cluster) -> dict:
    """The ACME ClusterIssuer as the real cert-manager controller left it: Ready because it registered an
    account with the drill's Pebble (the account URL is on Pebble's address)."""
    issuer = one(cluster.get("clusterissuers.cert-manager.io", "--field-selector", f"metadata.name={ACME_ISSUER}"))
    ready = condition(issuer)
    account = (issuer.get("status") or {}).get("acme", {}).get("uri", "")
    server = acme_server()["directory"]
    assert is_ready(issuer) and ready.get("reason") == "ACMEAccountRegistered", issuer.get("status")
    assert account.startswith(server.removesuffix("/dir") + "/"), (account, server)
    return {"name": ACME_ISSUER, "server": server, "ready": True, "reason": ready["reason"],
            "message": ready.get("message"), "account": account}


@pytest.mark.scenario("2-seal")
def test_seal(homelab: testbed.Stack, git: testbed.GitServer, note):
    certificate = homelab.output("sealingCertificate")
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    git.commit(sealed_secrets_file(seal_all(certificate)), "SealedSecrets for the homelab's key")
    request_reconcile(homelab.cluster)
    wait_opened(homelab.cluster)
    note("kubeseal --cert sealed strict, namespace-wide and cluster-wide Secrets; pushed to Git, applied by "
         "Flux, opened by the homelab's controller")


@pytest.mark.scenario("3-replica")
def test_replica(cloud: testbed.Stack, note):
    cluster = cloud.cluster
    started = time.monotonic()
    up = cloud.up()
    wait_opened(cluster)  # from Git, through the replica's Flux and sealed-secrets controller
    seconds = round(time.monotonic() - started, 1)
    assert cloud.output("sealingKeyFingerprints") == state["fingerprints"]
    keys = cluster.sealing_keys()
    assert len(keys) == len(state["fingerprints"]), \
        f"the replica holds {len(keys)} keys, the homelab {len(state['fingerprints'])}"
    assert_platform_order(EventLog(up.events))
    note(f"the replica converged from Git and opened all three SealedSecrets with the homelab's key in {seconds} s "
         "(homelab alive); the engine's event log shows the platform's order")


@pytest.mark.scenario("7-gitops")
def test_gitops(homelab: testbed.Stack, cloud: testbed.Stack, git: testbed.GitServer, note):
    revision = testbed.run(["git", "-C", git.work, "rev-parse", "HEAD"]).stdout.strip()
    seen = {}
    for stack in (homelab, cloud):
        cluster, name = stack.cluster, stack.cluster.name
        sync = named(cluster, "kustomizations.kustomize.toolkit.fluxcd.io", "flux-system", "flux-system")
        assert is_ready(sync), f"{name}: flux-system Kustomization: {sync and sync.get('status')}"
        assert sync["status"]["lastAppliedRevision"].endswith(revision)
        info = named(cluster, "configmaps", APPS, "cluster-info")["data"]
        expected = stack.config["belen:cluster"]
        assert info == {"cluster": expected["name"], "environment": expected["environment"],
                        "greeting": stack.config["belen:flux"]["substitute"]["greeting"]}, f"{name}: {info}"
        ingress = one(cluster.get("ingresses", "-n", APPS))
        assert ingress["spec"]["rules"][0]["host"] == f"hello.{name}.drill.test"
        assert one(cluster.get("deployments", "-n", APPS))["metadata"]["name"] == "hello"
        assert opened(cluster), f"{name}: the SealedSecrets are not all open"
        secret, data = FROM_STORE
        testbed.wait_for(f"{name}: ESO to write Secret {secret} from the fake store",
                         lambda: testbed.decode(named(cluster, "secrets", APPS, secret) or {}) == data, timeout=60)
        seen[name] = info
    # Each cluster got its own values: the same Git folder, substituted per cluster.
    assert all(seen["homelab"][key] != seen["cloud"][key] for key in ("cluster", "environment", "greeting")), seen
    environments = ", ".join(f"{name}: {info['environment']}" for name, info in seen.items())
    note(f"the real source- and kustomize-controllers applied Git revision {revision[:12]} on both clusters, "
         f"each with its own substitutions ({environments}); "
         "the SealedSecrets from Git are open on both, and ESO wrote the ExternalSecret's Secret from the fake store")


@pytest.mark.scenario("9-mirror")
def test_mirror(cloud: testbed.Stack, note):
    mirror = cloud.config["belen:images"]["registry"]
    images = pod_template_images(cloud.cluster)
    outside = sorted({f"{where}: {image}" for where, image in images if not image.startswith(mirror + "/")})
    for line in outside:
        print(f"not from the mirror: {line}")
    assert images and not outside, "images not pulled from the mirror:\n" + "\n".join(outside)
    note(f"all {len(images)} container images of {len({w for w, _ in images})} pod templates on the replica "
         f"(charts, Flux from the FluxInstance, the app from Git) start with {mirror}/")

