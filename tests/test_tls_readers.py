"""ops: per environment a reader that can `get` exactly its certificates' Secrets, and its token,
secret from the token Secret to the `tlsReaders` output; every settings check through the render tool."""

import base64
import copy

import kubernetes_validate
import pytest
import yaml

from components.errors import ValueCheckError
from tests.graph import PROJECT_DIR, Graph, render_failure, render_inputs, render_stack
from tools import mockrun, render

OPS_FILE = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.ops.yaml").read_text())["config"]
READERS = OPS_FILE["belen:tls"]["readers"]
API_SERVER = OPS_FILE["belen:tls"]["apiServer"]
NAMESPACE = "certificates-ops"


def tls(**changes):
    """belen:tls of the ops stack file, with `changes` over it."""
    return {"belen:tls": {**OPS_FILE["belen:tls"], **changes}}


def token_of(environment):
    return f"dummy-token-of-tls-reader-{environment}"


class TokenController(mockrun.BelenMocks):
    """The mocks, plus Kubernetes' token controller: a service-account-token Secret gets its `data`
    (pulumi-kubernetes waits for it before the Secret counts as created)."""

    def new_resource(self, args):
        urn_id, outputs = super().new_resource(args)
        if args.typ == "kubernetes:core/v1:Secret" and args.inputs.get("type") == "kubernetes.io/service-account-token":
            account = args.inputs["metadata"]["annotations"]["kubernetes.io/service-account.name"]
            environment = account.removeprefix("tls-reader-")
            data = {"token": token_of(environment), "namespace": args.inputs["metadata"]["namespace"], "ca.crt": "x"}
            outputs = {**outputs, "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        return urn_id, outputs


def render_ops_with_tokens(monkeypatch, overrides=None):
    monkeypatch.setattr(mockrun, "BelenMocks", TokenController)
    config, secret_keys = render.load_config("ops", render_inputs("ops") + ([overrides] if overrides else []))
    return Graph(mockrun.run_main(stack="ops", config=config, secret_keys=secret_keys))


def rbac(graph, kind, environment):
    return graph.obj(kind, f"tls-reader-{environment}")


# --- The RBAC: exactly what ESO's kubernetes provider needs -------------------------------------

def ssrr_allows_get_secrets(rules):
    """ESO's store validation (providers/v1/kubernetes/validate.go@v2.9.0, Client.Validate): a
    SelfSubjectRulesReview in the remote namespace; Ready if one resource rule has `secrets` (or *),
    `get` (or *) and the core group (or none, or *). It does not look at resourceNames."""
    return any(("secrets" in r["resources"] or "*" in r["resources"])
               and ("get" in r["verbs"] or "*" in r["verbs"])
               and (not r.get("apiGroups") or "" in r["apiGroups"] or "*" in r["apiGroups"]) for r in rules)


def least_privilege_problems(rules, secret_names):
    problems = []
    for rule in rules:
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            if "*" in rule.get(key, []):
                problems.append(f"wildcard in {key}")
        if set(rule["verbs"]) != {"get"}:
            problems.append(f"verbs {rule['verbs']}")
        if rule["resources"] != ["secrets"] or rule["apiGroups"] != [""]:
            problems.append(f"resources {rule['apiGroups']}/{rule['resources']}")
        if sorted(rule.get("resourceNames") or []) != sorted(secret_names):
            problems.append(f"resourceNames {rule.get('resourceNames')}")
    return problems


def test_the_privilege_checks_can_fail():
    names = ["homarr-dev-tls"]
    good = [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": names, "verbs": ["get"]}]
    assert least_privilege_problems(good, names) == [] and ssrr_allows_get_secrets(good)
    for bad in ({"verbs": ["get", "list"]}, {"verbs": ["*"]}, {"resources": ["secrets", "configmaps"]},
                {"resourceNames": []}, {"resourceNames": ["homarr-dev-tls", "tls-reader-dev-token"]}, {"apiGroups": ["*"]}):
        assert least_privilege_problems([{**good[0], **bad}], names), bad
    assert not ssrr_allows_get_secrets([{**good[0], "verbs": ["list"]}])
    assert not ssrr_allows_get_secrets([{**good[0], "apiGroups": ["apps"]}])


@pytest.mark.parametrize("environment", sorted(READERS))
def test_each_environment_can_get_exactly_its_certificates_secrets(environment):
    graph = render_stack("ops")
    secret_names = [f"{name}-tls" for name in READERS[environment]]
    role = rbac(graph, "Role", environment).inputs()
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": sorted(secret_names),
                              "verbs": ["get"]}]
    assert least_privilege_problems(role["rules"], secret_names) == []
    assert ssrr_allows_get_secrets(role["rules"]), "ESO's store validation would fail: the store never gets Ready"
    binding = rbac(graph, "RoleBinding", environment).inputs()
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"tls-reader-{environment}"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"tls-reader-{environment}", "namespace": NAMESPACE}]
    account = rbac(graph, "ServiceAccount", environment).inputs()
    assert account["metadata"]["namespace"] == NAMESPACE and account["automountServiceAccountToken"] is False
    token = graph.obj("Secret", f"tls-reader-{environment}-token").inputs()
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": f"tls-reader-{environment}"}
    assert token["metadata"]["name"] not in role["rules"][0]["resourceNames"], "a reader cannot read its own token"


