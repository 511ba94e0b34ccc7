"""TLS mirrors in dev/rct/prd: exact copies of what ops published, checked before anything is written."""

import base64

import pytest

from tests import keyfactory as kf
from tests.graph import render_cli, render_stack, write_json, write_yaml

OPS = "organization/belen/ops"


def published(**certs):
    return {OPS: {"tlsCertificates": certs, "__secret__": ["tlsCertificates"]}}


def mirror(certificates, **extra):
    return {"belen:tls": {"mirror": {"fromStack": OPS, "certificates": certificates, **extra}}}


@pytest.fixture(scope="module")
def homarr():
    return kf.issued("homarr.dev.example.org")


def test_one_secret_per_namespace_with_the_exact_bytes(homarr):
    headlamp = kf.issued("headlamp.dev.example.org", with_ca=False)
    graph = render_stack("dev", mirror({"homarr-dev": {"namespaces": ["homarr", "dashboards"]},
                                        "headlamp-dev": {"namespaces": ["headlamp"], "secretName": "headlamp-cert"}}),
                         stack_outputs=published(**{"homarr-dev": homarr, "headlamp-dev": headlamp}))
    ref = graph.one("pulumi:pulumi:StackReference")
    assert ref.inputs()["name"] == OPS
    copies = [s for s in graph.objects("Secret") if (s.inputs()["metadata"].get("labels") or {}).get("belen.io/certificate")]
    assert sorted((s.inputs()["metadata"]["namespace"], s.inputs()["metadata"]["name"]) for s in copies) == [
        ("dashboards", "homarr-dev-tls"), ("headlamp", "headlamp-cert"), ("homarr", "homarr-dev-tls")]
    for secret in copies:
        obj = secret.inputs(show_secrets=True)
        source = homarr if obj["metadata"]["labels"]["belen.io/certificate"] == "homarr-dev" else headlamp
        data = {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}
        expected = {k: source[k] for k in ("tls.crt", "tls.key", "ca.crt") if k in source}
        assert data == expected
        assert obj["type"] == "kubernetes.io/tls"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "belen"
        assert obj["metadata"]["annotations"] == {"belen.io/source-stack": OPS, "belen.io/not-after": source["notAfter"],
                                                  "belen.io/fingerprint": source["fingerprint"]}
        assert secret.is_secret("data") and not secret.is_secret("metadata")
        assert graph.depends_on(secret, graph.obj("Namespace", obj["metadata"]["namespace"]))
    for namespace in ("homarr", "dashboards", "headlamp"):
        assert graph.obj("Namespace", namespace).retain_on_delete
    mirrored = graph.output("tlsMirrored")
    assert not mirrored.secret
    assert mirrored.value["homarr-dev"] == {"notAfter": homarr["notAfter"], "fingerprint": homarr["fingerprint"],
                                            "namespaces": ["homarr", "dashboards"]}
    kustomization = graph.obj("Kustomization", "flux-system")
    assert all(graph.depends_on(kustomization, s) for s in copies), "apps start after their certificates"


def test_namespaces_are_not_created_when_turned_off(homarr):
    graph = render_stack("dev", mirror({"homarr-dev": {"namespaces": ["homarr"]}}, createNamespaces=False),
                         stack_outputs=published(**{"homarr-dev": homarr}))
    assert not [n for n in graph.objects("Namespace") if n.inputs()["metadata"]["name"] == "homarr"]
    assert graph.obj("Secret", "homarr-dev-tls")


def render_failure(tmp_path, certs, config=None, expect=3):
    outputs = write_json(tmp_path / "ops.json", {"tlsCertificates": certs, "__secret__": ["tlsCertificates"]})
    args = ["--out", str(tmp_path / "out"), "--stack-outputs", f"{OPS}={outputs}"]
    if config:
        args += ["--config-file", str(write_yaml(tmp_path / "in.yaml", config))]
    result = render_cli("dev", *args)
    assert result.code == expect, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
    assert "PRIVATE KEY" not in result.stderr
    return result.stderr


