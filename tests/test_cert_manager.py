"""CertManager: the awaited release, ClusterIssuers and awaited Certificates, every setting check, and the
rendered manifests against the cert-manager CRD schema (cloudcoil-models-cert-manager)."""

import base64
import datetime as dt
import functools
import json

import pulumi_kubernetes as k8s
import pytest
import yaml
from cloudcoil.models.cert_manager.v1 import Certificate, ClusterIssuer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from components.cert_manager import CertManager, CertManagerArgs
from components.helm import ChartInstaller
from components.settings.cert_manager import dns_name, parse_cert_manager
from components.settings.reader import Node, Problems
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, RENDER_INPUTS, render_failure, render_stack, run_main, run_program, write_yaml
from tests.schemas import strict_validate
from tools import render as render_tool

# What /tmp/handoff/cert-manager.md adds under `config:` in stacks/Pulumi.<stack>.yaml, applied here as overrides.
STACK_SNIPPETS = {
    "ops": """\
  # cert-manager issues every environment's certificates once, here; dev, rct and prd get copies.
  belen:certManager:
    issuers:
      - name: letsencrypt-staging
        acme:
          email: ops@example.org
          server: letsencrypt-staging
          dns01: {provider: cloudflare}
      - name: letsencrypt
        acme:
          email: ops@example.org
          server: letsencrypt
          dns01: {provider: cloudflare}
    certificates:
      - {name: homarr-dev, namespace: certificates-ops, dnsNames: [homarr.dev.example.org], issuer: letsencrypt}
      - {name: headlamp-dev, namespace: certificates-ops, dnsNames: [headlamp.dev.example.org], issuer: letsencrypt}
      - {name: homarr-rct, namespace: certificates-ops, dnsNames: [homarr.rct.example.org], issuer: letsencrypt}
      - {name: headlamp-rct, namespace: certificates-ops, dnsNames: [headlamp.rct.example.org], issuer: letsencrypt}
      - {name: homarr-prd, namespace: certificates-ops, dnsNames: [homarr.prd.example.org], issuer: letsencrypt}
      - {name: headlamp-prd, namespace: certificates-ops, dnsNames: [headlamp.prd.example.org], issuer: letsencrypt}
""",
    "local": """\
  # cert-manager: a local CA, chained from a self-signed issuer, signs a wildcard certificate for *.belen.localhost.
  belen:certManager:
    issuers:
      - name: selfsigned
        selfSigned: {}
      - name: local-ca
        ca: {issuedBy: selfsigned, commonName: belen local CA, duration: 87600h}
    certificates:
      - name: belen-local
        namespace: certificates-local
        dnsNames: [belen.localhost, "*.belen.localhost"]
        issuer: local-ca
""",
}
STACK_SNIPPETS["homelab"] = STACK_SNIPPETS["cloud"] = """\
  # cert-manager: Let's Encrypt issuers that solve http01 through Traefik.
  belen:certManager:
    issuers:
      - name: letsencrypt-staging
        acme:
          email: admin@example.org
          server: letsencrypt-staging
          http01: {ingressClass: traefik}
      - name: letsencrypt
        acme:
          email: admin@example.org
          server: letsencrypt
          http01: {ingressClass: traefik}
"""
# The `pulumi config set --secret` lines each stack file documents in its header.
SECRET_COMMENTS = {
    "ops": """\
#   pulumi config set --secret --path 'belen:acmeCredentials.letsencrypt-staging.apiToken' <Cloudflare API token>
#   pulumi config set --secret --path 'belen:acmeCredentials.letsencrypt.apiToken' <Cloudflare API token>
""",
}
# Dummy secrets (never real ones) each stack needs in tests/render-inputs/<stack>.yaml to render.
RENDER_SECRETS = {
    "ops": """\
belen:acmeCredentials:
  letsencrypt-staging: {apiToken: dummy-cloudflare-token-staging}
  letsencrypt: {apiToken: dummy-cloudflare-token}
""",
}

