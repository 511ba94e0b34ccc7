"""tools.preflight's rules on small repositories, against a platform written here (no program run):
Flux's substitution, Flux's build, and each check's variants."""

import dataclasses
import shutil

import pytest
from cryptography.hazmat.primitives import serialization
from kubesealpy import SealingScope

from components.crypto import pem
from tests import gitops_repo as g
from tests import keyfactory as kf
from tools.preflight.build import follow
from tools.preflight.checks import all_findings
from tools.preflight.envsubst import substitute
from tools.preflight.model import Obj
from tools.preflight.platform import Platform

KEY = kf.pair("preflight-rules")
STACK_FILE = "stacks/Pulumi.test.yaml"
BELEN = [
    g.obj("v1", "Namespace", "flux-system"),
    g.obj("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system", spec={"url": "https://x/y"}),
    {**g.kustomization("flux-system", "./cluster", postBuild={"substitute": {"cluster_name": "test"}})},
    g.obj("external-secrets.io/v1", "ClusterSecretStore", "vault", spec={"provider": {"fake": {}}}),
    g.obj("cert-manager.io/v1", "ClusterIssuer", "letsencrypt", spec={"selfSigned": {}}),
]


def platform(installed: bool = True) -> Platform:
    key = serialization.load_pem_private_key(KEY["key"].encode(), None)
    return Platform("test", tuple(Obj(doc, STACK_FILE) for doc in BELEN), (key,), False, "traefik", installed)


def preflight(tmp_path, files, *, installed: bool = True, kubectl: str | None = None) -> list[str]:
    """Finding lines and notes (`note: …`) for a repository of `files`, sorted."""
    target = platform(installed)
    applied = follow(g.write(tmp_path, files), target, kubectl)
    findings = all_findings(applied, target, list(target.sealing_keys))
    return sorted([f.line for f in findings] + [f"note: {n}" for n in applied.notes])


def in_cluster(*docs) -> dict:
    return {"cluster/objects.yaml": list(docs)}


# --- substitution ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, values, expected, missing", [
    ("a: ${x}", {"x": "1"}, "a: 1", []),
    ("a: ${x}-${y}", {"x": "1"}, "a: 1-${y}", ["y"]),
    ("a: ${x:=d} ${x:-d} ${x=d} ${x-d}", {}, "a: d d d d", []),
    ("a: ${x:=d} ${x=d}", {"x": ""}, "a: d ", []),
    ("a: $${x} $$HOME", {}, "a: ${x} $HOME", []),
    ("a: ${sealed} ${sealed:=d}", {"sealed": None}, "a: ${sealed} ${sealed:=d}", []),
    ("a: ${x/a/b} ${#x} ${1}", {"x": "a"}, "a: ${x/a/b} ${#x} ${1}", []),
    ("a: ${nope/a/b}", {}, "a: ${nope/a/b}", ["nope"]),
])
def test_substitution_follows_flux(text, values, expected, missing):
    assert substitute(text, values) == (expected, missing)


# --- Flux's build -----------------------------------------------------------------------------------

