"""Sealing-key rotation on the real controller (13-rotation): the homelab moves to key generation 2,
the repository's SealedSecrets are re-sealed offline with `tools.keys reseal` and applied by Flux, the
old key is retired, and the replica follows with exactly the new key."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from e2e import testbed
from tests.e2e.checks import request_reconcile, seal_all, wait_opened
from tests.e2e.drill_config import APPS, FLUX_PATH, SEALED

ROTATED = {"strict": ("sealed-after-rotation", {"note": "sealed with generation 2"})}


@pytest.mark.scenario("13-rotation")
def test_rotation(homelab: testbed.Stack, cloud: testbed.Stack, git: testbed.GitServer, note):
    work = testbed.BUILD / "rotation"
    work.mkdir(exist_ok=True)
    (old,) = homelab.output("sealingKeyFingerprints")

    # Generation 2: a new key in the state, on top of the old one; the controller seals with it.
    homelab.configure(with_sealed_secrets(homelab.config, keyGeneration=2))
    homelab.up()
    fingerprints = homelab.output("sealingKeyFingerprints")
    (new,) = [fp for fp in fingerprints if fp != old]
    assert sorted(fingerprints) == sorted([old, new]) and len(homelab.cluster.sealing_keys()) == 2
    certificate = homelab.output("sealingCertificate")
    assert controller_certificate(homelab.cluster) == certificate, \
        "the real controller does not seal with the newest key"

    # The repository follows: a new Secret sealed with the new certificate, the old ones re-sealed offline.
    # The private keys, in plaintext, only in a private folder outside build/ and the logs, removed after use.
    private = Path(tempfile.mkdtemp(prefix="belen-rotation-"))
    try:
        keys = private / "keys.json"
        keys.write_text(json.dumps(homelab.output("sealingKeys", show_secrets=True)))
        cert = work / "sealing-cert.pem"
        cert.write_text(certificate)
        folder = git.work / FLUX_PATH.removeprefix("./")
        before = (folder / "sealed-secrets.yaml").read_text()
        testbed.run([sys.executable, "-m", "tools.keys", "reseal", "--keys", keys, "--cert", cert, folder],
                    cwd=testbed.ROOT, log=testbed.BUILD / "logs" / "reseal.log")
        assert (folder / "sealed-secrets.yaml").read_text() != before
        git.commit({f"{FLUX_PATH.removeprefix('./')}/sealed-after-rotation.yaml": seal_all(certificate, ROTATED)},
                   "re-sealed with key generation 2")
        request_reconcile(homelab.cluster)
        for sealed in (SEALED, ROTATED):
            wait_opened(homelab.cluster, sealed)
        new_key = private / "new-key.json"
        new_key.write_text(json.dumps([k for k in json.loads(keys.read_text()) if k["cert"] == certificate]))
        testbed.run([sys.executable, "-m", "tools.keys", "verify", "--keys", new_key, folder], cwd=testbed.ROOT,
                    log=testbed.BUILD / "logs" / "reseal.log")
    finally:
        shutil.rmtree(private, ignore_errors=True)

    # The old key is retired: gone from the cluster and the outputs; everything still opens.
    homelab.configure(with_sealed_secrets(homelab.config, keyGeneration=2, retireKeys=[old]))
    homelab.up()
    assert homelab.output("sealingKeyFingerprints") == [new]
    assert len(homelab.cluster.sealing_keys()) == 1
    reopen(homelab.cluster)

    # The replica follows with exactly the new key.
    cloud.up()
    assert cloud.output("sealingKeyFingerprints") == [new] and len(cloud.cluster.sealing_keys()) == 1
    request_reconcile(cloud.cluster)
    reopen(cloud.cluster)
    note(f"generation 2 added key {new[:16]}… beside {old[:16]}…, and the real controller sealed with it; "
         f"`tools.keys reseal` re-sealed the repository's {len(SEALED)} SealedSecrets (three scopes) offline, Flux "
         f"applied them, `verify` opened them with the new key alone; after retiring {old[:16]}… the homelab and "
         "the replica hold exactly the new key and their controllers open everything")


def with_sealed_secrets(config: dict, **settings) -> dict:
    return {**config, "belen:sealedSecrets": {**config.get("belen:sealedSecrets", {}), **settings}}


def controller_certificate(cluster: testbed.Cluster) -> str:
    """The certificate the running controller seals with (what `kubeseal --fetch-cert` gets), from its
    HTTP server on 127.0.0.1."""
    port = (cluster.dir / "sealed-secrets-controller.port").read_text().strip()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/cert.pem", timeout=5) as response:
        return response.read().decode()


def reopen(cluster: testbed.Cluster) -> None:
    """The controller opens every SealedSecret again: their Secrets are deleted and must come back."""
    names = [name for sealed in (SEALED, ROTATED) for name, _ in sealed.values()]
    cluster.kubectl("delete", "secret", "-n", APPS, "--ignore-not-found", *names)
    for sealed in (SEALED, ROTATED):
        wait_opened(cluster, sealed)
