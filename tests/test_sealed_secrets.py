"""SealedSecrets: key Secrets before the controller, retained; outputs; every key check."""

import base64
import json

import pytest

from components.crypto import pem
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, render_cli, render_failure, render_stack, write_json

HOMELAB_KEYS = json.loads((PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())
CLOUD_OUTPUTS = {"organization/belen/homelab": HOMELAB_KEYS}
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


def restored(*pairs):
    return {"belen:sealingKeys": list(pairs)}


def key_secrets(graph):
    return [r for r in graph.objects("Secret") if KEY_LABEL in (r.inputs()["metadata"].get("labels") or {})]


def fingerprint(pair):
    return pem.public_key_fingerprint(pem.load_certificate(pair["cert"]).public_key())


def test_restored_keys_become_active_tls_secrets_that_the_controller_waits_for():
    old, new = kf.pair("old", age_days=60), kf.pair("new", age_days=30)
    graph = render_stack("homelab", restored(old, new))
    secrets = key_secrets(graph)
    release = graph.one("helm.sh/v3:Release", "homelab-sealed-secrets-controller")
    assert len(secrets) == 2
    for secret in secrets:
        obj = secret.inputs(show_secrets=True)
        assert obj["type"] == "kubernetes.io/tls"
        assert obj["metadata"]["namespace"] == "kube-system"
        assert obj["metadata"]["labels"][KEY_LABEL] == "active"
        assert set(obj["data"]) == {"tls.crt", "tls.key"}
        assert secret.retain_on_delete, "key material must survive `pulumi destroy`"
        assert secret.is_secret("data")
        assert graph.depends_on(release, secret)
    names = {s.inputs()["metadata"]["name"] for s in secrets}
    assert names == {f"sealed-secrets-key-{fingerprint(p)[:16]}" for p in (old, new)}
    data = {base64.b64decode(s.inputs(True)["data"]["tls.crt"]).decode() for s in secrets}
    assert data == {pem.certificate_pem(pem.load_certificate(p["cert"])) for p in (old, new)}


def test_controller_release_values():
    graph = render_stack("homelab", restored(kf.pair("a")))
    inputs = graph.one("helm.sh/v3:Release", "homelab-sealed-secrets-controller").inputs()
    assert inputs["chart"] == "sealed-secrets" and inputs["version"] == "2.20.0"
    assert inputs["repositoryOpts"]["repo"] == "https://bitnami.github.io/sealed-secrets"
    assert inputs["name"] == "sealed-secrets" and inputs["namespace"] == "kube-system"
    assert inputs["skipAwait"] is False
    assert inputs["values"] == {"fullnameOverride": "sealed-secrets-controller", "namespace": "kube-system",
                                "keyrenewperiod": "0"}


@pytest.mark.parametrize("given, passed", [(0, "0"), ("0", "0"), ("720h", "720h"), (None, "0")])
def test_key_renew_period_is_always_a_string(given, passed):
    settings = {} if given is None else {"keyRenewPeriod": given}
    graph = render_stack("homelab", {"belen:sealedSecrets": settings})
    assert graph.one("helm.sh/v3:Release", "homelab-sealed-secrets-controller").inputs()["values"]["keyrenewperiod"] == passed


def test_a_non_default_namespace_is_created_first_and_used_everywhere():
    graph = render_stack("homelab", {"belen:sealedSecrets": {"namespace": "sealed-secrets"}, **restored(kf.pair("a"))})
    namespace = graph.obj("Namespace", "sealed-secrets")
    assert namespace.retain_on_delete
    release = graph.one("helm.sh/v3:Release", "homelab-sealed-secrets-controller")
    assert release.inputs()["namespace"] == release.inputs()["values"]["namespace"] == "sealed-secrets"
    for secret in key_secrets(graph):
        assert secret.inputs()["metadata"]["namespace"] == "sealed-secrets"
        assert graph.depends_on(secret, namespace)


def test_key_names_are_stable_when_keys_are_reordered():
    a, b, c = kf.pair("a", age_days=90), kf.pair("b", age_days=60), kf.pair("c", age_days=30)
    first = render_stack("homelab", restored(a, b, c))
    second = render_stack("homelab", restored(c, a, b))
    identity = lambda g: sorted((s.urn, s.inputs()["metadata"]["name"]) for s in key_secrets(g))  # noqa: E731
    assert identity(first) == identity(second)
    assert first.output("sealingCertificate").value == second.output("sealingCertificate").value


def test_outputs_for_restored_keys():
    old, new = kf.pair("old", age_days=60), kf.pair("new", age_days=30)
    graph = render_stack("homelab", restored(new, old))
    cert = graph.output("sealingCertificate")
    assert not cert.secret
    assert pem.load_certificate(cert.value) == pem.load_certificate(new["cert"]), "newest NotBefore seals"
    assert graph.output("sealingKeys").secret and len(graph.output("sealingKeys").value) == 2
    assert sorted(graph.output("sealingKeyFingerprints").value) == sorted([fingerprint(old), fingerprint(new)])
    assert not graph.output("sealingKeyFingerprints").secret


def test_generated_key_is_made_once_by_a_resource_and_unknown_offline():
    graph = render_stack("homelab")
    generated = graph.one("dynamic/belen:GeneratedSealingKey")
    [secret] = key_secrets(graph) or [graph.one("core/v1:Secret")]
    assert graph.depends_on(secret, generated)
    assert graph.depends_on(graph.one("helm.sh/v3:Release", "homelab-sealed-secrets-controller"), secret)
    assert secret.retain_on_delete
    for name in ("sealingCertificate", "sealingKeyFingerprints", "sealingKeys"):
        assert not graph.output(name).known


def test_replica_takes_the_primarys_keys_and_publishes_the_certificate_in_clear():
    graph = render_stack("cloud", stack_outputs=CLOUD_OUTPUTS)
    ref = graph.one("pulumi:pulumi:StackReference")
    assert ref.read and ref.inputs()["name"] == "organization/belen/homelab"
    secrets = key_secrets(graph)
    assert {s.inputs()["metadata"]["name"] for s in secrets} == {
        f"sealed-secrets-key-{fingerprint(p)[:16]}" for p in HOMELAB_KEYS["sealingKeys"]}
    release = graph.one("helm.sh/v3:Release", "cloud-sealed-secrets-controller")
    assert all(graph.depends_on(release, s) for s in secrets)
    assert all(s.is_secret("data") for s in secrets)
    cert = graph.output("sealingCertificate")
    assert not cert.secret and cert.value.strip() == HOMELAB_KEYS["sealingCertificate"].strip()
    assert graph.output("sealingKeys").secret
    assert not graph.output("sealingKeyFingerprints").secret


def expired_newest():
    return [kf.pair("old", age_days=400, days=3650), kf.pair("new", age_days=20, days=10)]


@pytest.mark.parametrize("keys, message", [
    ([{"cert": "hello", "key": kf.pair("a")["key"]}], "belen:sealingKeys[0].cert: is not a PEM certificate"),
    ([{"cert": kf.pair("a")["cert"], "key": "nope"}], "belen:sealingKeys[0].key: is not a PEM private key"),
    ([kf.ec_pair()], "belen:sealingKeys[0].key: is an EC (secp256r1) key, not RSA — the controller only loads RSA keys"),
    ([kf.pair("small", bits=1024)], "belen:sealingKeys[0].key: is an RSA key of 1024 bits — use a key of at least 2048 bits"),
    ([{"cert": kf.pair("a")["cert"], "key": kf.pair("b")["key"]}],
     "belen:sealingKeys[0]: the certificate's public key does not match the private key"),
    ([kf.pair("a"), kf.pair("a", pkcs8=True)], "belen:sealingKeys[1]: is the same key as item 0 — list each key once"),
    (expired_newest(), "belen:sealingKeys[1].cert: the newest key's certificate expired on"),
    ([{"cert": kf.pair("a")["cert"]}], "belen:sealingKeys[0]: must be an object with cert and key"),
    ("not a list", "belen:sealingKeys: must be a non-empty list of {cert, key} pairs"),
])
def test_every_key_problem_fails_the_render_with_exit_2(tmp_path, keys, message):
    stderr = render_failure(tmp_path, {"belen:sealingKeys": keys}, "homelab")
    assert message in stderr
    if "expired" in message:
        assert "kubeseal refuses to seal with an expired certificate" in stderr


def test_pkcs8_keys_are_accepted_and_stored_as_pkcs1():
    graph = render_stack("homelab", restored(kf.pair("p8", pkcs8=True)))
    [secret] = key_secrets(graph)
    assert base64.b64decode(secret.inputs(True)["data"]["tls.key"]).startswith(b"-----BEGIN RSA PRIVATE KEY-----")


@pytest.mark.parametrize("config, message", [
    ({"belen:sealedSecrets": {"keysFromStack": "organization/belen/homelab"}, "belen:sealingKeys": [kf.pair("a")]},
     "belen:sealedSecrets.keysFromStack: cannot be combined with belen:sealingKeys"),
    ({"belen:sealedSecrets": {"generateKey": True}, "belen:sealingKeys": [kf.pair("a")]},
     "belen:sealedSecrets.generateKey: is true but keys are restored from belen:sealingKeys"),
    ({"belen:sealedSecrets": {"generateKey": False}}, "belen:sealedSecrets.generateKey: is false and no keys are configured"),
    ({"belen:sealedSecrets": {"keysFromStack": "homelab"}}, "belen:sealedSecrets.keysFromStack: 'homelab' is not <organization>/<project>/<stack>"),
    ({"belen:sealedSecrets": {"keysFromStack": "o/p/s", "keyRenewPeriod": "720h"}},
     "belen:sealedSecrets.keyRenewPeriod: is 720h on a replica"),
    ({"belen:sealedSecrets": {"keyRenewPeriod": "monthly"}}, "belen:sealedSecrets.keyRenewPeriod: 'monthly' is not a duration"),
    ({"belen:sealedSecrets": {"namespace": "Kube_System"}}, "belen:sealedSecrets.namespace: 'Kube_System' is not a DNS label"),
])
def test_key_source_errors(tmp_path, config, message):
    assert message in render_failure(tmp_path, config, "homelab")


def test_keys_in_plain_text_in_a_stack_file_are_refused():
    from components.errors import SettingsError
    from components.settings import StackConfig, load_settings
    with pytest.raises(SettingsError) as caught:
        load_settings(StackConfig({"belen:cluster": {"name": "x"}, "belen:sealingKeys": [kf.pair("a")]}), "x")
    assert caught.value.lines[0].startswith("belen:sealingKeys: is stored in plain text")
    assert "BEGIN" not in str(caught.value)


def test_bad_keys_from_the_source_stack_fail_when_they_arrive_with_exit_3(tmp_path):
    outputs = write_json(tmp_path / "homelab.json", {"sealingKeys": [kf.ec_pair(), *expired_newest()], "__secret__": ["sealingKeys"]})
    result = render_cli("cloud", "--out", str(tmp_path / "out"), "--stack-outputs", f"organization/belen/homelab={outputs}")
    assert result.code == 3, result.stderr
    prefix = "belen:sealedSecrets.keysFromStack (organization/belen/homelab): sealingKeys"
    assert f"{prefix}[0].key: is an EC (secp256r1) key, not RSA" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
    assert "PRIVATE KEY" not in result.stderr


def test_source_stack_without_keys_fails_with_exit_3(tmp_path):
    outputs = write_json(tmp_path / "homelab.json", {"clusterName": "homelab"})
    result = render_cli("cloud", "--out", str(tmp_path / "out"), "--stack-outputs", f"organization/belen/homelab={outputs}")
    assert result.code == 3
    assert "belen:sealedSecrets.keysFromStack (organization/belen/homelab): the stack has no sealingKeys output" in result.stderr
