"""API answers for `tools.status` tests: a whole platform's lists as an API server answers them (shaped
as the drill's real API servers and controllers write them), its stack outputs, and a fake HTTP layer
under the official client that serves them and records every request."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from components.crypto import pem
from tests import keyfactory
from tools.status import kube

KEY = keyfactory.pair("status-primary")
KEY_FP = pem.public_key_fingerprint(pem.load_certificate(KEY["cert"]).public_key())
MIRRORED = keyfactory.issued("apps.drill.test")


def stamp(delta: dt.timedelta = dt.timedelta(0)) -> str:
    """Now (when the answers are made, as an API server would write them), plus `delta`."""
    return (dt.datetime.now(dt.timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready(status: str = "True", reason: str = "Succeeded", message: str = "", kind: str = "Ready") -> dict:
    return {"conditions": [{"type": kind, "status": status, "reason": reason, "message": message,
                            "lastTransitionTime": stamp()}]}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def key_secret(pair: dict[str, str], label: str = "active", name: str | None = None) -> dict:
    fingerprint = pem.public_key_fingerprint(pem.load_certificate(pair["cert"]).public_key())
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name or f"sealed-secrets-key-{fingerprint[:16]}", "namespace": "kube-system",
                         "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": label}},
            "data": {"tls.crt": b64(pair["cert"]), "tls.key": b64(pair["key"])}}


def whole_lists() -> dict[str, list[dict] | None]:
    """Every list tools.status reads, from a converged homelab-like cluster."""
    sealed_uid = "6d1b7e52-0c1f-4f4e-9a57-1f5d2c3b4a01"
    return {
        "sealingKeys": [key_secret(KEY)],
        "secretMetadata": [
            {"metadata": {"name": "db-password", "namespace": "drill-apps",
                          "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                                               "name": "db-password", "uid": sealed_uid, "controller": True}]}},
            {"metadata": {"name": "greeting", "namespace": "drill-apps"}},
        ],
        "mirrorCopies": [{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                          "metadata": {"name": "drill-tls", "namespace": "drill-apps",
                                       "labels": {"app.kubernetes.io/managed-by": "belen",
                                                  "belen.io/certificate": "drill"}},
                          "data": {"tls.crt": b64(MIRRORED["tls.crt"]), "tls.key": b64(MIRRORED["tls.key"])}}],
        "sealedSecrets": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                           "metadata": {"name": "db-password", "namespace": "drill-apps", "uid": sealed_uid,
                                        "generation": 1},
                           "spec": {"encryptedData": {"password": "AgB…"}, "template": {"metadata": {}}},
                           "status": {**ready(reason="", kind="Synced"), "observedGeneration": 1}}],
        "clusterSecretStores": [{"metadata": {"name": "demo"}, "spec": {"provider": {"fake": {"data": []}}},
                                 "status": {**ready(reason="Valid", message="store validated"), "capabilities": "ReadOnly"}}],
        "externalSecrets": [{"metadata": {"name": "greeting", "namespace": "drill-apps"},
                             "spec": {"refreshInterval": "1m",
                                      "secretStoreRef": {"kind": "ClusterSecretStore", "name": "demo"}},
                             "status": {**ready(reason="SecretSynced", message="secret synced"),
                                        "refreshTime": stamp(-dt.timedelta(seconds=20))}}],
        "clusterIssuers": [{"metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}},
                            "status": ready(reason="IsReady", message="")}],
        "issuers": [],
        "certificates": [{"metadata": {"name": "homelab", "namespace": "drill-certs"},
                          "spec": {"secretName": "homelab-tls", "dnsNames": ["homelab.drill.test"],
                                   "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer",
                                                 "group": "cert-manager.io"}},
                          "status": {**ready(reason="Ready", message="Certificate is up to date and has not expired"),
                                     "notAfter": stamp(dt.timedelta(days=89, hours=1))}}],
        "fluxInstances": [{"metadata": {"name": "flux", "namespace": "flux-system"},
                           "spec": {"distribution": {"version": "2.9.x", "registry": "127.0.0.1:5000/fluxcd"}},
                           "status": {**ready(reason="ReconciliationSucceeded"),
                                      "lastAppliedRevision": "v2.9.5@sha256:0123abcd"}}],
        "gitRepositories": [{"metadata": {"name": "flux-system", "namespace": "flux-system"},
                             "status": {**ready(reason="Succeeded"),
                                        "artifact": {"revision": "main@sha1:4f2a9c0d"}}}],
        "kustomizations": [{"metadata": {"name": "flux-system", "namespace": "flux-system"},
                            "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
                            "status": {**ready(reason="ReconciliationSucceeded"),
                                       "lastAppliedRevision": "main@sha1:4f2a9c0d"}}],
    }


def whole_outputs() -> dict[str, Any]:
    """`pulumi stack output --json` of the stack that built `whole_lists()`."""
    return {
        "clusterName": "homelab", "environment": "homelab",
        "sealingCertificate": KEY["cert"], "sealingKeyFingerprints": [KEY_FP], "sealingKeys": "[secret]",
        "sealingKeyGeneration": 1, "retiredSealingKeyFingerprints": [],
        "secretStores": {"demo": "fake"}, "clusterIssuers": ["selfsigned"],
        "certificates": {"homelab": {"namespace": "drill-certs", "secretName": "homelab-tls"}},
        "tlsMirrored": {"drill": {"notAfter": MIRRORED["notAfter"], "fingerprint": MIRRORED["fingerprint"],
                                  "namespaces": ["drill-apps"]}},
        "fluxSource": "http://127.0.0.1:8080/gitops.git", "fluxBranch": "main", "fluxPath": "./clusters/homelab",
        "fluxKustomizations": ["flux-system"],
    }


@dataclass
class FakeResponse:
    status: int
    reason: str
    data: bytes

    def read(self) -> bytes:
        return self.data


@dataclass
class Answers:
    """Serves `snapshots` (each: a name of kube.LISTS → its items; None: not served) to the official client's
    HTTP layer, the next one at each new snapshot the tool reads (the last one from then on, for --wait),
    and records every request."""

    snapshots: list[dict[str, list[dict] | None]]
    status: int = 200
    requests: list[tuple[str, str]] = field(default_factory=list)
    reads: int = 0

    def request(self, method: str, url: str, **_: Any) -> FakeResponse:
        self.requests.append((method, url))
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        name = next(n for n, (p, _) in kube.LISTS.items() if p == path)
        if name == next(iter(kube.LISTS)):
            self.reads += 1
        if self.status != 200:
            return FakeResponse(self.status, "Unauthorized", b'{"kind":"Status"}')
        items = self.snapshots[min(self.reads, len(self.snapshots)) - 1].get(name)
        if items is None:
            return FakeResponse(404, "Not Found", b'{"kind":"Status","code":404}')
        return FakeResponse(200, "OK", json.dumps({"kind": "List", "items": items}).encode())


def install(monkeypatch, answers: Answers) -> Answers:
    """Every request of the official client goes to `answers` instead of the network."""
    from kubernetes.client import rest

    monkeypatch.setattr(rest.RESTClientObject, "request", lambda self, method, url, **kw: answers.request(method, url, **kw))
    return answers


def kubeconfig(folder: Path, server: str = "https://127.0.0.1:6443", context: str = "drill") -> Path:
    """A kubeconfig with a client certificate and key, as kwokctl writes them."""
    client = keyfactory.pair("status-client")
    config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
              "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": b64(client["cert"])}}],
              "users": [{"name": "admin", "user": {"client-certificate-data": b64(client["cert"]),
                                                   "client-key-data": b64(client["key"])}}],
              "contexts": [{"name": context, "context": {"cluster": context, "user": "admin"}}]}
    path = folder / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


def variant(change) -> dict[str, list[dict] | None]:
    """`whole_lists()` with `change(lists)` applied."""
    lists = copy.deepcopy(whole_lists())
    change(lists)
    return lists
