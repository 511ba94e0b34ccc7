"""Interop with an implementation we did not write: kubesealpy seals with the rendered
`sealingCertificate`; `tools.keys verify` opens it with the key material of the rendered key Secrets."""

import base64
import json

import pytest
import yaml
from kubesealpy import Sealer, SealingScope, Unsealer
from kubesealpy.certificate import load_private_key_from_pem

from tests import keyfactory as kf
from tests.graph import render_cli, run_main, write_yaml
from tools import keys

SCOPES = [SealingScope.STRICT, SealingScope.NAMESPACE_WIDE, SealingScope.CLUSTER_WIDE]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The homelab stack rendered with two restored keys, secrets shown."""
    tmp = tmp_path_factory.mktemp("interop")
    inputs = write_yaml(tmp / "keys.yaml", {"belen:sealingKeys": [kf.pair("interop-old", age_days=60),
                                                                  kf.pair("interop-new", age_days=10)]})
    out = tmp / "render"
    result = render_cli("homelab", "--out", str(out), "--config-file", str(inputs), "--show-secrets")
    assert result.code == 0, result.stderr
    certificate = json.loads((out / "outputs.json").read_text())["sealingCertificate"]
    key_secrets = [yaml.safe_load(p.read_text()) for p in sorted((out / "manifests").glob("secret-kube-system-sealed-secrets-key-*.yaml"))]
    assert len(key_secrets) == 2
    backup = write_yaml(tmp / "backup.yaml", {"apiVersion": "v1", "kind": "List", "items": key_secrets})
    return tmp, certificate, key_secrets, backup


def seal(certificate, namespace, name, scope, values):
    sealed = Sealer.from_certificate_pem(certificate).seal(name=name, namespace=namespace, data=values, scope=scope)
    return yaml.safe_load(sealed.to_yaml())


def test_every_scope_sealed_by_kubesealpy_opens_with_the_rendered_key_secrets(rendered):
    tmp, certificate, _, backup = rendered
    repo = tmp / "repo-ok"
    (repo / "apps").mkdir(parents=True)
    docs = [seal(certificate, "apps", f"secret-{scope.value}", scope, {"password": b"s3cret", "user": b"me"}) for scope in SCOPES]
    (repo / "apps" / "sealed.yaml").write_text(yaml.safe_dump_all(docs))
    result = run_main(keys.main, "verify", "--keys", str(backup), str(repo))
    assert result.code == 0, result.stdout + result.stderr
    assert "3 SealedSecret(s) with 2 key(s): 6 item(s) opened, 0 failed" in result.stdout
    for scope in ("strict", "namespace-wide", "cluster-wide"):
        assert f"apps/secret-{scope} [{scope}] 2 opened, 0 failed" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr, "plaintext must never be printed"


def test_strict_scope_fails_under_another_name_or_namespace(rendered):
    tmp, certificate, _, backup = rendered
    repo = tmp / "repo-moved"
    repo.mkdir()
    strict = seal(certificate, "apps", "db", SealingScope.STRICT, {"password": b"x"})
    renamed = {**strict, "metadata": {**strict["metadata"], "name": "db2"}}
    moved = {**strict, "metadata": {**strict["metadata"], "namespace": "other"}}
    namespace_wide = seal(certificate, "apps", "db", SealingScope.NAMESPACE_WIDE, {"password": b"x"})
    renamed_ns_wide = {**namespace_wide, "metadata": {**namespace_wide["metadata"], "name": "db3"}}
    (repo / "s.yaml").write_text(yaml.safe_dump_all([renamed, moved, renamed_ns_wide]))
    result = run_main(keys.main, "verify", "--keys", str(backup), str(repo))
    assert result.code == 1
    assert "apps/db2 [strict] 0 opened, 1 failed — FAILED" in result.stdout
    assert "other/db [strict] 0 opened, 1 failed — FAILED" in result.stdout
    assert "apps/db3 [namespace-wide] 1 opened, 0 failed — ok" in result.stdout


def test_kubesealpys_unsealer_opens_with_the_rendered_keys(rendered):
    _, certificate, key_secrets, _ = rendered
    keys = [load_private_key_from_pem(base64.b64decode(s["data"]["tls.key"])) for s in key_secrets]
    sealer = Sealer.from_certificate_pem(certificate)
    for scope in SCOPES:
        sealed = sealer.seal_value(b"value", namespace="ns", name="n", scope=scope)
        assert Unsealer(keys).unseal_value(sealed, namespace="ns", name="n", scope=scope) == b"value"


def test_a_key_that_is_not_in_the_backup_cannot_open(rendered):
    tmp, _, _, backup = rendered
    foreign = kf.pair("foreign")
    repo = tmp / "repo-foreign"
    repo.mkdir()
    (repo / "s.yaml").write_text(yaml.safe_dump(seal(foreign["cert"], "apps", "x", SealingScope.STRICT, {"a": b"b"})))
    result = run_main(keys.main, "verify", "--keys", str(backup), str(repo))
    assert result.code == 1 and "a: no key could decrypt it" in result.stdout
