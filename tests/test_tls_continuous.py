"""dev/rct/prd in continuous mode: a token Secret, a ClusterSecretStore and kubernetes.io/tls
ExternalSecrets instead of copies, in the right order, against the ESO CRD; the switch between modes
never leaves a namespace without its Secret; every failure through the render tool."""

import base64
import copy
import json

import jsonschema
import pytest

from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, render_cli, render_failure, render_stack, write_json
from tests.test_external_secrets import CLUSTER_SECRET_STORE, DNS_LABEL, DNS_SUBDOMAIN, check_against_crd
from tests.test_tls_readers import render_ops_with_tokens

OPS = "organization/belen/ops"
OPS_OUTPUTS = json.loads((PROJECT_DIR / "tests/stack-outputs/organization~belen~ops.json").read_text())
EXAMPLE = PROJECT_DIR / "docs/examples/dev-continuous.yaml"
CERTIFICATES = {"homarr-dev": {"namespaces": ["homarr", "dashboards"]},
                "headlamp-dev": {"namespaces": ["headlamp"], "secretName": "headlamp-cert"}}


def mirror(mode="continuous", certificates=CERTIFICATES, eso=True, **extra):
    config = {"belen:tls": {"mirror": {"fromStack": OPS, "mode": mode, "certificates": certificates, **extra}}}
    return {**config, "belen:externalSecrets": {}} if eso else config


def outputs(**changes):
    """ops' outputs (tests/stack-outputs), with `changes` over them."""
    return {OPS: {**copy.deepcopy(OPS_OUTPUTS), **changes}}


def dev(config=None, stack_outputs=None):
    return render_stack("dev", config or mirror(), stack_outputs=stack_outputs or outputs())


def external_secrets(graph):
    return {(r.inputs()["metadata"]["namespace"], r.inputs()["metadata"]["name"]): r for r in graph.objects("ExternalSecret")}


def copies(graph):
    return {(r.inputs()["metadata"]["namespace"], r.inputs()["metadata"]["name"]): r for r in graph.objects("Secret")
            if "belen.io/certificate" in (r.inputs()["metadata"].get("labels") or {})}


# --- The pinned ESO's CRDs, as far as belen's manifests go ---------------------------------------
# A transcribed excerpt of external-secrets config/crds/bases/external-secrets.io_externalsecrets.yaml
# and _clustersecretstores.yaml (v1) at v2.9.0, the tag closest to chart 2.12.0 (apis/externalsecrets/
# v1/externalsecret_types.go, secretstore_types.go). What belen writes is closed (additionalProperties:
# false), so a misspelt field fails here instead of being pruned by the API server.
DATA = {"type": "object", "required": ["secretKey", "remoteRef"], "additionalProperties": False, "properties": {
    "secretKey": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": r"^[-._a-zA-Z0-9]+$"},
    "remoteRef": {"type": "object", "required": ["key"], "additionalProperties": False, "properties": {
        "key": {"type": "string"}, "property": {"type": "string"}, "version": {"type": "string"},
        "metadataPolicy": {"enum": ["None", "Fetch"]}, "conversionStrategy": {"enum": ["Default", "Unicode"]},
        "decodingStrategy": {"enum": ["Auto", "Base64", "Base64URL", "None"]}, "nullBytePolicy": {"enum": ["Ignore", "Fail"]}}}}}
EXTERNAL_SECRET = {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
    "apiVersion": {"const": "external-secrets.io/v1"}, "kind": {"const": "ExternalSecret"},
    "metadata": {"type": "object", "required": ["name", "namespace"], "properties": {
        "name": {"pattern": DNS_SUBDOMAIN}, "namespace": {"pattern": DNS_LABEL}}},
    "spec": {"type": "object", "additionalProperties": False, "properties": {
        "refreshInterval": {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"},
        "refreshPolicy": {"enum": ["CreatedOnce", "Periodic", "OnChange"]},
        "secretStoreRef": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN},
            "kind": {"enum": ["SecretStore", "ClusterSecretStore"]}}},
        "target": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN},
            "creationPolicy": {"enum": ["Owner", "Orphan", "Merge", "None", "CreateOrMerge"]},
            "deletionPolicy": {"enum": ["Delete", "Merge", "Retain"]},
            "immutable": {"type": "boolean"},
            "template": {"type": "object", "additionalProperties": False, "properties": {
                "type": {"type": "string"}, "engineVersion": {"enum": ["v2"]}, "mergePolicy": {"enum": ["Replace", "Merge"]},
                "metadata": {"type": "object", "additionalProperties": False, "properties": {
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    "finalizers": {"type": "array", "items": {"type": "string"}}}},
                "data": {"type": "object"}, "templateFrom": {"type": "array"}}}}},
        "data": {"type": "array", "items": DATA},
        "dataFrom": {"type": "array"}}}}}
