"""ExternalSecrets: the awaited operator release before every ClusterSecretStore, credentials that
stay secret, manifests that meet the pinned CRD, and every settings check through the render tool."""

import base64
import json

import jsonschema
import pytest

from components.errors import SettingsError
from components.settings import StackConfig, load_settings
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, render_failure, render_stack

HOMELAB_OUTPUTS = {"organization/belen/homelab": json.loads(
    (PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())}

# The stack snippets handed to the lead (/tmp/handoff/eso.md), applied as overrides so these tests
# do not depend on the stack files.
LOCAL = {"belen:externalSecrets": {"stores": [
    {"name": "demo", "provider": "fake", "data": [{"key": "greeting", "value": "hello from belen"}]}]}}
VAULT_STORE = {"name": "vault", "provider": "vault", "server": "https://vault.example.net:8200", "path": "secret",
               "version": "v2", "auth": {"method": "token"}}
HOMELAB = {"belen:externalSecrets": {"stores": [VAULT_STORE]},
           "belen:storeCredentials": {"vault": {"token": "dummy-vault-token"}}}
CA = kf.pair("belen-test-ca")["cert"]


def stores(*stores, credentials=None, **area):
    config = {"belen:externalSecrets": {"stores": list(stores), **area}}
    if credentials is not None:
        config["belen:storeCredentials"] = credentials
    return config


def spec_of(store):
    return store.inputs(show_secrets=True)["spec"]


# --- The pinned chart's CRD, as far as belen's manifests go ------------------------------------
# No PyPI package ships ESO's CRD schemas (cloudcoil has none for ESO), so this is a transcribed
# excerpt of external-secrets config/crds/bases/external-secrets.io_clustersecretstores.yaml
# (v1, @0014481e) and the Go types it is generated from (apis/externalsecrets/v1/
# secretstore_{types,vault_types,kubernetes_types,aws_types,fake_types}.go, apis/meta/v1/types.go).
# Objects belen writes are closed (additionalProperties: false) so a misspelt field fails here
# instead of being pruned by the API server.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
BYTES = {"type": "string", "pattern": r"^[A-Za-z0-9+/]*={0,2}$"}  # format: byte ([]byte): base64
SECRET_KEY_SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN},
    "namespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL},
    "key": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": r"^[-._a-zA-Z0-9]+$"}}}
SERVICE_ACCOUNT_SELECTOR = {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
    "name": {"type": "string"}, "namespace": {"type": "string", "pattern": DNS_LABEL},
    "audiences": {"type": "array", "items": {"type": "string"}}}}
VAULT = {"type": "object", "required": ["server"], "additionalProperties": False, "properties": {
    "server": {"type": "string"}, "path": {"type": "string"}, "version": {"enum": ["v1", "v2"]},
    "namespace": {"type": "string"}, "caBundle": BYTES, "caProvider": {"type": "object"}, "tls": {"type": "object"},
    "readYourWrites": {"type": "boolean"}, "forwardInconsistent": {"type": "boolean"}, "headers": {"type": "object"},
    "checkAndSet": {"type": "object"},
    "auth": {"type": "object", "additionalProperties": False, "properties": {
        "namespace": {"type": "string"}, "tokenSecretRef": SECRET_KEY_SELECTOR,
        "kubernetes": {"type": "object", "required": ["mountPath", "role"], "additionalProperties": False,
                       "properties": {"mountPath": {"type": "string"}, "role": {"type": "string"},
                                      "serviceAccountRef": SERVICE_ACCOUNT_SELECTOR, "secretRef": SECRET_KEY_SELECTOR}},
        **{m: {"type": "object"} for m in ("appRole", "ldap", "jwt", "cert", "iam", "userPass", "gcp")}}}}}
