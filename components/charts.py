"""The platform's charts: one table of pins, the chart values belen's promises rest on, and how values merge.

Pure data (no Pulumi): the settings parser checks `belen:charts.<key>.values` against `PROTECTED`,
`components.helm` installs from `CHARTS` unless `belen:charts.<key>` points elsewhere, and tools
(the test bed) may import both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repository: str  # an HTTPS chart repository, or an oci:// registry path


CHARTS: dict[str, Chart] = {
    # bitnami-labs/sealed-secrets moved to bitnami/sealed-secrets in June 2026; the old Pages URL is gone.
    # 2.20.0 ships controller 0.40.0, a complete release (0.38.1, 0.38.4 and 0.36.6 were not).
    "sealedSecrets": Chart("sealed-secrets", "2.20.0", "https://bitnami.github.io/sealed-secrets"),
    "externalSecrets": Chart("external-secrets", "2.12.0", "https://charts.external-secrets.io"),
    "certManager": Chart("cert-manager", "v1.21.2", "https://charts.jetstack.io"),
    "fluxOperator": Chart("flux-operator", "0.61.0", "oci://ghcr.io/controlplaneio-fluxcd/charts"),
    # Chart 40+ takes Kubernetes' own Service syntax under service.spec; its values schema is closed.
    "traefik": Chart("traefik", "41.6.0", "https://traefik.github.io/charts"),
}


@dataclass(frozen=True)
class Guard:
    """Why a chart value is belen's alone, and what the user may do instead."""

    protects: str
    todo: str = "remove it from values"


_KEY_RENEWAL = Guard("the keys: a replica never mints keys, and a primary renews them only as "
                     "belen:sealedSecrets.keyRenewPeriod says (0 on a replica)",
                     "remove it; set belen:sealedSecrets.keyRenewPeriod")
_FLAGS = Guard("the controller's flags, its key renewal among them: a replica never mints keys")
_ESO_CRDS = Guard("the CRD-before-CR order: the awaited release brings the ClusterSecretStore CRD before any store")
_CM_CRDS = Guard("the CRD-before-CR order: the release (after its startupapicheck hook) brings the CRDs before any "
                 "ClusterIssuer or Certificate")
_ESO_CLUSTER_STORES = Guard("ClusterSecretStores and apps' ExternalSecrets in every namespace: belen waits for each "
                            "store to be Ready")
_INGRESS_CLASS = Guard("the IngressClass that apps' Ingresses and http01 challenges use, the cluster's default",
                       "remove it; set belen:ingress.className")

# Chart values (dotted paths into values) that belen's guarantees rest on: refused in
# belen:charts.<key>.values, as is any value that replaces a mapping above them.
PROTECTED: dict[str, dict[str, Guard]] = {
    "sealedSecrets": {
        "fullnameOverride": Guard("the controller's name sealed-secrets-controller, kubeseal's default --controller-name"),
        "namespace": Guard("the controller's namespace, where its key Secrets are (kubeseal's default kube-system)",
                           "remove it; set belen:sealedSecrets.namespace"),
        "keyrenewperiod": _KEY_RENEWAL,
        "keycutofftime": _KEY_RENEWAL,
        "args": _FLAGS,
        "command": _FLAGS,
        "createController": Guard("the controller that unseals every SealedSecret and that kubeseal seals for"),
    },
    "externalSecrets": {
        "installCRDs": _ESO_CRDS,
        "crds.createClusterSecretStore": _ESO_CRDS,
        "webhook.create": Guard("the webhook, up before any store is created (the release is awaited)"),
        "certController.create": Guard("the webhook's certificate, without which the webhook never serves"),
        "createOperator": _ESO_CLUSTER_STORES,
        "processClusterStore": _ESO_CLUSTER_STORES,
        "controllerClass": _ESO_CLUSTER_STORES,
        "scopedNamespace": _ESO_CLUSTER_STORES,
        "scopedRBAC": _ESO_CLUSTER_STORES,
        "namespaceOverride": Guard("the operator's namespace, where the stores' credentials Secrets are",
                                   "remove it; set belen:externalSecrets.namespace"),
    },
    "certManager": {
        "installCRDs": _CM_CRDS,
        "crds.enabled": _CM_CRDS,
        "crds.keep": Guard("every Certificate: the CRDs stay when the release goes"),
        "startupapicheck.enabled": Guard("the hook that waits until the webhook answers, before any issuer is created"),
        "namespace": Guard("cert-manager's namespace, where ClusterIssuers' Secrets are"),
        "clusterResourceNamespace": Guard("where ClusterIssuers read their Secrets: belen writes them into cert-manager's "
                                          "namespace"),
        "disableAutoApproval": Guard("issued Certificates: belen waits for each before Flux starts, so no approver "
                                     "from Git could approve them"),
    },
    "fluxOperator": {
        "installCRDs": Guard("the CRD-before-CR order: the awaited release brings the FluxInstance CRD before "
                             "the FluxInstance"),
    },
    "traefik": {
        "ingressClass.enabled": _INGRESS_CLASS,
        "ingressClass.name": _INGRESS_CLASS,
        "ingressClass.isDefaultClass": _INGRESS_CLASS,
        "providers.kubernetesIngress.enabled": Guard("Ingresses served, apps' and http01 challenges'"),
        "providers.kubernetesIngress.ingressClass": _INGRESS_CLASS,
        "deployment.replicas": Guard("the replicas belen:ingress.replicas sets", "remove it; set belen:ingress.replicas"),
        "podDisruptionBudget": Guard("serving through node drains, per belen:ingress.replicas",
                                     "remove it; set belen:ingress.replicas"),
        "service.spec.type": Guard("the Service type belen:ingress.serviceType sets",
                                   "remove it; set belen:ingress.serviceType"),
        "service.spec.loadBalancerIP": Guard("the address belen:ingress.loadBalancerIP sets",
                                             "remove it; set belen:ingress.loadBalancerIP"),
        "service.annotations": Guard("the annotations belen:ingress.annotations sets",
                                     "remove it; set belen:ingress.annotations"),
    },
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`, as Helm merges values: mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