CONDITIONS = {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {
    "namespaceSelector": {"type": "object"}, "namespaceRegexes": {"type": "array", "items": {"type": "string"}},
    "namespaces": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL}}}}}
STORE = copy.deepcopy(CLUSTER_SECRET_STORE)
STORE["properties"]["spec"]["properties"]["conditions"] = CONDITIONS
STORE["properties"]["spec"]["additionalProperties"] = False


def test_the_crd_checks_can_fail():
    graph = dev()
    manifest = external_secrets(graph)[("homarr", "homarr-dev-tls")].inputs()
    jsonschema.validate(manifest, EXTERNAL_SECRET)
    for path, value in ((("spec", "target", "creationPolicy"), "Orphaned"), (("spec", "refreshInterval"), "5 min"),
                        (("spec", "target", "template", "metadata", "label"), {}), (("spec", "secretStoreref"), {})):
        bad = copy.deepcopy(manifest)
        holder = bad
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, EXTERNAL_SECRET)
    store = graph.obj("ClusterSecretStore", "belen-tls-mirror").inputs(show_secrets=True)
    jsonschema.validate(store, STORE)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**store, "spec": {**store["spec"], "conditions": [{"namespace": ["homarr"]}]}}, STORE)


# --- What continuous mode renders ------------------------------------------------------------------

def test_a_store_for_ops_usable_only_from_the_mirrors_namespaces():
    graph = dev()
    store = graph.obj("ClusterSecretStore", "belen-tls-mirror")
    jsonschema.validate(store.inputs(show_secrets=True), STORE)
    check_against_crd(store)
    reader = OPS_OUTPUTS["tlsReaders"]["dev"]
    assert store.inputs()["spec"] == {
        "provider": {"kubernetes": {
            "server": {"url": reader["server"], "caBundle": base64.b64encode(reader["caBundle"].encode()).decode()},
            "remoteNamespace": "certificates-ops",
            "auth": {"token": {"bearerToken": {"name": "belen-tls-mirror-token", "namespace": "external-secrets",
                                               "key": "token"}}}}},
        "conditions": [{"namespaces": ["dashboards", "headlamp", "homarr"]}]}
    assert not store.secret_paths, "where ops is and what to read are no secret"
    assert store.inputs()["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready",
                                                         "pulumi.com/timeoutSeconds": "300"}


def test_the_token_stays_secret_from_ops_output_to_the_store_credentials():
    graph = dev()
    token = graph.obj("Secret", "belen-tls-mirror-token")
    assert token.inputs()["metadata"]["namespace"] == "external-secrets"
    assert token.is_secret("stringData") and token.inputs()["stringData"] == "[secret]"
    assert token.inputs(show_secrets=True)["stringData"] == {"token": OPS_OUTPUTS["tlsReaders"]["dev"]["token"]}
    rendered = json.dumps([r.to_json() for r in graph.resources]) + json.dumps(
        {k: v.shown() for k, v in graph.run.outputs.items()})
    assert OPS_OUTPUTS["tlsReaders"]["dev"]["token"] not in rendered
    assert "tls.key" not in json.dumps([r.inputs() for r in graph.objects("ExternalSecret")]).replace('"tls.key"', "")


def test_the_token_ops_issues_is_the_one_dev_stores(monkeypatch):
    ops = render_ops_with_tokens(monkeypatch)
    served = {"tlsCertificates": OPS_OUTPUTS["tlsCertificates"], "tlsReaders": ops.output("tlsReaders").value,
              "__secret__": ["tlsCertificates", "tlsReaders"]}
    graph = render_stack("dev", mirror(), stack_outputs={OPS: served})
    stored = graph.obj("Secret", "belen-tls-mirror-token").inputs(show_secrets=True)["stringData"]["token"]
    assert stored == ops.output("tlsReaders").value["dev"]["token"] == "dummy-token-of-tls-reader-dev"