def test_the_reader_manifests_meet_the_kubernetes_schemas():
    graph = render_stack("ops")
    kinds = ("ServiceAccount", "Role", "RoleBinding", "Secret")
    readers = [r for kind in kinds for r in graph.objects(kind) if "belen.io/reader" in r.inputs()["metadata"]["labels"]]
    assert len(readers) == len(kinds) * len(READERS)
    for resource in readers:
        kubernetes_validate.validate(resource.inputs(), kubernetes_validate.latest_version(), strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):  # the check can fail: a misspelt field
        role = rbac(graph, "Role", "dev").inputs()
        kubernetes_validate.validate({**role, "rules": [{**role["rules"][0], "resourceName": ["x"]}]},
                                     kubernetes_validate.latest_version(), strict=True)


def test_readers_add_no_cluster_wide_rbac_and_no_other_rules():
    graph = render_stack("ops")
    assert not graph.objects("ClusterRole") and not graph.objects("ClusterRoleBinding")
    assert sorted(r.inputs()["metadata"]["name"] for r in graph.objects("Role")) == [
        f"tls-reader-{e}" for e in sorted(READERS)]
    bindings = graph.objects("RoleBinding")
    assert len(bindings) == len(READERS) and all(b.inputs()["roleRef"]["kind"] == "Role" for b in bindings)


def test_rbac_waits_for_the_certificates_and_the_token_for_the_binding():
    graph = render_stack("ops")
    for environment, names in READERS.items():
        token = graph.obj("Secret", f"tls-reader-{environment}-token")
        binding, role, account = (rbac(graph, kind, environment) for kind in ("RoleBinding", "Role", "ServiceAccount"))
        for resource in (role, account):
            for name in names:
                assert graph.depends_on(resource, graph.obj("Certificate", name)), "the namespace exists once issued"
        assert graph.depends_on(binding, account) and graph.depends_on(binding, role)
        assert graph.depends_on(token, binding), "no token is published before it can read"
        component = graph.one("belen:index:TlsReaders")
        assert {r.parent for r in (token, binding, role, account)} == {component.urn}


def test_without_the_token_controller_the_output_is_unknown_offline():
    output = render_stack("ops").output("tlsReaders")
    assert not output.known and output.secret


# --- The token, secret end to end ----------------------------------------------------------------

def test_the_output_holds_each_readers_access_and_token_as_a_secret(monkeypatch):
    graph = render_ops_with_tokens(monkeypatch)
    output = graph.output("tlsReaders")
    assert output.secret and output.known
    assert output.value == {environment: {
        "server": API_SERVER["url"], "caBundle": API_SERVER["caBundle"], "namespace": NAMESPACE,
        "secrets": {name: f"{name}-tls" for name in names}, "token": token_of(environment),
    } for environment, names in READERS.items()}
    assert output.shown() == "[secret]"
    for resource in graph.resources:
        assert token_of("dev") not in yaml.safe_dump(resource.to_json()), f"{resource.urn} shows a token"


