"""What the drill deploys: its stacks' settings and the GitOps repository the harness writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from e2e import testbed

HOMELAB, CLOUD, BAD, REPLICA = "drill-homelab", "drill-cloud", "drill-bad", "drill-replica"
APPS = "drill-apps"
CERTS = "drill-certs"  # where ops' certificates are issued
FLUX_PATH = "./clusters/homelab"  # the replica syncs the homelab's folder
# The three scopes a SealedSecret can have, each with its own plaintext.
SEALED = {
    "strict": ("db-password", {"password": "correct horse battery staple"}),
    "namespace-wide": ("api-token", {"token": "tok-4f1c9e"}),
    "cluster-wide": ("shared-config", {"greeting": "hello from the homelab"}),
}


# An ExternalSecret in Git reads the `fake` store: (its Secret's name, the data ESO must write).
FROM_STORE = ("greeting", {"greeting": "hello from the drill"})


ACME_ISSUER = "pebble"


def acme_server() -> dict[str, str]:
    """The session's ACME server (conftest starts e2e/pebble): `{directory, caBundle}`, its directory URL
    and the test CA its TLS certificate chains to."""
    folder = testbed.BUILD / "pebble"
    return {"directory": (folder / "directory").read_text().strip(), "caBundle": (folder / "ca.pem").read_text()}


def mirror() -> str:
    """The session's loopback image mirror (conftest starts it): every stack's belen:images.registry,
    as in an air-gapped cluster — the Flux Operator pulls Flux's manifests artifact from it."""
    return (testbed.BUILD / "oci-mirror" / "mirror").read_text().strip()


def platform(name: str, environment: str, charts: dict, git_url: str, image_registry: str = "") -> dict[str, Any]:
    """The settings every drill stack shares: a fake store, a self-signed issuer and a certificate,
    Flux (the versions the operator module ships) syncing the drill's repository, every chart from its
    local path, every image from the mirror (`image_registry`, the apps' own, is data: no pod runs)."""
    return {
        "belen:cluster": {"name": name, "environment": environment},
        "belen:ingress": {"install": False},
        "belen:externalSecrets": {"stores": [
            {"name": "demo", "provider": "fake", "data": [{"key": "greeting", "value": FROM_STORE[1]["greeting"]}]},
        ]},
        "belen:certManager": {
            "certificateTimeoutSeconds": 60,  # the shortest: 14-missing-issuer waits it out
            "issuers": [{"name": "selfsigned", "selfSigned": {}}],
            "certificates": [{"name": name, "namespace": CERTS, "dnsNames": [f"{name}.drill.test"],
                              "issuer": "selfsigned"}],
        },
        "belen:flux": {
            "git": {"url": git_url, "interval": "1m"},
            "path": FLUX_PATH,
            "interval": "1m",
            "substitute": {"greeting": f"hello from {name}", "image_registry": image_registry or mirror()},
            # The served operator module ships Flux up to 2.9.5; belen's default asks for 2.9.6.
            "version": "2.9.x",
        },
        "belen:images": {"registry": mirror()},
        "belen:charts": {key: {"path": chart["path"]} for key, chart in charts.items()},
    }


def homelab_config(charts: dict, git_url: str, api_server: dict[str, str]) -> dict[str, Any]:
    """The primary, and the ops-like publisher of its certificate, with a reader for the replica's
    environment (`api_server`: its own API server, `{url, caBundle}`)."""
    config = platform("homelab", "homelab", charts, git_url, "docker.io")
    # The published certificate comes from a CA whose key pair is a secret setting (belen:caKeyPair.drill-ca,
    # set with `pulumi config set --secret --path` as README tells users).
    config["belen:certManager"]["issuers"].append({"name": "drill-ca", "ca": {}})
    # A private ACME server, as a user of step-ca or a company CA has: Pebble, with belen's acme.caBundle.
    acme = acme_server()
    config["belen:certManager"]["issuers"].append({"name": ACME_ISSUER, "acme": {
        "email": "drill@belen.test", "server": acme["directory"], "caBundle": acme["caBundle"], "http01": {}}})
    config["belen:certManager"]["certificates"].append(
        {"name": "drill", "namespace": CERTS, "dnsNames": ["apps.drill.test"], "issuer": "drill-ca"})
    return {**config, "belen:tls": {"publish": ["drill"], "readers": {"cloud": ["drill"]}, "apiServer": api_server}}


def cloud_config(charts: dict, git_url: str, mirrored: tuple[str, ...] = ("drill",),
                 continuous: bool = False, cluster: str = "cloud") -> dict[str, Any]:
    """The replica: the homelab's keys, its certificate mirrored (dev-like; `continuous`: pulled by ESO
    every 10 s with the reader ops grants environment `cloud`), images from the mirror."""
    mode = {"mode": "continuous", "refreshInterval": "10s"} if continuous else {}
    return {
        **platform(cluster, "cloud", charts, git_url),
        "belen:sealedSecrets": {"keysFromStack": f"organization/belen/{HOMELAB}"},
        "belen:tls": {"mirror": {"fromStack": f"organization/belen/{HOMELAB}",
                                 "certificates": {name: {"namespaces": [APPS]} for name in mirrored}, **mode}},
    }


def gitops_repository() -> dict[str, str]:
    """The apps in Git: a namespace, an app with an Ingress, a manifest with substitutions, and an
    ExternalSecret from the `fake` store."""
    path = FLUX_PATH.removeprefix("./")
    documents = {
        "namespace.yaml": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APPS}}],
        "app.yaml": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "namespace": APPS},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
                      "template": {"metadata": {"labels": {"app": "hello"}},
                                   "spec": {"containers": [{"name": "hello",
                                                            "image": "${image_registry}/library/nginx:1.27"}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello", "namespace": APPS},
             "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80}]}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "hello", "namespace": APPS},
             "spec": {"ingressClassName": "traefik", "rules": [{"host": "hello.${cluster_name}.drill.test", "http": {
                 "paths": [{"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}},
        ],
        "cluster-info.yaml": [{"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "cluster-info", "namespace": APPS},
                               "data": {"cluster": "${cluster_name}", "environment": "${environment}",
                                        "greeting": "${greeting}"}}],
        "external-secret.yaml": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                  "metadata": {"name": FROM_STORE[0], "namespace": APPS},
                                  "spec": {"refreshInterval": "1m",
                                           "secretStoreRef": {"kind": "ClusterSecretStore", "name": "demo"},
                                           "target": {"name": FROM_STORE[0]},
                                           "data": [{"secretKey": "greeting", "remoteRef": {"key": "greeting"}}]}}],
    }
    return {f"{path}/{name}": yaml.safe_dump_all(docs, sort_keys=False) for name, docs in documents.items()}


def sealed_secrets_file(sealed: str) -> dict[str, str]:
    return {f"{FLUX_PATH.removeprefix('./')}/sealed-secrets.yaml": sealed}


def drill_ca() -> dict[str, str]:
    """The key pair of the homelab's `drill-ca` issuer (`{cert, key}` PEM), as a user would restore one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "belen drill CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()}


def faults_config(charts: dict, git_url: str, cluster: str = "faults") -> dict[str, Any]:
    """A primary like the homelab with belen's generated key (the fragile case: the key lives only in
    its state), Flux syncing its own folder, clusters/<cluster>, of the drill's Git server."""
    config = platform(cluster, cluster, charts, git_url, "docker.io")
    return {**config, "belen:flux": {**config["belen:flux"], "path": f"./clusters/{cluster}"}}