HOMELAB_OUTPUTS = json.loads((PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())
STACK_OUTPUTS = {"cloud": {"organization/belen/homelab": HOMELAB_OUTPUTS}}
# The cert-manager chart's closed values schema (research: charts.md §3, values.schema.json@686afa62;
# imageRegistry and imageNamespace from v1.21.2's).
CHART_TOP_LEVEL_KEYS = set("""
acmesolver affinity approveSignerNames automountServiceAccountToken cainjector clusterResourceNamespace config
containerSecurityContext crds creator deploymentAnnotations disableAutoApproval dns01RecursiveNameservers
dns01RecursiveNameserversOnly enableCertificateOwnerRef enableServiceLinks enabled extraArgs extraEnv extraObjects
featureGates fullnameOverride global hostAliases http_proxy https_proxy image imageNamespace imageRegistry ingressShim
installCRDs
livenessProbe maxConcurrentChallenges nameOverride namespace no_proxy nodeSelector podAnnotations
podDisruptionBudget podDnsConfig podDnsPolicy podLabels prometheus replicaCount resources securityContext
serviceAccount serviceAnnotations serviceIPFamilies serviceIPFamilyPolicy serviceLabels startupapicheck
strategy tolerations topologySpreadConstraints volumeMounts volumes webhook
""".split())
CHART_SUB_KEYS = {"crds": {"enabled": bool, "keep": bool}, "startupapicheck": {"enabled": bool},
                  "global": {"imagePullSecrets": list}}
DEPRECATED_KEYS = {"installCRDs"}
DNS01 = {"dns01": {"provider": "cloudflare"}}


def snippet(stack):
    return yaml.safe_load("config:\n" + STACK_SNIPPETS[stack])["config"]


def render(stack, extra=None):
    overrides = {**snippet(stack), **(yaml.safe_load(RENDER_SECRETS.get(stack, "")) or {}), **(extra or {})}
    return render_stack(stack, overrides, stack_outputs=STACK_OUTPUTS.get(stack))


def release(graph):
    return graph.one("helm.sh/v3:Release", f"{graph.run.outputs['clusterName'].value}-cert-manager-release")


def meta(resource):
    return resource.inputs()["metadata"]


def chart_value_problems(values):
    problems = [f"{key}: not in the chart's schema" for key in values if key not in CHART_TOP_LEVEL_KEYS]
    problems += [f"{key}: deprecated" for key in values if key in DEPRECATED_KEYS]
    for key, sub in values.items():
        if isinstance(sub, dict):
            allowed = CHART_SUB_KEYS.get(key, {})
            problems += [f"{key}.{name}: not a checked key" for name in sub if name not in allowed]
            problems += [f"{key}.{name}: wrong type" for name, value in sub.items()
                         if name in allowed and not isinstance(value, allowed[name])]
    return problems


@functools.lru_cache(maxsize=None)
def ca_pair(tag="ca"):
    key = kf.rsa_key(tag)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"belen test {tag}")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(kf.NOW - dt.timedelta(days=1))
        .not_valid_after(kf.NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256())
    )
    return {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(), "key": kf.key_pem(key)}


# -- the release -------------------------------------------------------------------------------------------

def test_release_is_the_pinned_chart_in_its_own_namespace_returning_after_its_startupapicheck_hook():
    graph = render("ops")
    chart = release(graph)
    inputs = chart.inputs()
    assert (inputs["chart"], inputs["version"]) == ("cert-manager", "v1.21.2")
    assert inputs["repositoryOpts"]["repo"] == "https://charts.jetstack.io"
    assert (inputs["name"], inputs["namespace"]) == ("cert-manager", "cert-manager")
    # The provider runs Helm with hooks unless disableWebhooks (install) or disableCRDHooks (upgrade) is set:
    # startupapicheck must run, and be waited for, before any issuer is created.
    assert not inputs.get("disableWebhooks") and not inputs.get("disableCRDHooks")
    # What the hook proves is what the issuers need; no wait on the Deployments before it.
    assert inputs["skipAwait"] is True
    assert inputs["values"] == {"crds": {"enabled": True, "keep": True}, "startupapicheck": {"enabled": True}}
    namespace = graph.obj("Namespace", "cert-manager")
    assert graph.depends_on(chart, namespace)


@pytest.mark.parametrize("stack, images", [("ops", {}), ("local", {}), ("local", {
    "belen:images": {"registry": "harbor.home.arpa/mirror"}, "belen:imagePullSecret": '{"auths": {"h": {}}}'})])
def test_every_helm_value_is_a_key_of_the_closed_chart_schema(stack, images):
    values = release(render(stack, images)).inputs()["values"]
    assert chart_value_problems(values) == []
    assert bool(images) == ("imageRegistry" in values and "global" in values)


def test_the_chart_value_check_catches_typos_and_the_deprecated_key():
    assert "crd: not in the chart's schema" in chart_value_problems({"crd": {"enabled": True}})
    assert chart_value_problems({"installCRDs": True}) == ["installCRDs: deprecated"]
    assert chart_value_problems({"crds": {"enable": True, "keep": "yes"}}) == [
        "crds.enable: not a checked key", "crds.keep: wrong type"]


# -- issuers -----------------------------------------------------------------------------------------------

