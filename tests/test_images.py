"""`belen:images`: every image of every chart and of the FluxInstance from one mirror, one pull
Secret (secret end to end) in every namespace a chart installs into, and every settings error."""

import base64
import json

import pulumi
import pytest

from components.charts import CHARTS, deep_merge
from components.errors import SettingsError
from components.helm import ChartInstaller
from components.settings import StackConfig, load_settings
from components.settings.charts import ImagesSettings
from tests.graph import PROJECT_DIR, render_cli, render_failure, render_stack, run_program, write_yaml

HOMELAB_OUTPUTS = {"organization/belen/homelab": json.loads(
    (PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())}
MIRROR = "harbor.home.arpa:5000/mirror"
DOCKER_CONFIG = json.dumps({"auths": {"harbor.home.arpa:5000": {"auth": "ZHVtbXktcHVsbC1tYXJrZXI6eA=="}}})
PULL = {"belen:imagePullSecret": DOCKER_CONFIG}
RELEASE_NAMES = {"sealedSecrets": "sealed-secrets", "externalSecrets": "external-secrets",
                 "certManager": "cert-manager", "fluxOperator": "flux-operator", "traefik": "traefik"}
NAMESPACES = {"sealedSecrets": "kube-system", "externalSecrets": "external-secrets", "certManager": "cert-manager",
              "fluxOperator": "flux-system", "traefik": "traefik"}

# --- Each pinned chart's images, as its templates build them from its values -------------------------
# Transcribed from the charts' values.yaml and templates: sealed-secrets helm/sealed-secrets (deployment.yaml),
# traefik _helpers.tpl traefik.image-name, external-secrets _helpers.tpl external-secrets.image (controller,
# webhook, cert-controller), cert-manager _helpers.tpl cert-manager.image (controller, webhook, cainjector,
# acmesolver, startupapicheck Job), flux-operator deployment.yaml. Tags are left out: belen keeps them.
DEFAULTS = {
    "sealedSecrets": {"image": {"registry": "docker.io", "repository": "bitnami/sealed-secrets-controller",
                                "pullSecrets": []}},
    "traefik": {"image": {"registry": None, "repository": None}, "deployment": {"imagePullSecrets": []}},
    "externalSecrets": {"global": {"repository": "", "imagePullSecrets": []}, "imagePullSecrets": [],
                        **{c: {"image": {"repository": "ghcr.io/external-secrets/external-secrets"},
                               "imagePullSecrets": []} for c in ("webhook", "certController")},
                        "image": {"repository": "ghcr.io/external-secrets/external-secrets"}},
    "certManager": {"imageRegistry": "quay.io", "imageNamespace": "jetstack", "global": {"imagePullSecrets": []},
                    "image": {"name": "cert-manager-controller", "repository": ""},
                    **{c: {"image": {"name": f"cert-manager-{c}", "repository": ""}}
                       for c in ("webhook", "cainjector", "acmesolver", "startupapicheck")}},
    "fluxOperator": {"image": {"repository": "ghcr.io/controlplaneio-fluxcd/flux-operator", "pullSecrets": []}},
}
CERT_MANAGER_PARTS = (None, "webhook", "cainjector", "acmesolver", "startupapicheck")
ESO_PARTS = (None, "webhook", "certController")


def _part(values, part):
    return values if part is None else values[part]


def _cert_manager_image(values, image):
    if image.get("repository"):
        return f"{image['registry']}/{image['repository']}" if image.get("registry") else image["repository"]
    return "/".join(p for p in (values["imageRegistry"], values["imageNamespace"], image["name"]) if p)


IMAGES = {  # key → values → every image reference the chart's pods run
    "sealedSecrets": lambda v: [f"{v['image']['registry']}/{v['image']['repository']}"],
    "traefik": lambda v: [f"{v['image']['registry'] or 'docker.io'}/{v['image']['repository'] or 'traefik'}"],
    "externalSecrets": lambda v: [v["global"]["repository"] or _part(v, p)["image"]["repository"] for p in ESO_PARTS],
    "certManager": lambda v: [_cert_manager_image(v, _part(v, p)["image"]) for p in CERT_MANAGER_PARTS],
    "fluxOperator": lambda v: [v["image"]["repository"]],
}
PULL_SECRETS = {  # key → values → the pull Secret names each of the chart's pods references
    "sealedSecrets": lambda v: [v["image"]["pullSecrets"]],
    "traefik": lambda v: [[s["name"] for s in v["deployment"]["imagePullSecrets"]]],
    "externalSecrets": lambda v: [[s["name"] for s in _part(v, p)["imagePullSecrets"] or v["global"]["imagePullSecrets"]]
                                  for p in ESO_PARTS],
    "certManager": lambda v: [[s["name"] for s in v["global"]["imagePullSecrets"]]] * 4,  # not acmesolver: no pod
    "fluxOperator": lambda v: [[s["name"] for s in v["image"]["pullSecrets"]]],
}
UPSTREAM = {
    "sealedSecrets": ["docker.io/bitnami/sealed-secrets-controller"],
    "traefik": ["docker.io/traefik"],
    "externalSecrets": ["ghcr.io/external-secrets/external-secrets"] * 3,
    "certManager": [f"quay.io/jetstack/cert-manager-{c}" for c in
                    ("controller", "webhook", "cainjector", "acmesolver", "startupapicheck")],
    "fluxOperator": ["ghcr.io/controlplaneio-fluxcd/flux-operator"],
}


def cloud(config=None):
    """The cloud stack installs all five charts."""
    return render_stack("cloud", config, stack_outputs=HOMELAB_OUTPUTS)


def effective(graph, key):
    """A release's values as the chart sees them: belen's merged over the chart's defaults."""
    [release] = [r for r in graph.find("helm.sh/v3:Release") if r.inputs()["name"] == RELEASE_NAMES[key]]
    return deep_merge(DEFAULTS[key], release.inputs()["values"]), release


def pull_secrets(graph):
    """namespace → the dockerconfigjson Secret there."""
    return {s.inputs()["metadata"]["namespace"]: s for s in graph.objects("Secret")
            if s.inputs().get("type") == "kubernetes.io/dockerconfigjson"}


def test_the_transcribed_charts_name_their_upstream_images():
    assert set(IMAGES) == set(PULL_SECRETS) == set(UPSTREAM) == set(CHARTS)
    for key in CHARTS:
        assert IMAGES[key](DEFAULTS[key]) == UPSTREAM[key], key


def test_without_images_settings_every_release_pulls_upstream_and_no_pull_secret_exists():
    graph = cloud()
    for key in CHARTS:
        values, _ = effective(graph, key)
        assert IMAGES[key](values) == UPSTREAM[key]
        assert all(names == [] for names in PULL_SECRETS[key](values))
    assert pull_secrets(graph) == {}


@pytest.mark.parametrize("mirror", [MIRROR, "zot.internal", "10.0.0.5:5000/a/b"])
def test_every_image_of_every_chart_comes_from_the_mirror_below_its_upstream_path(mirror):
    graph = cloud({"belen:images": {"registry": mirror}})
    for key in CHARTS:
        values, _ = effective(graph, key)
        assert IMAGES[key](values) == [f"{mirror}/{image.split('/', 1)[1]}" for image in UPSTREAM[key]], key


def test_the_flux_instance_pulls_its_controllers_and_manifests_from_the_mirror():
    distribution = cloud({"belen:images": {"registry": MIRROR}, **PULL}).obj("FluxInstance", "flux").inputs()["spec"][
        "distribution"]
    assert distribution == {"version": "2.9.6", "registry": f"{MIRROR}/fluxcd", "variant": "upstream-alpine",
                            "artifact": f"oci://{MIRROR}/controlplaneio-fluxcd/flux-operator-manifests",
                            "imagePullSecret": "belen-image-pull", "artifactPullSecret": "belen-image-pull"}
    upstream = cloud().obj("FluxInstance", "flux").inputs()["spec"]["distribution"]
    assert upstream == {"version": "2.9.6", "registry": "ghcr.io/fluxcd",
                        "artifact": "oci://ghcr.io/controlplaneio-fluxcd/flux-operator-manifests"}


def test_the_pull_secret_is_a_secret_in_every_chart_namespace_that_every_pod_references():
    graph = cloud({"belen:images": {"registry": MIRROR}, **PULL})
    secrets = pull_secrets(graph)
    assert sorted(secrets) == sorted(NAMESPACES.values())
    for key, namespace in NAMESPACES.items():
        secret = secrets[namespace]
        assert secret.inputs()["metadata"]["name"] == "belen-image-pull"
        assert secret.is_secret("data") and secret.inputs()["data"] == "[secret]"
        assert base64.b64decode(secret.inputs(show_secrets=True)["data"][".dockerconfigjson"]).decode() == DOCKER_CONFIG
        values, release = effective(graph, key)
        assert graph.depends_on(release, secret), f"{key} starts before its pull Secret exists"
        assert PULL_SECRETS[key](values) and all(names == ["belen-image-pull"] for names in PULL_SECRETS[key](values))
        namespace_objects = [n for n in graph.objects("Namespace") if n.inputs()["metadata"]["name"] == namespace]
        assert all(graph.depends_on(secret, n) for n in namespace_objects)


def test_the_pull_secret_never_shows_in_the_render_or_outputs(tmp_path):
    config = write_yaml(tmp_path / "in.yaml", {"belen:images": {"registry": MIRROR}, **PULL})
    result = render_cli("homelab", "--out", str(tmp_path / "out"), "--config-file", str(config))
    assert result.code == 0, result.stderr
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "ZHVtbXktcHVsbC1tYXJrZXI6eA" not in written and "dummy-pull-marker" not in written
    assert base64.b64encode(DOCKER_CONFIG.encode()).decode() not in written
    assert "ZHVtbXktcHVsbC1tYXJrZXI6eA" not in result.stderr + result.stdout


def test_a_pull_secret_without_a_mirror_authenticates_upstream_pulls_under_its_own_name():
    graph = render_stack("homelab", {"belen:images": {"pullSecret": "registry-credentials"}, **PULL})
    values, _ = effective(graph, "sealedSecrets")
    assert IMAGES["sealedSecrets"](values) == UPSTREAM["sealedSecrets"]
    assert PULL_SECRETS["sealedSecrets"](values) == [["registry-credentials"]]
    assert {s.inputs()["metadata"]["name"] for s in pull_secrets(graph).values()} == {"registry-credentials"}


def test_charts_sharing_a_namespace_share_one_pull_secret():
    images = ImagesSettings(pull_secret="belen-image-pull", docker_config=DOCKER_CONFIG)

    def program():
        charts = ChartInstaller(images=images)
        for key in ("sealedSecrets", "certManager"):
            charts.release(key, key, release_name=key.lower(), namespace="platform", values={},
                           opts=pulumi.ResourceOptions())

    graph = run_program(program)
    [secret] = graph.objects("Secret")
    assert all(graph.depends_on(r, secret) for r in graph.find("helm.sh/v3:Release"))


def test_the_docker_config_is_secret_text_that_is_refused_in_plain_text():
    config = {"belen:cluster": {"name": "x"}, **PULL}
    with pytest.raises(SettingsError) as caught:
        load_settings(StackConfig.from_strings(config), "x")
    assert caught.value.lines == ["belen:imagePullSecret: is stored in plain text — remove it from the stack file and "
                                  "set it with `pulumi config set --secret --path 'belen:imagePullSecret'`"]
    settings = load_settings(StackConfig.from_strings(config, frozenset(PULL)), "x")
    assert settings.images.docker_config == DOCKER_CONFIG, "JSON text stays text"
    assert "auths" not in repr(settings.images)


IMAGE_ERRORS = [
    ({"belen:images": {"registry": "https://harbor.home.arpa"}},
     "belen:images.registry: 'https://harbor.home.arpa' has a scheme; images are pulled by host, not URL"),
    ({"belen:images": {"registry": "Harbor Home/Mirror"}},
     "belen:images.registry: 'Harbor Home/Mirror' is not a registry host with an optional path"),
    ({"belen:images": {"registry": "harbor.home.arpa/Mirror"}}, "belen:images.registry: 'harbor.home.arpa/Mirror' is not"),
    ({"belen:images": {"registry": "harbor.home.arpa/"}}, "belen:images.registry: 'harbor.home.arpa/' is not"),
    ({"belen:images": {"registy": MIRROR}}, "belen:images.registy: unknown setting — did you mean 'registry'?"),
    ({"belen:images": {"pullSecret": "belen-image-pull"}},
     "belen:images.pullSecret: names a pull Secret but belen:imagePullSecret is not set"),
    ({"belen:images": {"pullSecret": "Bad_Name"}, **PULL}, "belen:images.pullSecret: 'Bad_Name' is not a valid Kubernetes name"),
    ({"belen:imagePullSecret": "dummy-secret-marker"},
     "belen:imagePullSecret: is not a Docker config.json with credentials under auths"),
    ({"belen:imagePullSecret": '{"auths": {}}'}, "belen:imagePullSecret: is not a Docker config.json"),
    ({"belen:images": ["x"]}, "belen:images: must be an object, got a list"),
]


@pytest.mark.parametrize("config, message", IMAGE_ERRORS)
def test_every_images_error_exits_2_with_its_key_path_and_no_traceback(tmp_path, config, message):
    stderr = render_failure(tmp_path, config, "homelab")
    assert message in stderr
    assert "dummy-secret-marker" not in stderr