def test_a_token_secret_without_a_token_fails_the_update(monkeypatch):
    class NoToken(TokenController):
        def new_resource(self, args):
            urn_id, outputs = super().new_resource(args)
            return urn_id, ({**outputs, "data": {}} if "data" in outputs else outputs)

    monkeypatch.setattr(mockrun, "BelenMocks", NoToken)
    config, secret_keys = render.load_config("ops", render_inputs("ops"))
    with pytest.raises(ValueCheckError) as caught:
        mockrun.run_main(stack="ops", config=config, secret_keys=secret_keys)
    assert caught.value.lines == [
        f"belen:tls.readers.{e}: the token Secret certificates-ops/tls-reader-{e}-token holds no token — check that the "
        f"token controller runs (`kubectl describe secret -n certificates-ops tls-reader-{e}-token`)" for e in sorted(READERS)]


# --- Settings --------------------------------------------------------------------------------------

def cert_manager_with(namespace_of_headlamp_dev):
    certificates = copy.deepcopy(OPS_FILE["belen:certManager"]["certificates"])
    for cert in certificates:
        if cert["name"] == "headlamp-dev":
            cert["namespace"] = namespace_of_headlamp_dev
    return {"belen:certManager": {**OPS_FILE["belen:certManager"], "certificates": certificates}}


@pytest.mark.parametrize("config, message", [
    (tls(readers={"dev": ["homarr-dev", "nope"]}),
     "belen:tls.readers.dev[1]: 'nope' is not in belen:tls.publish — publish it first (readers get published "
     "certificates), or remove it"),
    (tls(readers={"Dev": ["homarr-dev"]}), "belen:tls.readers.Dev: 'Dev' is not a DNS label — use the environment's name"),
    (tls(readers={"dev": []}), "belen:tls.readers.dev: is empty — list the published certificates dev may read"),
    (tls(readers={"dev": ["homarr-dev", "homarr-dev"]}), "belen:tls.readers.dev: names 'homarr-dev' twice"),
    (tls(readers={"dev": "homarr-dev"}), "belen:tls.readers.dev: must be a list, got a string"),
    (tls(readers=["dev"]), "belen:tls.readers: must be an object, got a list"),
    ({**tls(), **cert_manager_with("certificates-dev")},
     "belen:tls.readers.dev: names certificates in namespaces certificates-dev, certificates-ops — issue one "
     "environment's certificates in one namespace"),
    (tls(apiServer=None), "belen:tls.apiServer: is required with belen:tls.readers — set {url, caBundle}"),
    (tls(readers=None), "belen:tls.apiServer: has no effect without belen:tls.readers — remove it, or add readers"),
    (tls(apiServer={"caBundle": API_SERVER["caBundle"]}), "belen:tls.apiServer.url: is required"),
    (tls(apiServer={**API_SERVER, "url": "http://ops.example.org:6443"}),
     "belen:tls.apiServer.url: 'http://ops.example.org:6443' is not an https URL"),
    (tls(apiServer={"url": API_SERVER["url"]}), "belen:tls.apiServer.caBundle: is required — paste the ops cluster's CA"),
    (tls(apiServer={**API_SERVER, "caBundle": "not a certificate"}), "belen:tls.apiServer.caBundle: "),
    (tls(apiServer={**API_SERVER, "caBundel": "x"}), "belen:tls.apiServer.caBundel: unknown setting — did you mean 'caBundle'?"),
    (tls(reader={}), "belen:tls.reader: unknown setting — did you mean 'readers'?"),
])
def test_readers_settings_errors(tmp_path, config, message):
    stderr = render_failure(tmp_path, config, "ops")
    assert message in stderr, stderr
    assert all(line.startswith("belen:") for line in stderr.splitlines())