def test_ops_issuers_solve_dns01_with_secret_tokens_they_reference_and_wait_for():
    graph = render("ops")
    chart = release(graph)
    issuers = graph.objects("ClusterIssuer")
    assert sorted(meta(i)["name"] for i in issuers) == ["letsencrypt", "letsencrypt-staging"]
    servers = {meta(i)["name"]: i.inputs()["spec"]["acme"]["server"] for i in issuers}
    assert servers == {"letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
                       "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory"}
    for issuer in issuers:
        name, acme = meta(issuer)["name"], issuer.inputs()["spec"]["acme"]
        assert graph.depends_on(issuer, chart)
        assert acme["email"] == "ops@example.org"
        assert acme["privateKeySecretRef"] == {"name": f"{name}-account-key"}
        [solver] = acme["solvers"]
        ref = solver["dns01"]["cloudflare"]["apiTokenSecretRef"]
        secret = graph.obj("Secret", ref["name"])
        assert meta(secret)["namespace"] == "cert-manager", "a ClusterIssuer reads secrets in cert-manager's namespace"
        assert secret.is_secret("data") and secret.inputs()["data"] == "[secret]"
        token = base64.b64decode(secret.inputs(show_secrets=True)["data"][ref["key"]]).decode()
        assert token == yaml.safe_load(RENDER_SECRETS["ops"])["belen:acmeCredentials"][name]["apiToken"]
        assert graph.depends_on(issuer, secret)


def test_issuers_are_awaited_until_ready():
    graph = render("ops", {"belen:certManager": {**snippet("ops")["belen:certManager"], "certificateTimeoutSeconds": 900}})
    for issuer in graph.objects("ClusterIssuer"):
        assert meta(issuer)["annotations"] == {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "900"}


def test_local_chains_a_ca_from_its_self_signed_issuer():
    graph = render("local")
    chart = release(graph)
    self_signed, ca_issuer = graph.obj("ClusterIssuer", "selfsigned"), graph.obj("ClusterIssuer", "local-ca")
    assert self_signed.inputs()["spec"] == {"selfSigned": {}}
    ca_cert = graph.obj("Certificate", "local-ca-ca")
    spec = ca_cert.inputs()["spec"]
    assert meta(ca_cert)["namespace"] == "cert-manager"
    assert meta(ca_cert)["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert spec == {"isCA": True, "commonName": "belen local CA", "duration": "87600h", "secretName": "local-ca-ca",
                    "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"}}
    assert ca_issuer.inputs()["spec"] == {"ca": {"secretName": spec["secretName"]}}
    assert graph.depends_on(ca_cert, self_signed) and graph.depends_on(ca_issuer, ca_cert)
    assert all(graph.depends_on(r, chart) for r in (self_signed, ca_issuer, ca_cert))
    leaf = graph.obj("Certificate", "belen-local")
    assert graph.depends_on(leaf, ca_issuer)
    assert leaf.inputs()["spec"]["dnsNames"] == ["belen.localhost", "*.belen.localhost"]


def test_a_chain_is_built_in_order_whatever_order_the_issuers_are_listed_in():
    config = snippet("local")["belen:certManager"]
    config = {**config, "issuers": [*reversed(config["issuers"]),
                                    {"name": "sub-ca", "ca": {"issuedBy": "local-ca"}}]}
    graph = render("local", {"belen:certManager": config})
    sub = graph.obj("Certificate", "sub-ca-ca")
    assert sub.inputs()["spec"]["issuerRef"]["name"] == "local-ca"
    assert sub.inputs()["spec"]["commonName"] == "sub-ca"
    assert graph.depends_on(sub, graph.obj("ClusterIssuer", "local-ca"))


def test_a_restored_ca_key_pair_is_a_secret_tls_secret_the_issuer_waits_for():
    pair = ca_pair()
    graph = render("local", {
        "belen:certManager": {"issuers": [{"name": "home-ca", "ca": {}}]},
        "belen:caKeyPair": {"home-ca": pair},
    })
    issuer = graph.obj("ClusterIssuer", "home-ca")
    secret = graph.obj("Secret", issuer.inputs()["spec"]["ca"]["secretName"])
    obj = secret.inputs(show_secrets=True)
    assert (obj["type"], obj["metadata"]["namespace"]) == ("kubernetes.io/tls", "cert-manager")
    assert secret.is_secret("data")
    assert base64.b64decode(obj["data"]["tls.crt"]).decode() == pair["cert"]
    assert base64.b64decode(obj["data"]["tls.key"]).decode() == pair["key"]
    assert graph.depends_on(issuer, secret) and graph.depends_on(issuer, release(graph))
    assert not graph.objects("Certificate"), "a restored CA is not issued"