def test_a_certificate_the_source_lost_fails_the_update(tmp_path, homarr):
    stderr = render_failure(tmp_path, {"homarr-dev": homarr})
    assert ("belen:tls.mirror.certificates.headlamp-dev: not published by organization/belen/ops — add it to "
            "belen:tls.publish there") in stderr
    assert "left as they are" in stderr


@pytest.mark.parametrize("broken, message", [
    (lambda c: {**c, "tls.crt": "garbage"}, "is unusable: tls.crt is not a PEM certificate"),
    (lambda c: {**c, "tls.key": kf.issued("other")["tls.key"]}, "is unusable: tls.key does not match the certificate in tls.crt"),
    (lambda c: {**c, "tls.key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
     "is unusable: tls.key holds a PEM private key block that does not parse"),
    (lambda c: kf.issued("homarr.dev.example.org", age_days=100, days=90), "expired on"),
])
def test_broken_certificates_fail_the_update_naming_cert_and_source(tmp_path, homarr, broken, message):
    certs = {"homarr-dev": broken(homarr), "headlamp-dev": kf.issued("headlamp.dev.example.org")}
    stderr = render_failure(tmp_path, certs)
    assert "belen:tls.mirror.certificates.homarr-dev:" in stderr and message in stderr
    assert "organization/belen/ops" in stderr
    assert "headlamp-dev" not in stderr


def test_every_problem_is_reported_at_once(tmp_path):
    stderr = render_failure(tmp_path, {"homarr-dev": kf.issued("h", age_days=200, days=90)})
    assert "homarr-dev" in stderr and "headlamp-dev" in stderr


def test_a_certificate_expiring_soon_warns_with_days_left(tmp_path):
    certs = {"homarr-dev": kf.issued("homarr.dev.example.org", age_days=80, days=90),
             "headlamp-dev": kf.issued("headlamp.dev.example.org")}
    outputs = write_json(tmp_path / "ops.json", {"tlsCertificates": certs, "__secret__": ["tlsCertificates"]})
    result = render_cli("dev", "--out", str(tmp_path / "out"), "--stack-outputs", f"{OPS}={outputs}")
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "TLS certificate homarr-dev for environment dev expires in 9 days" in warnings[0]


@pytest.mark.parametrize("config, message", [
    ({"belen:tls": {"mirror": {"certificates": {"a": {"namespaces": ["x"]}}}}}, "belen:tls.mirror.fromStack: is required"),
    (mirror({"a": {"namespaces": ["x"]}}) | {"belen:tls": {"mirror": {"fromStack": "ops", "certificates": {"a": {"namespaces": ["x"]}}}}},
     "belen:tls.mirror.fromStack: 'ops' is not <organization>/<project>/<stack>"),
    (mirror({"a": {"namespaces": []}}), "belen:tls.mirror.certificates.a.namespaces: is empty"),
    (mirror({"a": {"namespaces": ["Bad_NS"]}}), "belen:tls.mirror.certificates.a.namespaces[0]: 'Bad_NS' is not a DNS label"),
    (mirror({"a": {"namespace": ["x"]}}), "belen:tls.mirror.certificates.a.namespace: unknown setting — did you mean 'namespaces'?"),
    (mirror({}), "belen:tls.mirror.certificates: lists no certificates"),
    (mirror({"a": {"namespaces": ["x"]}}, warnDays=-1), "belen:tls.mirror.warnDays: -1 is out of range"),
])
def test_mirror_settings_errors(tmp_path, config, message):
    stderr = render_failure(tmp_path, {}, config, expect=2)
    assert message in stderr


def test_mirrored_outputs_are_reproducible(homarr):
    outputs = published(**{"homarr-dev": homarr, "headlamp-dev": kf.issued("headlamp.dev.example.org")})
    first = render_stack("dev", stack_outputs=outputs).output("tlsMirrored").value
    second = render_stack("dev", stack_outputs=outputs).output("tlsMirrored").value
    assert first == second and set(first["homarr-dev"]) == {"notAfter", "fingerprint", "namespaces"}
