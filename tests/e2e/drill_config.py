"""What the drill deploys: its stacks' settings and the GitOps repository the harness writes."""

from __future__ import annotations

from typing import Any

import yaml

HOMELAB, CLOUD, BAD = "drill-homelab", "drill-cloud", "drill-bad"
APPS = "drill-apps"
# The cloud replica pulls every image from this mirror (belen:images.registry).
MIRROR = "mirror.drill.test/belen"
FLUX_PATH = "./clusters/homelab"  # the replica syncs the homelab's folder
# The three scopes a SealedSecret can have, each with its own plaintext.
SEALED = {
    "strict": ("db-password", {"password": "correct horse battery staple"}),
    "namespace-wide": ("api-token", {"token": "tok-4f1c9e"}),
    "cluster-wide": ("shared-config", {"greeting": "hello from the homelab"}),
}


def platform(name: str, charts: dict, git_url: str, image_registry: str) -> dict[str, Any]:
    """The settings both drill stacks share: a fake store, a self-signed issuer and a certificate,
    Flux syncing the drill's repository, every chart from its local path."""
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
        "belen:flux": {
            "git": {"url": git_url, "interval": "1m"},
            "path": FLUX_PATH,
            "interval": "1m",
            "substitute": {"greeting": f"hello from {name}", "image_registry": image_registry},
        },
        "belen:charts": {key: {"path": chart["path"]} for key, chart in charts.items()},
    }


def homelab_config(charts: dict, git_url: str, api_server: dict[str, str]) -> dict[str, Any]:
    """The primary, and the ops-like publisher of its certificate, with a reader for the replica's
    environment (`api_server`: its own API server, `{url, caBundle}`)."""
    return {**platform("homelab", charts, git_url, "docker.io"),
            "belen:tls": {"publish": ["drill"], "readers": {"cloud": ["drill"]}, "apiServer": api_server}}


def cloud_config(charts: dict, git_url: str, mirrored: tuple[str, ...] = ("drill",)) -> dict[str, Any]:
    """The replica: the homelab's keys, its certificate mirrored (dev-like), images from the mirror."""
    return {
        **platform("cloud", charts, git_url, MIRROR),
        "belen:sealedSecrets": {"keysFromStack": f"organization/belen/{HOMELAB}"},
        "belen:tls": {"mirror": {"fromStack": f"organization/belen/{HOMELAB}",
                                 "certificates": {name: {"namespaces": [APPS]} for name in mirrored}}},
        "belen:images": {"registry": MIRROR},
    }


def gitops_repository() -> dict[str, str]:
    """The apps in Git: a namespace, an app with an Ingress, and a manifest with substitutions."""
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
    }
    return {f"{path}/{name}": yaml.safe_dump_all(docs, sort_keys=False) for name, docs in documents.items()}


def sealed_secrets_file(sealed: str) -> dict[str, str]:
    return {f"{FLUX_PATH.removeprefix('./')}/sealed-secrets.yaml": sealed}