def test_a_path_without_kustomization_file_takes_every_manifest_and_fails_on_other_yaml(tmp_path):
    files = {"cluster/ok.yaml": [g.config_map("ok", "default")], "cluster/values.yaml": [{"replicas": 2}],
             "cluster/sub/deep.yaml": [g.config_map("deep", "nowhere")]}
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster/broken.yml").write_text("a: [\n")
    (tmp_path / "cluster/notes.txt").write_text("not read")
    assert preflight(tmp_path, files) == [
        "cluster/broken.yml: is not valid YAML, so Flux cannot build its folder — fix the YAML",
        "cluster/sub/deep.yaml: ConfigMap nowhere/deep: namespace nowhere does not exist on the cluster: neither the "
        "repository nor belen creates it — add a Namespace nowhere to the repository, or put it in an existing namespace",
        "cluster/values.yaml: holds a document without apiVersion and kind, so Flux cannot build its folder — move it "
        "out of the Kustomization's path, or add a kustomization.yaml that lists the manifests",
    ]


def test_without_kubectl_a_kustomization_file_gives_resources_and_namespace(tmp_path):
    files = {
        "cluster/kustomization.yaml": [{"resources": ["base", "cm.yaml", "gone.yaml", "https://example.org/x.yaml"],
                                        "namespace": "team"}],
        "cluster/cm.yaml": [g.config_map("cm", "default")],
        "cluster/base/kustomization.yml": [{"resources": ["ns.yaml"]}],
        "cluster/base/ns.yaml": [g.obj("v1", "Namespace", "team")],
    }
    assert preflight(tmp_path, files) == [
        "cluster/kustomization.yaml: resource gone.yaml is neither a manifest nor a folder with a kustomization file "
        "— fix the resources list",
        "note: cluster/kustomization.yaml: remote resource https://example.org/x.yaml not read",
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_with_kubectl_kustomize_builds_and_its_failures_are_findings(tmp_path):
    files = {"cluster/kustomization.yaml": [{"resources": ["cm.yaml"], "namespace": "nowhere"}],
             "cluster/cm.yaml": [g.config_map("cm", "default")]}
    assert preflight(tmp_path / "ok", files, kubectl=shutil.which("kubectl")) == [
        "cluster/cm.yaml: ConfigMap nowhere/cm: namespace nowhere does not exist on the cluster: neither the repository "
        "nor belen creates it — add a Namespace nowhere to the repository, or put it in an existing namespace"]
    files["cluster/kustomization.yaml"] = [{"resources": ["gone.yaml"]}]
    [line] = preflight(tmp_path / "broken", files, kubectl=shutil.which("kubectl"))
    assert line.startswith("cluster/kustomization.yaml: kustomize cannot build it: ")
    assert line.endswith("— fix it until `kubectl kustomize cluster` builds")


def test_kustomizations_in_the_repository_are_followed_only_into_this_repository(tmp_path):
    files = in_cluster(
        g.kustomization("elsewhere", "./x", sourceRef={"kind": "GitRepository", "name": "other"}),
        g.obj("source.toolkit.fluxcd.io/v1", "GitRepository", "other", "flux-system", spec={"url": "https://x/z"}),
        g.kustomization("lost", "./missing"),
        g.kustomization("unknown-source", "./x", sourceRef={"kind": "OCIRepository", "name": "charts"}),
        # Its targetNamespace also moves the Kustomization it applies, whose sourceRef then points into team.
        g.kustomization("team", "./team", targetNamespace="team"),
    )
    files["team/inner.yaml"] = [g.obj("v1", "Namespace", "team"), g.kustomization("inner", "./x")]
    assert preflight(tmp_path, files) == [
        "cluster/objects.yaml: Kustomization flux-system/lost: path ./missing is not a folder of the repository — "
        "create it, or fix spec.path",
        "cluster/objects.yaml: Kustomization flux-system/unknown-source: sourceRef names OCIRepository "
        "flux-system/charts, which does not exist — add it to the repository, or fix the name",
        "note: cluster/objects.yaml: Kustomization flux-system/elsewhere: not followed — its sourceRef is not belen's "
        "GitRepository, so its path is in another repository",
        "note: cluster/objects.yaml: Kustomization flux-system/unknown-source: not followed — its sourceRef is not "
        "belen's GitRepository, so its path is in another repository",
        "note: team/inner.yaml: Kustomization team/inner: not followed — its sourceRef is not belen's GitRepository, "
        "so its path is in another repository",
        "team/inner.yaml: Kustomization team/inner: sourceRef names GitRepository team/flux-system, which does not "
        "exist — add it to the repository, or fix the name",
    ]


def test_substitution_is_switched_off_per_object_and_absent_without_variables(tmp_path):
    files = in_cluster(
        g.config_map("off", "default", script="echo ${HOME}") | {"metadata": {
            "name": "off", "namespace": "default", "annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}},
        g.config_map("on", "default", script="echo ${HOME}"),
        g.kustomization("plain", "./plain"),
    )
    files["plain/cm.yaml"] = [g.config_map("plain", "default", script="echo ${HOME}")]
    [line] = preflight(tmp_path, files)
    assert line.startswith("cluster/objects.yaml: ConfigMap default/on: ${HOME} has no value in Kustomization "
                           "flux-system/flux-system: Flux replaces it with nothing — add HOME to belen:flux.substitute")


# --- the checks' variants ------------------------------------------------------------------------------

@pytest.mark.parametrize("api_version, kind, installed, expected", [
    ("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization", True,
     "kustomize.toolkit.fluxcd.io/v1beta2 Kustomization is not served by Flux 2.9.6 (v1beta1 went in 2.7, v1beta2 in "
     "2.8) — use kustomize.toolkit.fluxcd.io/v1"),
    ("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease", True, "— use helm.toolkit.fluxcd.io/v2"),
    ("source.toolkit.fluxcd.io/v1beta2", "HelmRepository", True, "— use source.toolkit.fluxcd.io/v1"),
    ("notification.toolkit.fluxcd.io/v1beta2", "Alert", True, "— use notification.toolkit.fluxcd.io/v1beta3"),
    ("notification.toolkit.fluxcd.io/v1beta3", "Alert", True, None),
    ("notification.toolkit.fluxcd.io/v1beta3", "Receiver", True, "— use notification.toolkit.fluxcd.io/v1"),
    ("image.toolkit.fluxcd.io/v1", "ImagePolicy", True,
     "is not served by belen's Flux, which runs no image automation controllers — remove it, or install its "
     "controller from the repository"),
    ("networking.k8s.io/v1beta1", "Ingress", True,
     "networking.k8s.io/v1beta1 Ingress is no longer served (removed in Kubernetes 1.22) — use networking.k8s.io/v1"),
    ("policy/v1beta1", "PodDisruptionBudget", True, "(removed in Kubernetes 1.25) — use policy/v1"),
    ("networking.k8s.io/v1beta1", "ServiceCIDR", True, None),
    ("traefik.containo.us/v1alpha1", "IngressRoute", True, "— remove it, or install its controller from the repository"),
    ("traefik.containo.us/v1alpha1", "IngressRoute", False, None),
    ("example.org/v1", "Widget", True, None),
])
def test_api_versions_the_replica_serves(tmp_path, api_version, kind, installed, expected):
    spec = {"sourceRef": g.FLUX, "path": "./empty"} if kind == "Kustomization" else {}
    files = {**in_cluster(g.obj(api_version, kind, "x", "flux-system", spec=spec)), "empty/none.txt": []}
    lines = preflight(tmp_path, files, installed=installed)
    if expected is None:
        assert lines == []
    else:
        [line] = lines
        assert expected in line


def test_a_crd_in_the_repository_decides_its_versions_and_scope(tmp_path):
    crd = g.obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.org", spec={
        "group": "example.org", "scope": "Cluster", "names": {"kind": "Widget"},
        "versions": [{"name": "v1", "served": True}, {"name": "v1alpha1", "served": False}]})
    assert preflight(tmp_path, in_cluster(crd, g.obj("example.org/v1alpha1", "Widget", "w"))) == [
        "cluster/objects.yaml: Widget w: example.org/v1alpha1 is not served by the CustomResourceDefinition in the "
        "repository (it serves v1) — use one of those versions"]


def test_flux_references_dependencies_and_chart_sources(tmp_path):
    release = g.helm_release("app", "charts") | {"metadata": {"name": "app", "namespace": "default"}}
    files = in_cluster(
        g.kustomization("apps", "./apps", dependsOn=[{"name": "flux-system"}, {"name": "infra"}]),
        g.obj("source.toolkit.fluxcd.io/v1", "HelmRepository", "charts", "flux-system", spec={"url": "https://c"}),
        release,
        g.obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "oci", "default", spec={
            "chartRef": {"kind": "OCIRepository", "name": "podinfo"}, "dependsOn": [{"name": "app"}, {"name": "db"}]}),
    )
    files["apps/app.yaml"] = [g.config_map("app", "default")]
    assert [line.split(": ", 2)[1:] for line in preflight(tmp_path, files)] == [
        ["HelmRelease default/oci", "chartRef names OCIRepository default/podinfo, which does not exist — add it to the "
                                    "repository, or fix the name"],
        ["HelmRelease default/oci", "dependsOn names HelmRelease default/db, which does not exist — remove it from "
                                    "dependsOn, or add it"],
        ["Kustomization flux-system/apps", "dependsOn names Kustomization flux-system/infra, which does not exist — "
                                           "remove it from dependsOn, or add it"],
    ]


def test_secret_stores_in_the_namespace_or_the_cluster(tmp_path):
    store = g.obj("external-secrets.io/v1", "SecretStore", "local", "team", spec={})
    per_item = g.external_secret("items", "team", {"name": "local"})
    per_item["spec"]["dataFrom"] = [{"sourceRef": {"storeRef": {"kind": "ClusterSecretStore", "name": "aws"}}}]
    files = in_cluster(g.obj("v1", "Namespace", "team"), g.obj("v1", "Namespace", "other"), store, per_item,
                       g.external_secret("wrong-namespace", "other", {"name": "local"}))
    assert [line.split(": ", 2)[2] for line in preflight(tmp_path, files)] == [
        "SecretStore other/local is not in the repository — add that SecretStore to namespace other, or use a "
        "ClusterSecretStore",
        "ClusterSecretStore aws does not exist on the cluster (its stores: vault) — add it to "
        "belen:externalSecrets.stores, or use one of its stores",
    ]


def test_issuers_named_by_annotations_and_issuer_refs(tmp_path):
    def annotated(name, annotations):
        return g.obj("networking.k8s.io/v1", "Ingress", name, "default", metadata={"annotations": annotations}, spec={})
    external = g.certificate("external", "default", "AWSPCAClusterIssuer", "pca")
    external["spec"]["issuerRef"]["group"] = "awspca.cert-manager.io"
    files = in_cluster(
        annotated("namespaced", {"cert-manager.io/issuer": "local"}),
        annotated("as-cluster", {"cert-manager.io/issuer": "letsencrypt", "cert-manager.io/issuer-kind": "ClusterIssuer"}),
        external, g.certificate("cluster", "default", "ClusterIssuer", "letsencrypt"),
    )
    assert preflight(tmp_path, files) == [
        "cluster/objects.yaml: Ingress default/namespaced: annotation cert-manager.io/issuer names Issuer "
        "default/local, which is not in the repository — add that Issuer to namespace default, or use a ClusterIssuer"]


def test_ingress_classes_by_field_annotation_or_ingress_class_in_the_repository(tmp_path):
    def classed(name, class_name=None, annotation=None):
        annotations = {"kubernetes.io/ingress.class": annotation} if annotation else {}
        spec = {"ingressClassName": class_name} if class_name else {}
        return g.obj("networking.k8s.io/v1", "Ingress", name, "default", metadata={"annotations": annotations}, spec=spec)
    files = in_cluster(classed("legacy", annotation="nginx"), classed("default"), classed("own", "haproxy"),
                       g.obj("networking.k8s.io/v1", "IngressClass", "haproxy", spec={"controller": "haproxy"}))
    assert preflight(tmp_path, files) == [
        "cluster/objects.yaml: Ingress default/legacy: ingress class nginx is not served on the cluster (it serves "
        "haproxy, traefik) — use traefik (belen:ingress.className), or add an IngressClass and its controller to the "
        "repository"]


def test_namespaces_exist_and_namespaced_objects_have_one(tmp_path):
    files = in_cluster(
        g.obj("apps/v1", "Deployment", "loose", spec={}),
        g.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
        g.obj("example.org/v1", "Gadget", "unknown-scope"),
        g.config_map("flux", "flux-system"), g.config_map("builtin", "kube-public"),
    )
    assert preflight(tmp_path, files) == [
        "cluster/objects.yaml: Deployment loose: has no namespace, and no targetNamespace gives it one — set "
        "metadata.namespace, or targetNamespace on Kustomization flux-system/flux-system"]


def test_sealed_secrets_open_with_the_keys_where_they_land(tmp_path):
    other = kf.pair("preflight-rules-other")
    files = {
        "cluster/ns.yaml": [g.obj("v1", "Namespace", n) for n in ("apps", "web")],
        "cluster/ok.yaml": [g.seal(KEY["cert"], "apps", "ok"), g.seal(KEY["cert"], "web", "any", SealingScope.CLUSTER_WIDE)],
        "cluster/foreign.yaml": [g.seal(other["cert"], "apps", "foreign")],
        "cluster/moved.yaml": [g.kustomization("moved", "./moved", targetNamespace="web")],
        "moved/wide.yaml": [g.seal(KEY["cert"], "apps", "wide", SealingScope.NAMESPACE_WIDE),
                            g.seal(KEY["cert"], "apps", "everywhere", SealingScope.CLUSTER_WIDE)],
    }
    assert [line.split(" — ")[0] for line in preflight(tmp_path, files)] == [
        "cluster/foreign.yaml: SealedSecret apps/foreign: 1 of 1 item(s) do not open with the stack's sealing keys "
        "(strict scope)",
        "moved/wide.yaml: SealedSecret web/wide: is sealed (namespace-wide) for namespace apps, but targetNamespace of "
        "Kustomization flux-system/moved puts it in web, where it never opens",
    ]


def test_a_sealed_secret_that_only_a_retired_key_opens_is_named_before_the_up_that_strands_it(tmp_path):
    retired, unknown = kf.pair("preflight-rules-retired"), kf.pair("preflight-rules-unknown")
    fingerprint = pem.public_key_fingerprint(pem.load_certificate(retired["cert"]).public_key())
    files = {"cluster/ns.yaml": [g.obj("v1", "Namespace", "apps")],
             "cluster/stale.yaml": [g.seal(retired["cert"], "apps", "stale"), g.seal(KEY["cert"], "apps", "fresh")],
             "cluster/foreign.yaml": [g.seal(unknown["cert"], "apps", "foreign")]}
    target = dataclasses.replace(platform(), retired=frozenset({fingerprint}))
    applied = follow(g.write(tmp_path, files), target, None)
    # The retired key comes with --keys (the stack's sealingKeys output from before the up that retires it).
    keys = [*target.sealing_keys, serialization.load_pem_private_key(retired["key"].encode(), None)]
    findings = all_findings(applied, target, keys)
    assert [(f.check, f.line) for f in findings] == [
        ("sealed-secrets", "cluster/foreign.yaml: SealedSecret apps/foreign: 1 of 1 item(s) do not open with the stack's "
         "sealing keys (strict scope) — seal it again with the stack's certificate (pulumi stack output "
         "sealingCertificate), or pass the key that sealed it with --keys"),
        ("retired-keys", f"cluster/stale.yaml: SealedSecret apps/stale: 1 of 1 item(s) open only with key "
         f"{fingerprint[:16]}, which belen:sealedSecrets.retireKeys retires: the stack's next `pulumi up` deletes it and "
         f"strands them — re-seal it to the stack's sealingCertificate (python -m tools.keys reseal) and let Flux "
         f"apply it before that up, or remove the key from retireKeys"),
    ]
    # Without the retirement, the same key opens it: nothing to report.
    assert [f.name for f in all_findings(applied, platform(), keys)] == ["foreign"]


def test_secret_sources_set_variables_whose_values_are_never_shown(tmp_path):
    files = in_cluster(
        g.obj("v1", "Secret", "vars", "flux-system", stringData={"domain": "hidden.example"}),
        g.seal(KEY["cert"], "flux-system", "sealed-vars"),
        g.kustomization("apps", "./apps", postBuild={"substituteFrom": [
            {"kind": "Secret", "name": "vars"}, {"kind": "Secret", "name": "sealed-vars"}]}),
    )
    # Where a value would show (a namespace that does not exist), the variable stays as written.
    files["apps/cm.yaml"] = [g.config_map("cm", "${domain}", password="${password}", other="${other}")]
    [line] = preflight(tmp_path, files)
    assert line.startswith("apps/cm.yaml: ConfigMap ${domain}/cm: ${other} has no value in Kustomization flux-system/apps")
    assert "add other to postBuild.substitute of Kustomization flux-system/apps (cluster/objects.yaml)" in line
    assert "hidden.example" not in line