KUBERNETES = {"type": "object", "additionalProperties": False, "properties": {
    "server": {"type": "object", "additionalProperties": False, "properties": {
        "url": {"type": "string"}, "caBundle": BYTES, "caProvider": {"type": "object"}}},
    "auth": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False, "properties": {
        "token": {"type": "object", "additionalProperties": False, "properties": {"bearerToken": SECRET_KEY_SELECTOR}},
        "cert": {"type": "object", "additionalProperties": False,
                 "properties": {"clientCert": SECRET_KEY_SELECTOR, "clientKey": SECRET_KEY_SELECTOR}},
        "serviceAccount": SERVICE_ACCOUNT_SELECTOR}},
    "authRef": SECRET_KEY_SELECTOR,
    "remoteNamespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL}}}
AWS = {"type": "object", "required": ["region", "service"], "additionalProperties": False, "properties": {
    "service": {"enum": ["SecretsManager", "ParameterStore", "CertificateManager"]}, "region": {"type": "string"},
    "role": {"type": "string"},
    "auth": {"type": "object", "additionalProperties": False, "properties": {
        "secretRef": {"type": "object", "additionalProperties": False, "properties": {
            "accessKeyIDSecretRef": SECRET_KEY_SELECTOR, "secretAccessKeySecretRef": SECRET_KEY_SELECTOR,
            "sessionTokenSecretRef": SECRET_KEY_SELECTOR}},
        "jwt": {"type": "object", "additionalProperties": False,
                "properties": {"serviceAccountRef": SERVICE_ACCOUNT_SELECTOR}}}},
    **{f: {} for f in ("additionalRoles", "externalID", "sessionTags", "secretsManager", "transitiveTagKeys", "prefix")}}}
FAKE = {"type": "object", "required": ["data"], "additionalProperties": False, "properties": {
    "data": {"type": "array", "items": {"type": "object", "required": ["key", "value"], "additionalProperties": False,
                                        "properties": {"key": {"type": "string"}, "value": {"type": "string"},
                                                       "version": {"type": "string"}}}},
    "validationResult": {"type": "integer"}}}
CLUSTER_SECRET_STORE = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
        "apiVersion": {"const": "external-secrets.io/v1"}, "kind": {"const": "ClusterSecretStore"},
        "metadata": {"type": "object", "required": ["name"], "properties": {"name": {"pattern": DNS_SUBDOMAIN}}},
        "spec": {"type": "object", "required": ["provider"], "properties": {
            # "Only one provider may be set": minProperties/maxProperties 1.
            "provider": {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
                "vault": VAULT, "kubernetes": KUBERNETES, "aws": AWS, "fake": FAKE}}}}}}


REFERENCE_FIELDS = ("tokenSecretRef", "secretRef", "bearerToken", "clientCert", "clientKey", "caProvider", "authRef",
                    "accessKeyIDSecretRef", "secretAccessKeySecretRef", "sessionTokenSecretRef")