def test_the_dummy_ops_outputs_are_what_ops_renders_but_the_tokens(monkeypatch):
    rendered = render_ops_with_tokens(monkeypatch).output("tlsReaders").value
    strip = lambda readers: {e: {k: v for k, v in r.items() if k != "token"} for e, r in readers.items()}  # noqa: E731
    assert strip(rendered) == strip(OPS_OUTPUTS["tlsReaders"])


def test_what_dev_reads_is_exactly_what_ops_lets_it_get():
    role = render_stack("ops").obj("Role", "tls-reader-dev").inputs()
    graph = dev()
    store = graph.obj("ClusterSecretStore", "belen-tls-mirror").inputs()["spec"]["provider"]["kubernetes"]
    assert store["remoteNamespace"] == role["metadata"]["namespace"]
    read = {d["remoteRef"]["key"] for r in graph.objects("ExternalSecret") for d in r.inputs()["spec"]["data"]}
    assert read == set(role["rules"][0]["resourceNames"]), "every read is a get of a Secret the role names"


def test_one_tls_external_secret_per_certificate_and_namespace():
    graph = dev()
    found = external_secrets(graph)
    assert sorted(found) == [("dashboards", "homarr-dev-tls"), ("headlamp", "headlamp-cert"), ("homarr", "homarr-dev-tls")]
    for (namespace, name), resource in found.items():
        manifest = resource.inputs()
        jsonschema.validate(manifest, EXTERNAL_SECRET)
        certificate = manifest["metadata"]["labels"]["belen.io/certificate"]
        published = OPS_OUTPUTS["tlsCertificates"][certificate]
        keys = ["tls.crt", "tls.key", *(["ca.crt"] if "ca.crt" in published else [])]
        spec = manifest["spec"]
        assert spec["data"] == [{"secretKey": k, "remoteRef": {"key": f"{certificate}-tls", "property": k}} for k in keys]
        assert "dataFrom" not in spec, "a find would List Secrets, which the reader cannot"
        assert spec["refreshInterval"] == "5m"
        assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "belen-tls-mirror"}
        assert spec["target"]["name"] == name and spec["target"]["template"]["type"] == "kubernetes.io/tls"
        assert spec["target"]["template"]["metadata"]["annotations"] == {
            "belen.io/source-stack": OPS, "belen.io/not-after": published["notAfter"],
            "belen.io/fingerprint": published["fingerprint"]}
        assert manifest["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready",
                                                       "pulumi.com/timeoutSeconds": "300"}
        assert not resource.secret_paths


def test_ca_crt_is_read_only_when_ops_publishes_it():
    without_ca = kf.issued("homarr.dev.example.org", with_ca=False)
    certs = {**OPS_OUTPUTS["tlsCertificates"], "homarr-dev": without_ca}
    graph = dev(stack_outputs=outputs(tlsCertificates=certs))
    keys = {key: [d["secretKey"] for d in r.inputs()["spec"]["data"]] for key, r in external_secrets(graph).items()}
    assert keys[("homarr", "homarr-dev-tls")] == ["tls.crt", "tls.key"]
    assert keys[("headlamp", "headlamp-cert")] == ["tls.crt", "tls.key", "ca.crt"]


def test_a_custom_refresh_interval():
    graph = dev(mirror(refreshInterval="1h30m"))
    assert {r.inputs()["spec"]["refreshInterval"] for r in graph.objects("ExternalSecret")} == {"1h30m"}


def test_the_order_release_then_store_then_external_secrets_then_flux():
    graph = dev()
    release = graph.one("helm.sh/v3:Release", "dev-external-secrets-operator")
    store = graph.obj("ClusterSecretStore", "belen-tls-mirror")
    token = graph.obj("Secret", "belen-tls-mirror-token")
    assert graph.depends_on(store, release) and graph.depends_on(store, token)
    assert graph.depends_on(token, graph.obj("Namespace", "external-secrets"))
    kustomization = graph.obj("Kustomization", "flux-system")
    for (namespace, _), external_secret in external_secrets(graph).items():
        assert graph.depends_on(external_secret, store)
        assert graph.depends_on(external_secret, graph.obj("Namespace", namespace))
        assert graph.depends_on(kustomization, external_secret), "apps start after the first sync"
    sync = graph.one("belen:index:TlsContinuousSync")
    assert sync.parent == graph.one("belen:index:TlsMirror").urn
    assert {r.parent for r in [store, token, *external_secrets(graph).values()]} == {sync.urn}


