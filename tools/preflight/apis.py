"""What the replica serves: API versions of the controllers belen installs, Kubernetes APIs that are gone,
and which kinds live outside namespaces. Pure data."""

from __future__ import annotations

from components.settings.constants import FLUX_VERSION

ANY = frozenset({"*"})

# group → (version → kinds it serves, who serves the group). The controllers belen installs, at the
# versions components/charts.py and components/flux.py pin; a group is judged by a CustomResourceDefinition
# in the repository instead when the repository brings one.
CONTROLLER_APIS: dict[str, tuple[dict[str, frozenset[str]], str]] = {
    "source.toolkit.fluxcd.io": ({"v1": ANY}, f"Flux {FLUX_VERSION} (v1beta1 went in 2.7, v1beta2 in 2.8)"),
    "kustomize.toolkit.fluxcd.io": ({"v1": ANY}, f"Flux {FLUX_VERSION} (v1beta1 went in 2.7, v1beta2 in 2.8)"),
    "helm.toolkit.fluxcd.io": ({"v2": ANY}, f"Flux {FLUX_VERSION} (v2beta1 went in 2.7, v2beta2 in 2.8)"),
    "notification.toolkit.fluxcd.io": ({"v1beta3": frozenset({"Alert", "Provider"}), "v1": ANY},
                                       f"Flux {FLUX_VERSION} (v1beta1 went in 2.7, v1beta2 in 2.9)"),
    "image.toolkit.fluxcd.io": ({}, "belen's Flux, which runs no image automation controllers"),
    "fluxcd.controlplane.io": ({"v1": ANY}, "the Flux Operator"),
    "external-secrets.io": ({"v1": ANY, "v1alpha1": frozenset({"PushSecret", "ClusterPushSecret"})},
                            "External Secrets Operator 2.x (v1beta1 went in 0.17)"),
    "generators.external-secrets.io": ({"v1alpha1": ANY}, "External Secrets Operator 2.x"),
    "cert-manager.io": ({"v1": ANY}, "cert-manager (v1alpha2 to v1beta1 went in 1.6)"),
    "acme.cert-manager.io": ({"v1": ANY}, "cert-manager (v1alpha2 to v1beta1 went in 1.6)"),
    "bitnami.com": ({"v1alpha1": ANY}, "Sealed Secrets"),
}
# Where belen installs Traefik (v3): its CRDs moved from traefik.containo.us to traefik.io.
TRAEFIK_APIS: dict[str, tuple[dict[str, frozenset[str]], str]] = {
    "traefik.io": ({"v1alpha1": ANY}, "Traefik v3 as belen installs it"),
    "traefik.containo.us": ({}, "Traefik v3 as belen installs it (it serves traefik.io/v1alpha1 instead)"),
}


def _removed(table: list[tuple[tuple[str, ...], tuple[str, ...], str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(api, kind): (release, use) for apis, kinds, release, use in table for api in apis for kind in kinds}


_WORKLOADS = ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet", "ControllerRevision")
_FLOW = ("FlowSchema", "PriorityLevelConfiguration")
# (apiVersion, kind) → (the Kubernetes release that stopped serving it, what to use instead).
REMOVED_KUBERNETES_APIS = _removed([
    (("extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"), _WORKLOADS, "1.16", "apps/v1"),
    (("extensions/v1beta1",), ("NetworkPolicy",), "1.16", "networking.k8s.io/v1"),
    (("extensions/v1beta1", "networking.k8s.io/v1beta1"), ("Ingress",), "1.22", "networking.k8s.io/v1"),
    (("networking.k8s.io/v1beta1",), ("IngressClass",), "1.22", "networking.k8s.io/v1"),
    (("rbac.authorization.k8s.io/v1beta1",), ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"), "1.22",
     "rbac.authorization.k8s.io/v1"),
    (("apiextensions.k8s.io/v1beta1",), ("CustomResourceDefinition",), "1.22", "apiextensions.k8s.io/v1"),
    (("admissionregistration.k8s.io/v1beta1",), ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
     "1.22", "admissionregistration.k8s.io/v1"),
    (("apiregistration.k8s.io/v1beta1",), ("APIService",), "1.22", "apiregistration.k8s.io/v1"),
    (("scheduling.k8s.io/v1beta1",), ("PriorityClass",), "1.22", "scheduling.k8s.io/v1"),
    (("storage.k8s.io/v1beta1",), ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"), "1.22", "storage.k8s.io/v1"),
    (("storage.k8s.io/v1beta1",), ("CSIStorageCapacity",), "1.27", "storage.k8s.io/v1"),
    (("coordination.k8s.io/v1beta1",), ("Lease",), "1.22", "coordination.k8s.io/v1"),
    (("certificates.k8s.io/v1beta1",), ("CertificateSigningRequest",), "1.22", "certificates.k8s.io/v1"),
    (("batch/v1beta1",), ("CronJob",), "1.25", "batch/v1"),
    (("policy/v1beta1",), ("PodDisruptionBudget",), "1.25", "policy/v1"),
    (("extensions/v1beta1", "policy/v1beta1"), ("PodSecurityPolicy",), "1.25", "Pod Security Admission (no replacement kind)"),
    (("discovery.k8s.io/v1beta1",), ("EndpointSlice",), "1.25", "discovery.k8s.io/v1"),
    (("events.k8s.io/v1beta1",), ("Event",), "1.25", "events.k8s.io/v1"),
    (("node.k8s.io/v1beta1",), ("RuntimeClass",), "1.25", "node.k8s.io/v1"),
    (("autoscaling/v2beta1",), ("HorizontalPodAutoscaler",), "1.25", "autoscaling/v2"),
    (("autoscaling/v2beta2",), ("HorizontalPodAutoscaler",), "1.26", "autoscaling/v2"),
    (("flowcontrol.apiserver.k8s.io/v1beta1",), _FLOW, "1.26", "flowcontrol.apiserver.k8s.io/v1"),
    (("flowcontrol.apiserver.k8s.io/v1beta2",), _FLOW, "1.29", "flowcontrol.apiserver.k8s.io/v1"),
    (("flowcontrol.apiserver.k8s.io/v1beta3",), _FLOW, "1.32", "flowcontrol.apiserver.k8s.io/v1"),
])

# Kinds that live outside namespaces (a CRD in the repository may add its own).
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "IngressClass", "PriorityClass", "RuntimeClass",
    "FlowSchema", "PriorityLevelConfiguration", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "APIService", "CertificateSigningRequest",
    "PodSecurityPolicy", "ClusterIssuer", "ClusterSecretStore", "ClusterExternalSecret", "ClusterPushSecret",
    "ClusterGenerator",
})
# Kinds known to live in a namespace: one without a namespace is a mistake, not an unknown.
NAMESPACED = frozenset({
    "ConfigMap", "Secret", "Service", "ServiceAccount", "Pod", "PersistentVolumeClaim", "Deployment", "StatefulSet",
    "DaemonSet", "ReplicaSet", "Job", "CronJob", "Ingress", "NetworkPolicy", "Role", "RoleBinding",
    "PodDisruptionBudget", "HorizontalPodAutoscaler", "LimitRange", "ResourceQuota", "Endpoints", "EndpointSlice",
    "SealedSecret", "ExternalSecret", "SecretStore", "PushSecret", "Certificate", "Issuer", "CertificateRequest",
    "GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket", "Kustomization", "HelmRelease",
    "Alert", "Provider", "Receiver",
})