def secret_refs(value, path="spec"):
    """Every SecretKeySelector / CAProvider in a spec: fields ESO types as such, holding only scalars
    (aws.auth.secretRef is a mapping of selectors, not one itself)."""
    if isinstance(value, dict):
        for key, item in value.items():
            is_reference = isinstance(item, dict) and not any(isinstance(v, dict) for v in item.values())
            if key in REFERENCE_FIELDS and is_reference:
                yield f"{path}.{key}", item
            yield from secret_refs(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_refs(item, f"{path}[{index}]")


def check_against_crd(store):
    manifest = store.inputs(show_secrets=True)
    jsonschema.validate(manifest, CLUSTER_SECRET_STORE)
    # ValidateSecretSelector (runtime/esutils/utils.go): "cluster scope requires namespace".
    for path, ref in secret_refs(manifest["spec"]):
        assert ref.get("namespace"), f"{path} has no namespace: a ClusterSecretStore cannot resolve it"
    for holder in (manifest["spec"]["provider"].get("vault", {}),
                   manifest["spec"]["provider"].get("kubernetes", {}).get("server", {})):
        if "caBundle" in holder:
            assert base64.b64decode(holder["caBundle"], validate=True).startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_crd_check_can_fail():
    graph = render_stack("local", LOCAL)
    good = graph.obj("ClusterSecretStore", "demo")
    check_against_crd(good)
    bad = good.inputs(show_secrets=True)
    bad["spec"]["provider"]["vault"] = {"server": "https://v"}  # a second provider
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CLUSTER_SECRET_STORE)
    bad["spec"]["provider"] = {"fake": {"data": [{"key": "a", "vaule": "typo"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CLUSTER_SECRET_STORE)


# --- Graph ---------------------------------------------------------------------------------------

def test_operator_release_is_pinned_awaited_and_installs_crds_and_the_webhook():
    graph = render_stack("local", LOCAL)
    release = graph.one("helm.sh/v3:Release", "local-external-secrets-operator")
    inputs = release.inputs()
    assert inputs["chart"] == "external-secrets" and inputs["version"] == "2.12.0"
    assert inputs["repositoryOpts"]["repo"] == "https://charts.external-secrets.io"
    assert inputs["name"] == "external-secrets" and inputs["namespace"] == "external-secrets"
    assert inputs["skipAwait"] is False
    assert inputs["values"] == {"installCRDs": True, "crds": {"createClusterSecretStore": True},
                                "webhook": {"create": True}, "certController": {"create": True}}
    assert graph.depends_on(release, graph.obj("Namespace", "external-secrets"))


@pytest.mark.parametrize("stack, config", [("local", LOCAL), ("homelab", HOMELAB), ("cloud", HOMELAB)])
def test_every_store_depends_on_the_release_and_waits_until_ready(stack, config):
    graph = render_stack(stack, config, stack_outputs=HOMELAB_OUTPUTS)
    release = graph.one("helm.sh/v3:Release", f"{stack}-external-secrets-operator")
    [store] = graph.objects("ClusterSecretStore")
    manifest = store.inputs()
    assert store.type == "kubernetes:external-secrets.io/v1:ClusterSecretStore"
    assert graph.depends_on(store, release)
    assert manifest["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready",
                                                   "pulumi.com/timeoutSeconds": "300"}
    assert "namespace" not in manifest["metadata"], "ClusterSecretStore is cluster-scoped"
    component = graph.one("belen:index:ExternalSecrets")
    assert store.parent == release.parent == component.urn
    assert store.provider == graph.one("pulumi:providers:kubernetes").urn
    check_against_crd(store)


def test_the_fake_store_of_the_local_stack():
    graph = render_stack("local", LOCAL)
    assert spec_of(graph.obj("ClusterSecretStore", "demo")) == {
        "provider": {"fake": {"data": [{"key": "greeting", "value": "hello from belen"}]}}}
    assert not [s for s in graph.objects("Secret") if s.inputs()["metadata"]["namespace"] == "external-secrets"]
    assert graph.output("secretStores").value == {"demo": "fake"}


def test_credentials_become_a_secret_the_store_references_by_name():
    graph = render_stack("homelab", HOMELAB)
    secret = graph.obj("Secret", "vault-credentials")
    store = graph.obj("ClusterSecretStore", "vault")
    assert secret.is_secret("stringData")
    assert secret.inputs()["stringData"] == "[secret]"
    assert secret.inputs(show_secrets=True)["stringData"] == {"token": "dummy-vault-token"}
    assert secret.inputs()["metadata"]["namespace"] == "external-secrets"
    assert graph.depends_on(secret, graph.obj("Namespace", "external-secrets"))
    assert graph.depends_on(store, secret)
    assert spec_of(store)["provider"]["vault"] == {
        "server": "https://vault.example.net:8200", "path": "secret", "version": "v2",
        "auth": {"tokenSecretRef": {"name": "vault-credentials", "namespace": "external-secrets", "key": "token"}}}
    rendered = json.dumps([r.to_json() for r in graph.resources])
    assert "dummy-vault-token" not in rendered
    assert graph.output("secretStores").value == {"vault": "vault"}


def test_stores_render_identically_on_homelab_and_cloud():
    def eso(stack):
        graph = render_stack(stack, HOMELAB, stack_outputs=HOMELAB_OUTPUTS)
        return [(r.inputs(), r.secret_paths) for r in graph.objects("ClusterSecretStore") + graph.objects("Secret")
                if (r.inputs()["metadata"].get("namespace") in (None, "external-secrets"))]
    homelab = eso("homelab")
    assert len(homelab) == 2 and homelab == eso("cloud")


def test_wait_ready_off_and_a_custom_timeout():
    graph = render_stack("local", stores(
        {"name": "slow", "provider": "fake", "data": [{"key": "a", "value": "b"}], "readyTimeoutSeconds": 900},
        {"name": "nowait", "provider": "fake", "data": [{"key": "a", "value": "b"}], "waitReady": False}))
    slow, nowait = graph.obj("ClusterSecretStore", "slow"), graph.obj("ClusterSecretStore", "nowait")
    assert slow.inputs()["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "900"
    assert "annotations" not in nowait.inputs()["metadata"]
    assert graph.output("secretStores").value == {"slow": "fake", "nowait": "fake"}


def test_a_custom_namespace_is_used_for_the_release_secrets_and_references():
    graph = render_stack("homelab", {**HOMELAB, "belen:externalSecrets": {"namespace": "eso", "stores": [VAULT_STORE]}})
    assert graph.one("helm.sh/v3:Release", "homelab-external-secrets-operator").inputs()["namespace"] == "eso"
    assert graph.obj("Secret", "vault-credentials").inputs()["metadata"]["namespace"] == "eso"
    ref = spec_of(graph.obj("ClusterSecretStore", "vault"))["provider"]["vault"]["auth"]["tokenSecretRef"]
    assert ref["namespace"] == "eso"


PROVIDERS = [
    pytest.param(
        {"provider": "vault", "server": "http://vault.vault:8200", "version": "v1", "caBundle": CA,
         "auth": {"method": "kubernetes", "role": "eso", "serviceAccount": {"name": "reader"}}}, None,
        {"vault": {"server": "http://vault.vault:8200", "version": "v1",
                   "caBundle": base64.b64encode(CA.encode()).decode(),
                   "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso",
                                           "serviceAccountRef": {"name": "reader", "namespace": "external-secrets"}}}}},
        id="vault-kubernetes-auth"),
    pytest.param(
        {"provider": "vault", "server": "https://v:8200", "auth": {"method": "kubernetes", "role": "r", "mountPath": "k3s"}},
        None, {"vault": {"server": "https://v:8200", "version": "v2",
                         "auth": {"kubernetes": {"mountPath": "k3s", "role": "r"}}}},
        id="vault-controller-token"),
    pytest.param(
        {"provider": "kubernetes", "server": "https://cloud.example.com:6443", "caBundle": CA,
         "remoteNamespace": "apps", "auth": {"method": "token"}}, {"token": "dummy-sa-token"},
        {"kubernetes": {"server": {"url": "https://cloud.example.com:6443",
                                   "caBundle": base64.b64encode(CA.encode()).decode()},
                        "remoteNamespace": "apps",
                        "auth": {"token": {"bearerToken": {"name": "s-credentials", "namespace": "external-secrets",
                                                           "key": "token"}}}}},
        id="kubernetes-token"),
    pytest.param(
        {"provider": "kubernetes", "server": "https://k:6443", "auth": {"method": "cert"}},
        {"clientCert": "dummy-cert", "clientKey": "dummy-key"},
        {"kubernetes": {"server": {"url": "https://k:6443"}, "remoteNamespace": "default", "auth": {"cert": {
            "clientCert": {"name": "s-credentials", "namespace": "external-secrets", "key": "clientCert"},
            "clientKey": {"name": "s-credentials", "namespace": "external-secrets", "key": "clientKey"}}}}},
        id="kubernetes-cert"),
    pytest.param(
        {"provider": "kubernetes", "server": "https://k:6443",
         "auth": {"method": "serviceAccount", "serviceAccount": {"name": "remote-reader", "namespace": "apps"}}}, None,
        {"kubernetes": {"server": {"url": "https://k:6443"}, "remoteNamespace": "default",
                        "auth": {"serviceAccount": {"name": "remote-reader", "namespace": "apps"}}}},
        id="kubernetes-service-account"),
    pytest.param(
        {"provider": "aws", "service": "ParameterStore", "region": "eu-west-1",
         "role": "arn:aws:iam::123456789012:role/eso", "auth": {"method": "accessKey"}},
        {"accessKeyId": "dummy-id", "secretAccessKey": "dummy-secret", "sessionToken": "dummy-session"},
        {"aws": {"service": "ParameterStore", "region": "eu-west-1", "role": "arn:aws:iam::123456789012:role/eso",
                 "auth": {"secretRef": {
                     "accessKeyIDSecretRef": {"name": "s-credentials", "namespace": "external-secrets", "key": "accessKeyId"},
                     "secretAccessKeySecretRef": {"name": "s-credentials", "namespace": "external-secrets",
                                                  "key": "secretAccessKey"},
                     "sessionTokenSecretRef": {"name": "s-credentials", "namespace": "external-secrets",
                                               "key": "sessionToken"}}}}},
        id="aws-access-key"),
    pytest.param(
        {"provider": "aws", "service": "SecretsManager", "region": "us-east-1",
         "auth": {"method": "serviceAccount", "serviceAccount": {"name": "eso-irsa"}}}, None,
        {"aws": {"service": "SecretsManager", "region": "us-east-1",
                 "auth": {"jwt": {"serviceAccountRef": {"name": "eso-irsa", "namespace": "external-secrets"}}}}},
        id="aws-irsa"),
    pytest.param(
        {"provider": "aws", "service": "SecretsManager", "region": "us-east-1", "auth": {"method": "sdk"}}, None,
        {"aws": {"service": "SecretsManager", "region": "us-east-1"}}, id="aws-sdk-chain"),
    pytest.param(
        {"provider": "fake", "data": [{"key": "a", "value": 1, "version": "v1"}, {"key": "a", "value": "2"}]}, None,
        {"fake": {"data": [{"key": "a", "value": "1", "version": "v1"}, {"key": "a", "value": "2"}]}}, id="fake"),
    pytest.param(
        {"provider": "gcpsm", "spec": {"projectID": "p", "auth": {"secretRef": {"secretAccessKeySecretRef": {
            "name": "s-credentials", "namespace": "external-secrets", "key": "sa.json"}}}}}, {"sa.json": "{}"},
        {"gcpsm": {"projectID": "p", "auth": {"secretRef": {"secretAccessKeySecretRef": {
            "name": "s-credentials", "namespace": "external-secrets", "key": "sa.json"}}}}}, id="raw-gcpsm"),
]


@pytest.mark.parametrize("settings, credentials, provider", PROVIDERS)
def test_every_provider_renders_what_the_crd_requires(settings, credentials, provider):
    config = stores({"name": "s", **settings}, credentials=credentials and {"s": credentials})
    graph = render_stack("local", config)
    store = graph.obj("ClusterSecretStore", "s")
    assert spec_of(store) == {"provider": provider}
    check_against_crd(store)
    secrets = [r for r in graph.objects("Secret") if r.inputs()["metadata"]["name"] == "s-credentials"]
    if credentials:
        [secret] = secrets
        assert secret.is_secret("stringData") and secret.inputs(True)["stringData"] == credentials
        assert graph.depends_on(store, secret)
    else:
        assert not secrets


def test_settings_never_show_credentials():
    settings = load_settings(StackConfig({
        "belen:cluster": {"name": "x"}, **HOMELAB}, {"belen:storeCredentials"}), "x")
    [store] = settings.external_secrets.stores
    assert store.credentials == {"token": "dummy-vault-token"}
    assert "dummy-vault-token" not in repr(settings)


def test_credentials_in_plain_text_are_refused():
    with pytest.raises(SettingsError) as caught:
        load_settings(StackConfig({"belen:cluster": {"name": "x"}, **HOMELAB}), "x")
    assert caught.value.lines == ["belen:storeCredentials: is stored in plain text — remove it from the stack file "
                                  "and set it with `pulumi config set --secret --path "
                                  "'belen:storeCredentials.vault.token'`"]


# --- Every settings check, through the render tool -----------------------------------------------

def eso_problems(stderr):
    """This area's problem lines (a stack may report others, e.g. secrets of areas not set here)."""
    return [line for line in stderr.splitlines() if line.startswith(("belen:externalSecrets", "belen:storeCredentials"))]


def test_done_when_github_unknown_provider_and_missing_credentials_fail_with_exit_2(tmp_path):
    stderr = render_failure(tmp_path, stores(
        {"name": "gh", "provider": "github", "appID": 1},
        {"name": "hv", "provider": "hashicorp-vault"},
        VAULT_STORE))
    assert eso_problems(stderr) == [
        "belen:externalSecrets.stores[0].provider: github is write-only (ESO can only push secrets to it with a "
        "PushSecret, never read them), so every ExternalSecret using this store would fail — keep secrets that live "
        "in Git as SealedSecrets (belen:sealedSecrets) and read the rest from a readable provider",
        "belen:externalSecrets.stores[1].provider: 'hashicorp-vault' is not an ESO provider — use vault, kubernetes, "
        "aws, fake, or another ESO provider key (e.g. gcpsm, azurekv) with a raw spec",
        "belen:storeCredentials.vault.token: is required — store 'vault' uses vault token auth: set it with "
        "`pulumi config set --secret --path 'belen:storeCredentials.vault.token'`",
    ]


FAKE_STORE = {"name": "f", "provider": "fake", "data": [{"key": "a", "value": "b"}]}
VAULT_K8S = {"name": "vk", "provider": "vault", "server": "https://v:8200", "auth": {"method": "kubernetes", "role": "r"}}


@pytest.mark.parametrize("config, message", [
    (stores({"name": "vault", "provider": "vaultt"}),
     "belen:externalSecrets.stores[0].provider: 'vaultt' is not an ESO provider (did you mean 'vault'?)"),
    (stores({"provider": "fake", "data": [{"key": "a", "value": "b"}]}), "belen:externalSecrets.stores[0].name: is required"),
    (stores({"name": "Vault_1", "provider": "fake", "data": [{"key": "a", "value": "b"}]}),
     "belen:externalSecrets.stores[0].name: 'Vault_1' is not a valid Kubernetes name"),
    (stores(FAKE_STORE, FAKE_STORE), "belen:externalSecrets.stores[1].name: repeats the store name 'f'"),
    (stores({"name": "x"}), "belen:externalSecrets.stores[0].provider: is required — use vault, kubernetes, aws, fake"),
    (stores({**FAKE_STORE, "colour": "red"}), "belen:externalSecrets.stores[0].colour: unknown setting"),
    (stores({**FAKE_STORE, "waitReady": False, "readyTimeoutSeconds": 60}),
     "belen:externalSecrets.stores[0].readyTimeoutSeconds: has no effect with waitReady: false"),
    (stores({**FAKE_STORE, "readyTimeoutSeconds": 5}), "belen:externalSecrets.stores[0].readyTimeoutSeconds: 5 is out of range"),
    (stores(FAKE_STORE, namespace="kube-system"),
     "belen:externalSecrets.namespace: 'kube-system' is a namespace every cluster has, not one of the operator's own"),
    ({"belen:externalSecrets": {"stores": {"name": "f"}}}, "belen:externalSecrets.stores: must be a list"),
    (stores({"name": "f", "provider": "fake"}), "belen:externalSecrets.stores[0].data: is required"),
    (stores({"name": "f", "provider": "fake", "data": []}), "belen:externalSecrets.stores[0].data: is empty"),
    (stores({"name": "f", "provider": "fake", "data": [{"key": "a"}]}),
     "belen:externalSecrets.stores[0].data[0].value: is required"),
    (stores({"name": "f", "provider": "fake", "data": [{"key": "a", "value": "b"}, {"key": "a", "value": "c"}]}),
     "belen:externalSecrets.stores[0].data[1]: repeats key 'a'"),
    (stores({"name": "v", "provider": "vault", "auth": {"method": "token"}}, credentials={"v": {"token": "t"}}),
     "belen:externalSecrets.stores[0].server: is required"),
    (stores({**VAULT_K8S, "server": "vault:8200"}), "belen:externalSecrets.stores[0].server: 'vault:8200' is not an http or https URL"),
    (stores({**VAULT_K8S, "path": "secret/data"}),
     "belen:externalSecrets.stores[0].path: 'secret/data' ends with /data, which ESO adds itself for KV v2"),
    (stores({**VAULT_K8S, "version": "v3"}), "belen:externalSecrets.stores[0].version: 'v3' is not one of v1, v2"),
    (stores({**VAULT_K8S, "caBundle": "not a cert"}),
     "belen:externalSecrets.stores[0].caBundle: is not a PEM certificate (no BEGIN CERTIFICATE block)"),
    (stores({**VAULT_K8S, "auth": None}), "belen:externalSecrets.stores[0].auth: is required — set auth.method to token"),
    (stores({**VAULT_K8S, "auth": {"method": "approle"}}),
     "belen:externalSecrets.stores[0].auth.method: 'approle' is not one of token, kubernetes"),
    (stores({**VAULT_K8S, "auth": {"method": "kubernetes"}}), "belen:externalSecrets.stores[0].auth.role: is required"),
    (stores({**VAULT_K8S, "auth": {"method": "kubernetes", "role": "r", "serviceAccount": {"namespace": "x"}}}),
     "belen:externalSecrets.stores[0].auth.serviceAccount.name: is required"),
    (stores({"name": "k", "provider": "kubernetes", "server": "http://k:6443", "auth": {"method": "serviceAccount"}}),
     "belen:externalSecrets.stores[0].server: 'http://k:6443' is not an https URL"),
    (stores({"name": "k", "provider": "kubernetes", "server": "https://k:6443", "auth": {"method": "serviceAccount"}}),
     "belen:externalSecrets.stores[0].auth.serviceAccount: is required"),
    (stores({"name": "k", "provider": "kubernetes", "server": "https://k", "remoteNamespace": "A", "auth": {"method": "x"}}),
     "belen:externalSecrets.stores[0].remoteNamespace: 'A' is not a DNS label"),
    (stores({"name": "a", "provider": "aws", "service": "KMS", "region": "eu-west-1", "auth": {"method": "sdk"}}),
     "belen:externalSecrets.stores[0].service: 'KMS' is not one of SecretsManager, ParameterStore"),
    (stores({"name": "a", "provider": "aws", "service": "SecretsManager", "region": "Frankfurt", "auth": {"method": "sdk"}}),
     "belen:externalSecrets.stores[0].region: 'Frankfurt' is not an AWS region"),
    (stores({"name": "a", "provider": "aws", "service": "SecretsManager", "region": "eu-west-1", "role": "eso",
             "auth": {"method": "sdk"}}), "belen:externalSecrets.stores[0].role: 'eso' is not an IAM role ARN"),
    (stores({"name": "g", "provider": "gcpsm"}), "belen:externalSecrets.stores[0].spec: is required — write the ESO "
                                                  "settings of gcpsm (what goes under spec.provider.gcpsm)"),
    (stores({"name": "g", "provider": "gcpsm", "spec": {"gcpsm": {"projectID": "p"}}}),
     "belen:externalSecrets.stores[0].spec.gcpsm: nests the gcpsm settings one level too deep"),
    (stores({"name": "g", "provider": "gcpsm", "spec": {"auth": {"secretRef": {"secretAccessKeySecretRef": {
        "name": "g-credentials", "key": "sa.json"}}}}}),
     "belen:externalSecrets.stores[0].spec.auth.secretRef.secretAccessKeySecretRef: is a reference without a "
     "namespace, which a ClusterSecretStore cannot resolve — add namespace (credentials from belen:storeCredentials "
     "are in namespace external-secrets)"),
    (stores({"name": "g", "provider": "gcpsm", "spec": {"projectID": "p"}}, credentials={"g": {"sa json": "x"}}),
     "belen:storeCredentials.g.sa json: is not a valid Secret data key"),
    (stores(FAKE_STORE, credentials={"vault": {"token": "t"}}),
     "belen:storeCredentials.vault: no store named 'vault' in belen:externalSecrets.stores"),
    (stores(FAKE_STORE, credentials={"f": {"token": "t"}}),
     "belen:storeCredentials.f: is set but store 'f' uses the fake provider, which reads no credentials"),
    (stores(VAULT_K8S, credentials={"vk": {"token": "t"}}),
     "belen:storeCredentials.vk: is set but store 'vk' uses vault kubernetes auth, which reads no credentials"),
    (stores(VAULT_STORE, credentials={"vault": {"token": "t", "tokn": "t"}}),
     "belen:storeCredentials.vault.tokn: unknown setting — did you mean 'token'?"),
    (stores(VAULT_STORE, credentials={"vault": {"token": 42}}),
     "belen:storeCredentials.vault.token: must be a string, got a number"),
    (stores(VAULT_STORE, credentials={"vault": {"token": "  "}}), "belen:storeCredentials.vault.token: is empty"),
    (stores(VAULT_STORE, credentials={"vault": "s3cr3t-token"}), "belen:storeCredentials.vault: must be an object"),
    (stores({"name": "a", "provider": "aws", "service": "SecretsManager", "region": "eu-west-1",
             "auth": {"method": "accessKey"}}, credentials={"a": {"accessKeyId": "id"}}),
     "belen:storeCredentials.a.secretAccessKey: is required — store 'a' uses aws accessKey auth"),
    (stores({"name": "k", "provider": "kubernetes", "server": "https://k", "auth": {"method": "cert"}},
            credentials={"k": {"clientCert": "c"}}), "belen:storeCredentials.k.clientKey: is required"),
    (stores({"name": "x" * 250, "provider": "vault", "server": "https://v", "auth": {"method": "token"}}),
     f"belen:externalSecrets.stores[0].name: is too long to name its credentials Secret {'x' * 250}-credentials"),
])
def test_settings_errors(tmp_path, config, message):
    stderr = render_failure(tmp_path, config)
    assert message in stderr
    for secret in ("s3cr3t-token", "dummy"):
        assert secret not in stderr


def test_every_problem_is_reported_at_once_with_key_paths(tmp_path):
    stderr = render_failure(tmp_path, stores(
        {"name": "v", "provider": "vault", "server": "vault", "auth": {"method": "token"}},
        {"name": "gh", "provider": "github"}))
    assert [line.split(":")[1] for line in eso_problems(stderr)] == [
        "externalSecrets.stores[0].server", "externalSecrets.stores[1].provider"]