def test_mirrored_output_and_expiry_warnings_work_from_the_published_metadata(tmp_path):
    assert dev().output("tlsMirrored").value == dev(mirror("stack", eso=False)).output("tlsMirrored").value
    certs = {**OPS_OUTPUTS["tlsCertificates"], "homarr-dev": kf.issued("homarr.dev.example.org", age_days=80, days=90)}
    served = write_json(tmp_path / "ops.json", {**OPS_OUTPUTS, "tlsCertificates": certs})
    result = render_cli("dev", "--out", str(tmp_path / "out"), "--stack-outputs", f"{OPS}={served}",
                        "--config-file", str(EXAMPLE))
    assert result.code == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "TLS certificate homarr-dev for environment dev expires in 9 days" in warning


def test_the_documented_example_renders_the_store_instead_of_copies(tmp_path):
    result = render_cli("dev", "--out", str(tmp_path / "out"), "--config-file", str(EXAMPLE),
                        "--stack-outputs", f"{OPS}={PROJECT_DIR / 'tests/stack-outputs/organization~belen~ops.json'}")
    assert result.code == 0 and result.stderr == "", result.stderr
    manifests = sorted(p.name for p in (tmp_path / "out" / "manifests").iterdir())
    assert "clustersecretstore-belen-tls-mirror.yaml" in manifests
    assert {"externalsecret-homarr-homarr-dev-tls.yaml", "externalsecret-headlamp-headlamp-dev-tls.yaml"} <= set(manifests)
    assert not [m for m in manifests if m in ("secret-homarr-homarr-dev-tls.yaml", "secret-headlamp-headlamp-dev-tls.yaml")]


# --- Switching modes: never a namespace without its Secret -------------------------------------------

def test_both_modes_write_the_same_secrets():
    stack, continuous = dev(mirror("stack", eso=False)), dev()
    assert set(copies(stack)) == set(external_secrets(continuous))
    assert not copies(continuous), "in continuous mode belen writes no copy: it never creates or deletes one"
    for key, copy_ in copies(stack).items():
        target = external_secrets(continuous)[key].inputs()["spec"]["target"]
        written = copy_.inputs()
        assert target["name"] == written["metadata"]["name"]
        assert target["template"]["type"] == written["type"], "a Secret's type cannot change: ESO adopts the copy"
        assert target["template"]["metadata"] == {k: written["metadata"][k] for k in ("labels", "annotations")}


def test_stack_to_continuous_leaves_the_copies_for_eso_to_adopt():
    stack, continuous = dev(mirror("stack", eso=False)), dev()
    for copy_ in copies(stack).values():
        assert copy_.retain_on_delete, "a copy leaving the program stays in the cluster"
    for external_secret in external_secrets(continuous).values():
        # Orphan writes into an existing Secret (create-or-update) and never owns it.
        assert external_secret.inputs()["spec"]["target"]["creationPolicy"] == "Orphan"
    # The mirror, its StackReference and its namespaces keep their URNs: nothing else is replaced.
    for type_ in ("belen:index:TlsMirror", "pulumi:pulumi:StackReference", "kubernetes:core/v1:Namespace"):
        assert {r.urn for r in stack.find(type_)} <= {r.urn for r in continuous.find(type_)}, type_


def test_continuous_to_stack_leaves_the_secrets_to_the_copies():
    for external_secret in external_secrets(dev()).values():
        target = external_secret.inputs()["spec"]["target"]
        # No ownerReference, so deleting the ExternalSecret garbage-collects nothing; ESO deletes a
        # Secret itself only with deletionPolicy Delete.
        assert (target["creationPolicy"], target["deletionPolicy"]) == ("Orphan", "Retain")


# --- Failures ----------------------------------------------------------------------------------------

def render_with(tmp_path, served, config=None, expect=3):
    path = write_json(tmp_path / "ops.json", served)
    return render_failure(tmp_path, config or mirror(), "dev", expect=expect, args=("--stack-outputs", f"{OPS}={path}"))


