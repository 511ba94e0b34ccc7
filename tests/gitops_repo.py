"""A GitOps repository for the `cloud` stack, written by the tests: a clean one, and the same with one
object failing each pre-flight check. SealedSecrets are sealed by kubesealpy, not by belen.

    clusters/homelab/        belen's flux-system Kustomization (no kustomization.yaml: every file)
      namespaces, cluster-vars ConfigMap, Kustomizations infra and apps, objects in namespace apps
    infrastructure/          Kustomization infra (a kustomization.yaml): Issuer, SecretStore, sources,
                             and the nested Kustomization tenants
    apps/                    Kustomization apps: targetNamespace web, substituteFrom cluster-vars
    tenants/                 Kustomization tenants: its own postBuild variables
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubesealpy import Sealer, SealingScope

FLUX = {"kind": "GitRepository", "name": "flux-system"}


def seal(certificate: str, namespace: str, name: str, scope: SealingScope = SealingScope.STRICT) -> dict[str, Any]:
    sealed = Sealer.from_certificate_pem(certificate).seal(
        name=name, namespace=namespace, data={"password": b"not-a-real-password"}, scope=scope)
    return yaml.safe_load(sealed.to_yaml())


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, **fields: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    meta.update(fields.pop("metadata", {}))
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **fields}


def kustomization(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, "flux-system",
               spec={"interval": "10m", "path": path, "prune": True, "sourceRef": FLUX, **spec})


def config_map(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return obj("v1", "ConfigMap", name, namespace, data=data)


def external_secret(name: str, namespace: str, store: dict[str, str], api: str = "external-secrets.io/v1"):
    return obj(api, "ExternalSecret", name, namespace, spec={
        "secretStoreRef": store, "target": {"name": name}, "data": [{"secretKey": "k", "remoteRef": {"key": name}}]})


def ingress(name: str, host: str, class_name: str | None, cluster_issuer: str | None = None) -> dict[str, Any]:
    annotations = {"cert-manager.io/cluster-issuer": cluster_issuer} if cluster_issuer else {}
    spec: dict[str, Any] = {"rules": [{"host": host}], **({"ingressClassName": class_name} if class_name else {})}
    return obj("networking.k8s.io/v1", "Ingress", name, metadata={"annotations": annotations}, spec=spec)


def certificate(name: str, namespace: str | None, issuer_kind: str, issuer: str) -> dict[str, Any]:
    return obj("cert-manager.io/v1", "Certificate", name, namespace, spec={
        "secretName": f"{name}-tls", "dnsNames": [f"{name}.example.org"],
        "issuerRef": {"kind": issuer_kind, "name": issuer}})


def helm_release(name: str, repository: str) -> dict[str, Any]:
    return obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, spec={"interval": "1h", "chart": {"spec": {
        "chart": name, "sourceRef": {"kind": "HelmRepository", "name": repository, "namespace": "flux-system"}}}})


def clean_files(certificate_pem: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "clusters/homelab/namespaces.yaml": [obj("v1", "Namespace", "apps"), obj("v1", "Namespace", "web")],
        "clusters/homelab/cluster-vars.yaml": [config_map("cluster-vars", "flux-system", domain="example.org")],
        "clusters/homelab/infra.yaml": [kustomization("infra", "./infrastructure",
                                                      postBuild={"substitute": {"issuer": "letsencrypt"}})],
        "clusters/homelab/apps.yaml": [kustomization(
            "apps", "./apps", dependsOn=[{"name": "infra"}], targetNamespace="web",
            postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"},
                                          {"kind": "Secret", "name": "optional-vars", "optional": True}]})],
        "clusters/homelab/secrets.yaml": [
            seal(certificate_pem, "apps", "db"),
            external_secret("db-credentials", "apps", {"kind": "ClusterSecretStore", "name": "vault"}),
            external_secret("team-credentials", "apps", {"name": "team-vault"}),
        ],
        "clusters/homelab/certificates.yaml": [certificate("internal", "apps", "Issuer", "local-ca")],
        "clusters/homelab/settings.yaml": [config_map("settings", "kube-system", host="${cluster_name}.${ingress_host_suffix}",
                                                      literal="$${not_a_variable}", fallback="${unset:=default}")],
        "infrastructure/kustomization.yaml": [{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                               "resources": ["issuer.yaml", "store.yaml", "sources.yaml", "tenants.yaml"]}],
        "infrastructure/issuer.yaml": [obj("cert-manager.io/v1", "Issuer", "local-ca", "apps", spec={"selfSigned": {}})],
        "infrastructure/store.yaml": [obj("external-secrets.io/v1", "SecretStore", "team-vault", "apps",
                                          spec={"provider": {"fake": {"data": []}}})],
        "infrastructure/sources.yaml": [obj("source.toolkit.fluxcd.io/v1", "HelmRepository", "podinfo", "flux-system",
                                            spec={"url": "https://stefanprodan.github.io/podinfo"})],
        "infrastructure/tenants.yaml": [kustomization("tenants", "./tenants", dependsOn=[{"name": "infra"}],
                                                      postBuild={"substitute": {"team": "blue"}})],
        "apps/site.yaml": [
            ingress("site", "site.${domain}", "traefik", cluster_issuer="${issuer:=letsencrypt}"),
            ingress("default-class", "plain.${domain}", None),
            certificate("site", None, "ClusterIssuer", "letsencrypt"),
            helm_release("podinfo", "podinfo"),
        ],
        # Sealed for where they land: web (targetNamespace) strictly, anywhere cluster-wide.
        "apps/sealed.yaml": [seal(certificate_pem, "web", "site"),
                             seal(certificate_pem, "apps", "shared", SealingScope.CLUSTER_WIDE)],
        "tenants/team.yaml": [config_map("team-${team}", "apps", owner="${team}")],
    }


# One object failing each check: (file, the object's label, the check it fails).
BROKEN = [
    ("apps/moved.yaml", "SealedSecret web/api", "sealed-secrets"),
    ("clusters/homelab/secrets.yaml", "ExternalSecret apps/legacy-credentials", "secret-stores"),
    ("apps/site.yaml", "Ingress web/prod-site", "issuers"),
    ("apps/site.yaml", "Ingress web/nginx-site", "ingress-classes"),
    ("tenants/team.yaml", "ConfigMap apps/team-settings", "substitutions"),
    ("apps/site.yaml", "HelmRelease web/grafana", "flux-references"),
    ("clusters/homelab/secrets.yaml", "ExternalSecret apps/beta-credentials", "api-versions"),
    ("clusters/homelab/monitoring.yaml", "ConfigMap monitoring/dashboards", "namespaces"),
]


def broken_files(certificate_pem: str) -> dict[str, list[dict[str, Any]]]:
    files = clean_files(certificate_pem)
    # Strictly sealed for apps/api, but the apps Kustomization's targetNamespace puts it in web.
    files["apps/moved.yaml"] = [seal(certificate_pem, "apps", "api")]
    files["clusters/homelab/secrets.yaml"] += [
        external_secret("legacy-credentials", "apps", {"kind": "ClusterSecretStore", "name": "onepassword"}),
        external_secret("beta-credentials", "apps", {"kind": "ClusterSecretStore", "name": "vault"},
                        api="external-secrets.io/v1beta1"),
    ]
    files["apps/site.yaml"] += [
        ingress("prod-site", "prod.${domain}", "traefik", cluster_issuer="letsencrypt-prod"),
        ingress("nginx-site", "nginx.${domain}", "nginx"),
        helm_release("grafana", "grafana"),
    ]
    files["tenants/team.yaml"].append(config_map("team-settings", "apps", region="${region}"))
    files["clusters/homelab/monitoring.yaml"] = [config_map("dashboards", "monitoring")]
    return files


def write(root: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    for name, docs in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root
