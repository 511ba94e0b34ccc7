"""Ingress parity: Traefik on clusters that lack an ingress controller, none where k3s ships one."""

import json

import pytest

from tests.graph import PROJECT_DIR, render_cli, render_stack, write_yaml

HOMELAB_OUTPUTS = {"organization/belen/homelab": json.loads(
    (PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())}


def traefik(graph):
    return graph.find("helm.sh/v3:Release", f"{graph.one('belen:index:BelenCluster').name}-ingress-traefik")


def test_cloud_installs_traefik_as_the_default_class_and_flux_waits_for_it():
    graph = render_stack("cloud", stack_outputs=HOMELAB_OUTPUTS)
    [release] = traefik(graph)
    inputs = release.inputs()
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        "traefik", "41.6.0", "https://traefik.github.io/charts")
    assert inputs["namespace"] == "traefik" and inputs["skipAwait"] is False
    values = inputs["values"]
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert values["service"]["spec"] == {"type": "LoadBalancer"}
    assert values["ingressRoute"]["dashboard"]["enabled"] is False
    assert values["deployment"]["replicas"] == 2
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    assert graph.depends_on(release, graph.obj("Namespace", "traefik"))
    for sync in graph.objects("Kustomization"):
        assert graph.depends_on(sync, release)
    assert graph.output("ingressClass").value == "traefik" and graph.output("ingressInstalled").value is True


def test_homelab_installs_nothing():
    graph = render_stack("homelab")
    assert traefik(graph) == []
    assert not [n for n in graph.objects("Namespace") if n.inputs()["metadata"]["name"] == "traefik"]
    assert graph.output("ingressInstalled").value is False and graph.output("ingressClass").value == "traefik"


def test_local_uses_a_node_port_and_one_replica_without_a_budget():
    [release] = traefik(render_stack("local"))
    values = release.inputs()["values"]
    assert values["service"]["spec"] == {"type": "NodePort"}
    assert values["deployment"]["replicas"] == 1 and values["podDisruptionBudget"] == {"enabled": False}


def test_load_balancer_ip_annotations_and_class_name():
    graph = render_stack("local", {"belen:ingress": {
        "install": True, "className": "public", "loadBalancerIP": "10.0.0.7",
        "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}}})
    values = traefik(graph)[0].inputs()["values"]
    assert values["service"] == {"spec": {"type": "LoadBalancer", "loadBalancerIP": "10.0.0.7"},
                                 "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}}
    assert values["ingressClass"]["name"] == "public" and values["providers"]["kubernetesIngress"]["ingressClass"] == "public"


@pytest.mark.parametrize("ingress, message", [
    ({"install": True, "serviceType": "ClusterIP"}, "belen:ingress.serviceType: 'ClusterIP' is not one of LoadBalancer, NodePort"),
    ({"install": True, "loadBalancerIP": "ten"}, "belen:ingress.loadBalancerIP: 'ten' is not an IP address"),
    ({"install": True, "serviceType": "NodePort", "loadBalancerIP": "10.0.0.1"},
     "belen:ingress.loadBalancerIP: needs serviceType LoadBalancer, not NodePort"),
    ({"install": False, "replicas": 3}, "belen:ingress.replicas: only applies when belen installs the controller"),
    ({"install": True, "replicas": 0}, "belen:ingress.replicas: 0 is out of range"),
    ({"install": "yes"}, "belen:ingress.install: must be true or false"),
    ({"class": "traefik"}, "belen:ingress.class: unknown setting — did you mean 'className'?"),
])
def test_ingress_settings_errors(tmp_path, ingress, message):
    result = render_cli("local", "--out", str(tmp_path / "out"), "--config-file",
                        str(write_yaml(tmp_path / "in.yaml", {"belen:ingress": ingress})))
    assert result.code == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


HTTP01_CERT = {"belen:certManager": {
    "issuers": [{"name": "letsencrypt", "acme": {"email": "a@example.org", "server": "letsencrypt", "http01": {}}},
                {"name": "selfsigned", "selfSigned": {}}],
    "certificates": [{"name": "web", "namespace": "web", "dnsNames": ["web.example.org"], "issuer": "letsencrypt"},
                     {"name": "internal", "namespace": "web", "dnsNames": ["internal.example.org"], "issuer": "selfsigned"}]}}


def test_http01_certificates_wait_for_traefik_when_belen_installs_it():
    graph = render_stack("cloud", HTTP01_CERT, stack_outputs=HOMELAB_OUTPUTS)
    [release] = traefik(graph)
    assert graph.depends_on(graph.obj("Certificate", "web"), release)
    assert not graph.depends_on(graph.obj("Certificate", "internal"), release), "only http01 challenges need it"


def test_no_traefik_dependency_where_k3s_provides_it():
    graph = render_stack("homelab", HTTP01_CERT)
    assert traefik(graph) == [] and graph.obj("Certificate", "web")


def test_an_http01_class_that_differs_from_the_cluster_class_fails(tmp_path):
    config = {"belen:ingress": {"install": True, "className": "nginx"}}
    result = render_cli("cloud", "--out", str(tmp_path / "out"), "--config-file", str(write_yaml(tmp_path / "in.yaml", config)))
    assert result.code == 2
    for index in (0, 1):  # both Let's Encrypt issuers of the cloud stack solve http01 through traefik
        assert (f"belen:certManager.issuers[{index}].acme.http01.ingressClass: 'traefik' differs from "
                "belen:ingress.className 'nginx'") in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