def test_an_ops_stack_without_a_reader_for_this_environment_fails_naming_both(tmp_path):
    readers = {k: v for k, v in OPS_OUTPUTS["tlsReaders"].items() if k != "dev"}
    stderr = render_with(tmp_path, {**OPS_OUTPUTS, "tlsReaders": readers})
    assert stderr.splitlines() == [
        "belen:tls.mirror.mode: continuous, but organization/belen/ops grants environment dev no reader (its "
        "tlsReaders output has no entry dev) — add `dev: [certificates]` to belen:tls.readers there and run "
        "`pulumi up` on organization/belen/ops, or use mode stack"]
    assert "dummy-token" not in stderr


def test_an_ops_stack_without_readers_at_all_fails_the_same_way(tmp_path):
    served = {k: v for k, v in OPS_OUTPUTS.items() if k != "tlsReaders"}
    assert "grants environment dev no reader" in render_with(tmp_path, {**served, "__secret__": ["tlsCertificates"]})


def test_a_certificate_the_reader_may_not_read_fails_naming_it(tmp_path):
    readers = copy.deepcopy(OPS_OUTPUTS["tlsReaders"])
    del readers["dev"]["secrets"]["headlamp-dev"]
    stderr = render_with(tmp_path, {**OPS_OUTPUTS, "tlsReaders": readers})
    assert stderr.splitlines() == [
        "belen:tls.mirror.certificates.headlamp-dev: organization/belen/ops does not let environment dev read it — "
        "add it to belen:tls.readers.dev there and run `pulumi up` on organization/belen/ops"]


def test_a_broken_reader_entry_names_its_fields_never_their_values(tmp_path):
    readers = copy.deepcopy(OPS_OUTPUTS["tlsReaders"])
    readers["dev"].update(server="http://ops.example.org:6443", token="")
    stderr = render_with(tmp_path, {**OPS_OUTPUTS, "tlsReaders": readers})
    assert stderr.splitlines() == [
        "belen:tls.mirror.fromStack: organization/belen/ops's tlsReaders.dev.token is missing — run `pulumi up` on "
        "organization/belen/ops with this version of belen"]
    readers["dev"].update(token="dummy-secret-token", caBundle="garbage")
    stderr = render_with(tmp_path, {**OPS_OUTPUTS, "tlsReaders": readers})
    assert "tlsReaders.dev.server is not an https URL" in stderr and "dummy-secret-token" not in stderr


@pytest.mark.parametrize("config, message", [
    (mirror(eso=False), "belen:tls.mirror.mode: continuous needs the External Secrets Operator, and "
                        "belen:externalSecrets is not set — configure belen:externalSecrets ({} installs the operator "
                        "with its defaults), or use mode stack"),
    (mirror("stack", eso=False, refreshInterval="5m"),
     "belen:tls.mirror.refreshInterval: has no effect in mode stack — remove it, or set mode: continuous"),
    (mirror("pull"), "belen:tls.mirror.mode: 'pull' is not one of stack, continuous — use one of stack, continuous"),
    (mirror(refreshInterval="0s"), "belen:tls.mirror.refreshInterval: '0s' is zero, which makes ESO sync once and "
                                   "never again — use a duration such as 5m or 1h"),
    (mirror(refreshInterval="5 minutes"), "belen:tls.mirror.refreshInterval: '5 minutes' is not a duration"),
    ({**mirror(), "belen:externalSecrets": {"stores": [
        {"name": "belen-tls-mirror", "provider": "fake", "data": [{"key": "a", "value": "b"}]}]}},
     "belen:externalSecrets.stores: has a store named 'belen-tls-mirror', the one belen:tls.mirror creates in "
     "continuous mode — rename that store"),
    (mirror(refreshIntervall="5m"), "belen:tls.mirror.refreshIntervall: unknown setting — did you mean 'refreshInterval'?"),
])
def test_continuous_settings_errors(tmp_path, config, message):
    stderr = render_failure(tmp_path, config, "dev", args=("--stack-outputs", f"{OPS}={write_json(tmp_path / 'o.json', OPS_OUTPUTS)}"))
    assert message in stderr, stderr
    assert all(line.startswith("belen:") for line in stderr.splitlines())