@pytest.mark.parametrize("stack", ["homelab", "cloud"])
def test_homelab_and_cloud_solve_http01_through_traefik(stack):
    graph = render(stack)
    issuers = graph.objects("ClusterIssuer")
    assert len(issuers) == 2
    for issuer in issuers:
        assert issuer.inputs()["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]
        assert graph.depends_on(issuer, release(graph))
    assert not [s for s in graph.objects("Secret") if meta(s)["namespace"] == "cert-manager"]


def test_http01_ingress_class_defaults_to_traefik_and_can_be_changed():
    default = {"name": "a", "acme": {"email": "a@example.org", "server": "https://acme.example.org/dir", "http01": {}}}
    nginx = {"name": "b", "acme": {"email": "b@example.org", "server": "letsencrypt", "http01": {"ingressClass": "nginx"}}}

    def solver_class(graph, name):
        return graph.obj("ClusterIssuer", name).inputs()["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"]

    graph = render("homelab", {"belen:certManager": {"issuers": [default]}})
    assert solver_class(graph, "a") == "traefik"
    assert graph.obj("ClusterIssuer", "a").inputs()["spec"]["acme"]["server"] == "https://acme.example.org/dir"
    # The class must be the cluster's (belen:ingress.className): see tests/test_ingress.py for the mismatch error.
    graph = render("homelab", {"belen:certManager": {"issuers": [nginx]}, "belen:ingress": {"className": "nginx"}})
    assert solver_class(graph, "b") == "nginx"


def test_a_private_acme_servers_ca_bundle_reaches_the_issuer_as_base64():
    bundle = ca_pair()["cert"]
    private = {"name": "step", "acme": {"email": "a@example.org", "server": "https://ca.internal/acme/dir",
                                        "caBundle": bundle, "http01": {}}}
    graph = render("homelab", {"belen:certManager": {"issuers": [private, acme("le")]}})
    spec = graph.obj("ClusterIssuer", "step").inputs()["spec"]
    assert base64.b64decode(spec["acme"]["caBundle"]).decode() == bundle
    strict_validate(ClusterIssuer, {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                                    "metadata": {"name": "step"}, "spec": spec})
    assert "caBundle" not in graph.obj("ClusterIssuer", "le").inputs()["spec"]["acme"], "default: the system trust store"


# -- certificates ------------------------------------------------------------------------------------------

def test_ops_certificates_are_awaited_in_certificates_ops():
    graph = render("ops")
    chart = release(graph)
    issuer = graph.obj("ClusterIssuer", "letsencrypt")
    namespace = graph.obj("Namespace", "certificates-ops")
    assert namespace.retain_on_delete, "apps may live in a certificate's namespace"
    certificates = graph.objects("Certificate")
    assert sorted(meta(c)["name"] for c in certificates) == sorted(
        f"{app}-{env}" for app in ("homarr", "headlamp") for env in ("dev", "rct", "prd"))
    for certificate in certificates:
        name, spec = meta(certificate)["name"], certificate.inputs()["spec"]
        assert meta(certificate)["namespace"] == "certificates-ops"
        assert meta(certificate)["annotations"] == {"pulumi.com/waitFor": "condition=Ready",
                                                    "pulumi.com/timeoutSeconds": "600"}
        app, env = name.split("-")
        assert spec == {"secretName": f"{name}-tls", "dnsNames": [f"{app}.{env}.example.org"],
                        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"}}
        assert all(graph.depends_on(certificate, r) for r in (chart, issuer, namespace))


def test_outputs_name_the_issuers_and_the_certificates_secrets():
    graph = render("ops")
    assert graph.output("clusterIssuers").value == ["letsencrypt-staging", "letsencrypt"]
    certificates = graph.output("certificates")
    assert not certificates.secret
    assert certificates.value["homarr-dev"] == {"namespace": "certificates-ops", "secretName": "homarr-dev-tls"}
    assert len(certificates.value) == 6


def test_optional_certificate_fields_and_one_namespace_per_distinct_namespace():
    certificates = [
        {"name": "a", "namespace": "apps", "dnsNames": ["a.example.com"], "issuer": "local-ca",
         "secretName": "a-cert", "duration": "720h", "renewBefore": "240h"},
        {"name": "b", "namespace": "apps", "dnsNames": ["b.example.com"], "issuer": "selfsigned"},
        {"name": "c", "namespace": "default", "dnsNames": ["c.example.com"], "issuer": "local-ca"},
        {"name": "d", "namespace": "cert-manager", "dnsNames": ["d.example.com"], "issuer": "local-ca"},
    ]
    config = {**snippet("local")["belen:certManager"], "certificates": certificates}
    graph = render("local", {"belen:certManager": config})
    spec = graph.obj("Certificate", "a").inputs()["spec"]
    assert (spec["secretName"], spec["duration"], spec["renewBefore"]) == ("a-cert", "720h", "240h")
    assert "duration" not in graph.obj("Certificate", "b").inputs()["spec"]
    made = sorted(meta(n)["name"] for n in graph.objects("Namespace") if n.name.startswith("local-cert-manager-"))
    assert made == ["apps", "cert-manager"], "default already exists, cert-manager is made once"
    assert graph.depends_on(graph.obj("Certificate", "d"), graph.obj("Namespace", "cert-manager"))
    assert not graph.obj("Namespace", "cert-manager").retain_on_delete


def cert_manager_settings(config, ca_key_pairs=None, acme_credentials=None):
    problems = Problems()
    settings = parse_cert_manager(Node(config, "certManager", problems), ca_key_pairs, acme_credentials)
    problems.raise_if_any()
    return settings


def test_only_http01_certificates_wait_for_the_http01_dependencies_and_ready_lists_every_issuer_and_certificate():
    settings = cert_manager_settings({
        "issuers": [
            {"name": "web", "acme": {"email": "a@example.org", "server": "letsencrypt", "http01": {}}},
            {"name": "dns", "acme": {"email": "a@example.org", "server": "letsencrypt", **DNS01}},
            {"name": "self", "selfSigned": {}},
        ],
        "certificates": [
            {"name": "w", "namespace": "apps", "dnsNames": ["w.example.org"], "issuer": "web"},
            {"name": "d", "namespace": "apps", "dnsNames": ["d.example.org"], "issuer": "dns"},
            {"name": "s", "namespace": "apps", "dnsNames": ["s.example.org"], "issuer": "self"},
        ],
    }, acme_credentials={"dns": {"apiToken": "dummy"}})
    made = {}

    def program():
        ingress = k8s.core.v1.ConfigMap("ingress-controller", metadata={"name": "stand-in", "namespace": "default"})
        made["cm"] = CertManager("cm", CertManagerArgs(settings, ChartInstaller(), http01_dependencies=[ingress]))

    graph = run_program(program)
    ingress = graph.obj("ConfigMap", "stand-in")
    waits = {meta(c)["name"]: graph.depends_on(c, ingress) for c in graph.objects("Certificate")}
    assert waits == {"w": True, "d": False, "s": False}
    component = made["cm"]
    assert sorted(component.certificates) == ["d", "s", "w"]
    assert len(component.ready) == 3 + 3  # Flux starts once every issuer is Ready and every certificate issued
    component_type = graph.one("belen:index:CertManager")
    assert all(r.parent == component_type.urn for r in graph.objects("ClusterIssuer") + graph.objects("Certificate"))


def test_settings_never_show_secrets_in_their_repr():
    pair = ca_pair()
    settings = cert_manager_settings({"issuers": [
        {"name": "ca", "ca": {}},
        {"name": "le", "acme": {"email": "a@example.org", "server": "letsencrypt", "dns01": {"provider": "cloudflare"}}},
    ]}, ca_key_pairs={"ca": pair}, acme_credentials={"le": {"apiToken": "dummy-secret-marker"}})
    assert settings.issuer("le").cloudflare_api_token == "dummy-secret-marker"
    assert "dummy-secret-marker" not in repr(settings) and "PRIVATE KEY" not in repr(settings)
    assert settings.issuer("ca").kind == "ca" and settings.issuer("le").kind == "acme"


# -- the CRD schema ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["ops", "local", "homelab"])
def test_rendered_issuers_and_certificates_match_the_cert_manager_schema(stack, tmp_path):
    """The Done-when: `python -m tools.render` writes issuers and awaited certificates that fit the schema and
    depend on the release."""
    inputs = write_yaml(tmp_path / "in.yaml", {**snippet(stack), **(yaml.safe_load(RENDER_SECRETS.get(stack, "")) or {})})
    out = tmp_path / "out"
    existing = [str(RENDER_INPUTS / f"{stack}.yaml")] if (RENDER_INPUTS / f"{stack}.yaml").exists() else []
    result = run_main(render_tool.main, stack, "--out", str(out),
                      *[arg for path in existing for arg in ("--config-file", path)], "--config-file", str(inputs))
    assert result.code == 0, result.stderr
    manifests = [yaml.safe_load(p.read_text()) for p in sorted((out / "manifests").glob("*.yaml"))]
    checked = [m for m in manifests if m["apiVersion"] == "cert-manager.io/v1"]
    assert {m["kind"] for m in checked} >= {"ClusterIssuer"}
    for manifest in checked:
        strict_validate({"ClusterIssuer": ClusterIssuer, "Certificate": Certificate}[manifest["kind"]], manifest)
        if manifest["kind"] == "Certificate":
            assert manifest["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    resources = json.loads((out / "resources.json").read_text())
    chart = next(r["urn"] for r in resources if r["name"] == f"{stack}-cert-manager-release")
    for resource in resources:
        if resource["type"].startswith("kubernetes:cert-manager.io/v1:"):
            assert chart in resource["dependencies"]
    assert "dummy-cloudflare-token" not in "".join(p.read_text() for p in out.rglob("*") if p.is_file())


def test_the_schema_check_rejects_wrong_types_missing_and_unknown_fields():
    good = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x", "namespace": "y"},
            "spec": {"secretName": "x-tls", "dnsNames": ["x.example.org"],
                     "issuerRef": {"name": "le", "kind": "ClusterIssuer"}}}
    strict_validate(Certificate, good)
    with pytest.raises(ValidationError):
        strict_validate(Certificate, {**good, "spec": {**good["spec"], "dnsNames": "x.example.org"}})
    with pytest.raises(ValidationError):
        strict_validate(Certificate, {**good, "spec": {**good["spec"], "issuerRef": {"kind": "ClusterIssuer"}}})
    with pytest.raises(AssertionError):
        strict_validate(Certificate, {**good, "spec": {**good["spec"], "renewbefore": "1h"}})
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "le"},
              "spec": {"acme": {"server": "https://acme.example.org", "privateKeySecretRef": {"name": "k"},
                                "solvers": [{"http01": {"ingress": {"ingressClass": "traefik"}}}]}}}
    with pytest.raises(AssertionError):
        strict_validate(ClusterIssuer, issuer)


