"""Flux: operator + FluxInstance, the GitOps source with secret credentials, Kustomizations that
start only after the platform, the webhook receiver, and every settings check."""

import json

import pytest
import yaml
from cloudcoil.models.fluxcd.kustomize.v1 import Kustomization
from cloudcoil.models.fluxcd.notification.v1 import Receiver
from cloudcoil.models.fluxcd.source.v1 import GitRepository

from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, render_failure, render_stack
from tests.schemas import strict_validate

HOMELAB_OUTPUTS = {"organization/belen/homelab": json.loads(
    (PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())}


def flux(**settings):
    return {"belen:flux": {"git": {"url": "https://github.com/example/gitops.git"}, **settings}}


def render_stack_flux(stack):
    return yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]["belen:flux"]


def platform_pieces(graph):
    keys = [r for r in graph.objects("Secret")
            if "sealedsecrets.bitnami.com/sealed-secrets-key" in (r.inputs()["metadata"].get("labels") or {})]
    releases = [r for r in graph.find("helm.sh/v3:Release") if r.inputs()["name"] != "flux-operator"]
    return (keys + releases + graph.objects("ClusterSecretStore") + graph.objects("ClusterIssuer")
            + graph.objects("Certificate"))


@pytest.mark.parametrize("stack", ["homelab", "cloud", "local"])
def test_nothing_syncs_before_the_platform_is_ready(stack):
    graph = render_stack(stack, stack_outputs=HOMELAB_OUTPUTS)
    pieces = platform_pieces(graph)
    assert any(r.type.endswith("Release") for r in pieces) and any(r.type.endswith("Secret") for r in pieces)
    instance, source = graph.obj("FluxInstance", "flux"), graph.obj("GitRepository", "flux-system")
    for sync in graph.objects("Kustomization"):
        assert graph.depends_on(sync, instance) and graph.depends_on(sync, source)
        for piece in pieces:
            assert graph.depends_on(sync, piece), f"{sync.name} does not wait for {piece.name}"


@pytest.mark.parametrize("stack", ["homelab", "cloud", "local"])
def test_the_source_fetches_while_the_platform_comes_up(stack):
    """The GitRepository applies nothing: it waits for its CRD (the FluxInstance) and credentials only,
    so Flux's first fetch is done by the time the Kustomizations start."""
    graph = render_stack(stack, stack_outputs=HOMELAB_OUTPUTS)
    source = graph.obj("GitRepository", "flux-system")
    assert graph.depends_on(source, graph.obj("FluxInstance", "flux"))
    if "secretRef" in source.inputs()["spec"]:
        assert graph.depends_on(source, graph.obj("Secret", "flux-system-git-auth"))
    waits_for = [piece.name for piece in platform_pieces(graph) if graph.depends_on(source, piece)]
    assert not waits_for, f"the GitRepository waits for {waits_for}"