@pytest.mark.parametrize("name", ["example.com", "a.b.example.com", "*.example.com", "localhost", "x-1.example.com"])
def test_dns_names_that_pass(name):
    assert dns_name(name) is None


@pytest.mark.parametrize("name", ["Example.com", "a..b", "*.*.example.com", "a*.example.com", "-a.example.com",
                                  "a_b.example.com", "example.com.", "*", "", "a" * 64 + ".com"])
def test_dns_names_that_fail(name):
    assert dns_name(name) == f"'{name}' is not a DNS name"


# -- every settings error, through the render tool -----------------------------------------------------------

def acme(name="le", **solver):
    return {"name": name, "acme": {"email": "ops@example.com", "server": "letsencrypt", **(solver or {"http01": {}})}}


TOKEN = {"belen:acmeCredentials": {"le": {"apiToken": "dummy-token"}}}


def cm(*issuers, certificates=(), **extra):
    return {"belen:certManager": {"issuers": list(issuers), "certificates": list(certificates), **extra}}


def cert(**fields):
    return {"name": "app", "namespace": "apps", "dnsNames": ["app.example.com"], "issuer": "le", **fields}


def ca(name="ca", **fields):
    return {"name": name, "ca": fields}


ERRORS = [
    # ACME issuers
    (cm({"name": "le", "acme": {"server": "letsencrypt", "http01": {}}}),
     "belen:certManager.issuers[0].acme.email: is required — set it to the address Let's Encrypt sends expiry notices to"),
    (cm({"name": "le", "acme": {"email": "ops.example.com", "server": "letsencrypt", "http01": {}}}),
     "belen:certManager.issuers[0].acme.email: 'ops.example.com' is not an email address"),
    (cm({"name": "le", "acme": {"email": "ops@example.com", "server": "http://acme.example.org", "http01": {}}}),
     "belen:certManager.issuers[0].acme.server: 'http://acme.example.org' is not letsencrypt, letsencrypt-staging or an https URL"),
    (cm({"name": "le", "acme": {"email": "ops@example.com", "http01": {}}}), "belen:certManager.issuers[0].acme.server: is required"),
    (cm({"name": "le", "acme": {"email": "ops@example.com", "server": "letsencrypt"}}),
     "belen:certManager.issuers[0].acme: has no solver — give it exactly one solver: http01 or dns01"),
    ({**cm(acme(http01={}, **DNS01)), **TOKEN}, "belen:certManager.issuers[0].acme: has http01 and dns01"),
    (cm(acme(**DNS01)), "belen:acmeCredentials.le.apiToken: is required — set it with "
                        "`pulumi config set --secret --path 'belen:acmeCredentials.le.apiToken' <Cloudflare API token"),
    ({**cm(acme(**DNS01)), "belen:acmeCredentials": {"le": {}}}, "belen:acmeCredentials.le.apiToken: is required"),
    ({**cm(acme(**DNS01)), "belen:acmeCredentials": {"le": {"apiToken": 12345}}},
     "belen:acmeCredentials.le.apiToken: must be a string, got a number"),
    ({**cm(acme(**DNS01)), "belen:acmeCredentials": {"le": {"apiToken": "dummy-token", "email": "x"}}},
     "belen:acmeCredentials.le.email: unknown setting"),
    ({**cm(acme(dns01={"provider": "route53"})), **TOKEN},
     "belen:certManager.issuers[0].acme.dns01.provider: 'route53' is not one of cloudflare"),
    ({**cm(acme()), **TOKEN}, "belen:acmeCredentials.le: is set but issuer le does not solve dns01 — remove belen:acmeCredentials.le"),
    ({**cm(acme()), "belen:acmeCredentials": {"other": {"apiToken": "dummy-token"}}},
     "belen:acmeCredentials.other: names no issuer in belen:certManager.issuers — remove it or add issuer other"),
    (cm(acme(http01={"ingresClass": "traefik"})),
     "belen:certManager.issuers[0].acme.http01.ingresClass: unknown setting — did you mean 'ingressClass'?"),
    (cm({"name": "le", "acme": {"email": "ops@example.com", "server": "https://ca.internal/dir", "http01": {},
                                "caBundle": "not a pem"}}),
     "belen:certManager.issuers[0].acme.caBundle: is not a PEM certificate (no BEGIN CERTIFICATE block) — paste the CA "
     "certificate(s) of the ACME server as PEM text"),
    (cm(acme(http01={"ingressClass": "Traefik"})),
     "belen:certManager.issuers[0].acme.http01.ingressClass: 'Traefik' is not a valid Kubernetes name"),
    # issuers in general
    (cm({"name": "x"}), "belen:certManager.issuers[0]: has no kind — give it exactly one of selfSigned, ca, acme"),
    (cm({"name": "x", "selfSigned": {}, "ca": {}}), "belen:certManager.issuers[0]: has selfSigned and ca"),
    (cm({"name": "Lets_Encrypt", "selfSigned": {}}), "belen:certManager.issuers[0].name: 'Lets_Encrypt' is not a DNS label"),
    (cm({"name": "x", "selfSigned": {}}, {"name": "x", "selfSigned": {}}),
     "belen:certManager.issuers[1].name: 'x' is also the name of belen:certManager.issuers[0] — give each issuer its own name"),
    (cm({"name": "x", "selfsigned": {}}), "belen:certManager.issuers[0].selfsigned: unknown setting — did you mean 'selfSigned'?"),
    (cm(certificateTimeoutSeconds=10), "belen:certManager.certificateTimeoutSeconds: 10 is out of range — use a number from 60 up"),
    (cm(certificateTimeout=600), "belen:certManager.certificateTimeout: unknown setting — did you mean 'certificateTimeoutSeconds'?"),
    # CA issuers
    (cm(ca()), "belen:certManager.issuers[0].ca: has neither issuedBy nor a key pair in belen:caKeyPair.ca — set issuedBy"),
    ({**cm({"name": "root", "selfSigned": {}}, ca(issuedBy="root")), "belen:caKeyPair": {"ca": ca_pair()}},
     "belen:certManager.issuers[1].ca: has issuedBy and a key pair in belen:caKeyPair.ca — choose one"),
    (cm(ca(issuedBy="nope")), "belen:certManager.issuers[0].ca.issuedBy: 'nope' is not a configured issuer — use one of ca"),
    (cm(acme(), ca(issuedBy="le")), "belen:certManager.issuers[1].ca.issuedBy: 'le' is an acme issuer, which cannot sign a CA"),
    (cm(ca("a", issuedBy="b"), ca("b", issuedBy="a")), "belen:certManager.issuers[0].ca.issuedBy: forms a cycle: a → b → a"),
    (cm(ca("a", issuedBy="a")), "belen:certManager.issuers[0].ca.issuedBy: forms a cycle: a → a"),
    ({**cm(ca(commonName="x")), "belen:caKeyPair": {"ca": ca_pair()}},
     "belen:certManager.issuers[0].ca.commonName: only applies to a CA certificate belen issues — remove it, or set issuedBy"),
    (cm({"name": "root", "selfSigned": {}}, ca(issuedBy="root", duration="30m")),
     "belen:certManager.issuers[1].ca.duration: 30m is shorter than cert-manager's minimum — write a duration of at least 1h"),
    ({**cm(ca()), "belen:caKeyPair": {"ca": kf.pair("leaf")}},
     "belen:caKeyPair.ca.cert: is not a CA certificate (basicConstraints CA:TRUE is missing)"),
    ({**cm(ca()), "belen:caKeyPair": {"ca": {"cert": ca_pair()["cert"], "key": ca_pair("other")["key"]}}},
     "belen:caKeyPair.ca: the certificate's public key does not match the private key"),
    ({**cm(ca()), "belen:caKeyPair": {"ca": {"cert": "not a pem", "key": ca_pair()["key"]}}},
     "belen:caKeyPair.ca.cert: is not a PEM certificate"),
    ({**cm(ca()), "belen:caKeyPair": {"ca": {"cert": ca_pair()["cert"]}}}, "belen:caKeyPair.ca.key: is required"),
    ({**cm(acme()), "belen:caKeyPair": {"le": ca_pair()}}, "belen:caKeyPair.le: is set but issuer le is acme, not ca"),
    # certificates
    (cm(acme(), certificates=[cert(issuer="nope")]),
     "belen:certManager.certificates[0].issuer: 'nope' is not a configured issuer — use one of le"),
    (cm(certificates=[cert()]),
     "belen:certManager.certificates[0].issuer: 'le' is not a configured issuer — add an issuer to belen:certManager.issuers first"),
    (cm(acme(), certificates=[cert(dnsNames=["App.example.com", "ok.example.com", "a..b"])]),
     "belen:certManager.certificates[0].dnsNames[0]: 'App.example.com' is not a DNS name — write a lowercase DNS name"),
    (cm(acme(), certificates=[cert(dnsNames=["a..b"])]), "belen:certManager.certificates[0].dnsNames[0]: 'a..b' is not a DNS name"),
    (cm(acme(), certificates=[cert(dnsNames=[])]), "belen:certManager.certificates[0].dnsNames: is required"),
    (cm(acme(), certificates=[cert(dnsNames="app.example.com")]),
     "belen:certManager.certificates[0].dnsNames: must be a list, got a string"),
    (cm(acme(), certificates=[cert(dnsNames=["*.example.com"])]),
     "belen:certManager.certificates[0].dnsNames[0]: '*.example.com' is a wildcard, which ACME issues only through dns01"),
    (cm(acme(), certificates=[cert(namespace=None)]), "belen:certManager.certificates[0].namespace: is required"),
    (cm(acme(), certificates=[cert(name="App")]), "belen:certManager.certificates[0].name: 'App' is not a valid Kubernetes name"),
    (cm(acme(), certificates=[cert(), cert(namespace="other")]),
     "belen:certManager.certificates[1].name: 'app' is also the name of belen:certManager.certificates[0] — give each certificate its own name"),
    (cm(acme(), certificates=[cert(secretName="shared"), cert(name="b", secretName="shared")]),
     "belen:certManager.certificates[1].secretName: Secret apps/shared is also made for belen:certManager.certificates[0].secretName"),
    (cm(acme(), certificates=[cert(namespace="cert-manager", secretName="le-account-key")]),
     "belen:certManager.certificates[0].secretName: Secret cert-manager/le-account-key is also made for "
     "belen:certManager.issuers[0].acme.accountKeySecretName"),
    (cm(acme(), certificates=[cert(duration="24h", renewBefore="24h")]),
     "belen:certManager.certificates[0].renewBefore: 24h is not shorter than the duration (24h)"),
    (cm(acme(), certificates=[cert(renewBefore="2200h")]),
     "belen:certManager.certificates[0].renewBefore: 2200h is not shorter than the duration (2160h, the default)"),
    (cm(acme(), certificates=[cert(renewBefore="1m")]),
     "belen:certManager.certificates[0].renewBefore: 1m is shorter than cert-manager's minimum — write a duration of at least 5m"),
    (cm(acme(), certificates=[cert(duration="90d")]), "belen:certManager.certificates[0].duration: '90d' is not a duration"),
    (cm(acme(), certificates=[cert(secretname="x")]),
     "belen:certManager.certificates[0].secretname: unknown setting — did you mean 'secretName'?"),
]


@pytest.mark.parametrize("config, message", ERRORS, ids=[message.split(": ", 2)[0][6:] for _, message in ERRORS])
def test_every_settings_error_fails_the_render_with_exit_2(tmp_path, config, message):
    stderr = render_failure(tmp_path, config)
    assert message in stderr
    assert "dummy-token" not in stderr and "-----BEGIN" not in stderr, "errors never show secrets"


def test_all_problems_are_reported_at_once(tmp_path):
    issuer = {"name": "le", "acme": {"server": "letsencrypt", **DNS01}}
    stderr = render_failure(tmp_path, cm(issuer, certificates=[cert(issuer="nope", dnsNames=["bad_name"])]))
    lines = [line for line in stderr.splitlines() if line.startswith("belen:")]
    assert [line.split(":")[1] for line in lines] == [
        "certManager.issuers[0].acme.email", "acmeCredentials.le.apiToken",
        "certManager.certificates[0].dnsNames[0]", "certManager.certificates[0].issuer"]