def test_flux_is_installed_by_the_operator_and_a_flux_instance():
    graph = render_stack("local")
    operator = graph.one("helm.sh/v3:Release", "local-flux-operator").inputs()
    assert operator["chart"] == "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
    assert operator["version"] == "0.61.0" and operator["namespace"] == "flux-system"
    instance = graph.obj("FluxInstance", "flux")
    obj = instance.inputs()
    assert obj["apiVersion"] == "fluxcd.controlplane.io/v1" and obj["metadata"]["namespace"] == "flux-system"
    assert obj["spec"]["distribution"]["version"] == "2.9.6" and obj["spec"]["distribution"]["registry"] == "ghcr.io/fluxcd"
    assert "sync" not in obj["spec"], "belen creates the sync objects itself, after the platform"
    assert obj["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert graph.depends_on(instance, graph.one("helm.sh/v3:Release", "local-flux-operator"))


def test_source_and_sync_objects_match_the_flux_schemas():
    graph = render_stack("homelab", {"belen:flux": {
        "git": {"url": "git@github.com:example/gitops.git", "branch": "prod", "interval": "5m"},
        "substitute": {"domain": "example.org", "replicas": 3},
        "kustomizations": [{"name": "infra", "path": "./infra"}, {"name": "apps", "path": "./apps", "dependsOn": ["infra"]}],
        "receiver": {}}})
    source = strict_validate(GitRepository, graph.obj("GitRepository", "flux-system").inputs())
    assert source.spec.url == "ssh://git@github.com/example/gitops.git", "scp-like URLs are rewritten for Flux"
    assert (source.spec.ref.branch, source.spec.interval) == ("prod", "5m")
    assert source.spec.secret_ref.name == "flux-system-git-auth"
    main = strict_validate(Kustomization, graph.obj("Kustomization", "flux-system").inputs())
    assert main.spec.path == "./clusters/homelab" and main.spec.prune is True
    assert main.spec.post_build.substitute == {"cluster_name": "homelab", "environment": "homelab",
                                               "domain": "example.org", "replicas": "3"}
    apps = strict_validate(Kustomization, graph.obj("Kustomization", "apps").inputs())
    assert [d.name for d in apps.spec.depends_on] == ["infra"]
    receiver = strict_validate(Receiver, graph.obj("Receiver", "github").inputs())
    assert receiver.spec.type == "github" and receiver.spec.secret_ref.name == "flux-webhook-token"
    for kustomization in graph.objects("Kustomization"):
        assert kustomization.retain_on_delete, "destroying belen must not prune every app"


def test_the_strict_schema_check_can_fail():
    graph = render_stack("local")
    obj = graph.obj("Kustomization", "flux-system").inputs()
    obj["spec"]["postbuild"] = obj["spec"].pop("postBuild")
    with pytest.raises(AssertionError, match="Kustomization.spec.postbuild"):
        strict_validate(Kustomization, obj)


def test_ssh_credentials_become_a_secret_the_source_references():
    graph = render_stack("homelab")
    secret = graph.obj("Secret", "flux-system-git-auth")
    assert secret.is_secret("stringData")
    data = secret.inputs(show_secrets=True)["stringData"]
    assert set(data) == {"identity", "known_hosts"} and data["identity"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert secret.inputs()["metadata"]["namespace"] == "flux-system"
    assert graph.obj("GitRepository", "flux-system").inputs()["spec"]["secretRef"] == {"name": "flux-system-git-auth"}


def test_https_credentials_and_public_repositories():
    graph = render_stack("local", {**flux(), "belen:gitAuth": {"username": "git", "password": "token-123"}})
    secret = graph.obj("Secret", "flux-system-git-auth")
    assert secret.inputs(True)["stringData"] == {"username": "git", "password": "token-123"}
    assert secret.is_secret("stringData")
    public = render_stack("local")
    assert not public.find("core/v1:Secret", "local-flux-git-auth")
    assert "secretRef" not in public.obj("GitRepository", "flux-system").inputs()["spec"]


def test_plain_http_repositories_warn_and_never_carry_a_password(tmp_path):
    graph = render_stack("local", {"belen:flux": {"git": {"url": "http://git.home.arpa/gitops.git"}}})
    assert graph.obj("GitRepository", "flux-system").inputs()["spec"]["url"] == "http://git.home.arpa/gitops.git"
    assert any("belen:flux.git.url: http://git.home.arpa/gitops.git is unauthenticated plain text" in w
               for w in graph.run.warnings)
    stderr = render_failure(tmp_path, {"belen:flux": {"git": {"url": "http://git.home.arpa/gitops.git"}},
                                       "belen:gitAuth": {"username": "git", "password": "token-123"}})
    assert "belen:gitAuth.password: would be sent in plain text: belen:flux.git.url is http://" in stderr
    assert "token-123" not in stderr


def test_receiver_token_is_generated_and_a_secret_output():
    graph = render_stack("homelab")
    password = graph.one("random:index/randomPassword:RandomPassword")
    secret = graph.obj("Secret", "flux-webhook-token")
    assert graph.depends_on(secret, password) and secret.is_secret("stringData")
    token = graph.output("fluxWebhookToken")
    assert not token.known  # generated at deployment
    local = render_stack("local")
    assert "fluxWebhookToken" not in local.run.outputs and not local.find("RandomPassword")


@pytest.mark.parametrize("version", ["2.9.5", "2.9.x", "2.x", ">=2.9.0 <2.10.0", "~2.9"])
def test_flux_version_is_what_the_instance_asks_for(version):
    graph = render_stack("local", {"belen:flux": {**render_stack_flux("local"), "version": version}})
    assert graph.obj("FluxInstance", "flux").inputs()["spec"]["distribution"]["version"] == version


def test_outputs():
    graph = render_stack("homelab")
    assert graph.output("fluxSource").value == "ssh://git@github.com/example/homelab-gitops.git"
    assert graph.output("fluxBranch").value == "main"
    assert graph.output("fluxPath").value == "./clusters/homelab"
    assert graph.output("fluxKustomizations").value == ["flux-system"]


@pytest.mark.parametrize("config, message", [
    (flux(git={"url": "github.com/x/y"}),
     "belen:flux.git.url: 'github.com/x/y' is not an https://, http://, ssh:// or git@host:path URL"),
    (flux(git={}), "belen:flux.git.url: is required"),
    (flux(git={"url": "ssh://git@github.com/x/y"}), "belen:gitAuth: an SSH repository URL needs SSH credentials"),
    (flux(git={"url": "https://github.com/x/y", "interval": "often"}), "belen:flux.git.interval: 'often' is not a duration"),
    (flux(path="../other"), "belen:flux.path: '../other' leaves the repository"),
    (flux(substitute={"cluster_name": "x"}), "belen:flux.substitute.cluster_name: is set by belen from belen:cluster"),
    (flux(substitute={"my-var": "x"}), "belen:flux.substitute.my-var: is not a variable name"),
    (flux(kustomizations=[{"name": "apps", "path": "./apps", "dependsOn": ["infra"]}]),
     "belen:flux.kustomizations[0].dependsOn: names unknown Kustomization 'infra'"),
    (flux(kustomizations=[{"name": "a", "path": "./a", "dependsOn": ["b"]}, {"name": "b", "path": "./b", "dependsOn": ["a"]}]),
     "belen:flux.kustomizations: dependsOn forms a cycle: a → b → a"),
    (flux(kustomizations=[{"name": "a", "path": "./a"}, {"name": "a", "path": "./b"}]),
     "belen:flux.kustomizations[1].name: 'a' is used twice"),
    (flux(kustomizations=[{"name": "flux-system", "path": "./a"}]),
     "belen:flux.kustomizations[0].name: 'flux-system' is used twice"),
    (flux(gitt={}), "belen:flux.gitt: unknown setting — did you mean 'git'?"),
    (flux(version="latest"), "belen:flux.version: 'latest' is not a Flux 2 version or semver range"),
    (flux(version="1.9.x"), "belen:flux.version: '1.9.x' is not a Flux 2 version or semver range"),
    (flux(version=">=2.9.0 <"), "belen:flux.version: '>=2.9.0 <' is not a Flux 2 version or semver range"),
    ({**flux(git={"url": "git@github.com:x/y"}), "belen:gitAuth": {"identity": "not a key", "knownHosts": "h"}},
     "belen:gitAuth.identity: is not a private key in OpenSSH or PEM form"),
    ({**flux(git={"url": "git@github.com:x/y"}), "belen:gitAuth": {"identity": kf.pair("id")["key"]}},
     "belen:gitAuth.knownHosts: is required with an SSH identity"),
    ({**flux(), "belen:gitAuth": {"username": "git"}}, "belen:gitAuth.password: is required for HTTPS credentials"),
    ({**flux(), "belen:gitAuth": {"identity": kf.pair("id")["key"], "knownHosts": "h"}},
     "belen:gitAuth.identity: is an SSH key but belen:flux.git.url is https://"),
    ({**flux(), "belen:gitAuth": {}}, "belen:gitAuth: holds no credentials"),
])
def test_flux_settings_errors(tmp_path, config, message):
    stderr = render_failure(tmp_path, config)
    assert message in stderr
    assert "BEGIN" not in stderr
