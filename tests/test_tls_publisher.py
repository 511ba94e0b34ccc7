"""The ops stack publishes issued certificates; an environment mirrors exactly those bytes."""

import base64

import pytest

from tests import keyfactory as kf
from tests.graph import render_cli, render_stack, write_yaml

PUBLISHED = ["homarr-dev", "headlamp-dev", "homarr-rct", "headlamp-rct", "homarr-prd", "headlamp-prd"]


@pytest.fixture(scope="module")
def certs():
    return {name: kf.issued(f"{name.split('-')[0]}.{name.split('-')[1]}.example.org", with_ca=name.endswith("dev"))
            for name in PUBLISHED}


def test_each_read_waits_for_its_certificate_and_the_output_is_secret(certs):
    graph = render_stack("ops", reads=[kf.issued_secret(n, c) for n, c in certs.items()])
    reads = [r for r in graph.resources if r.read and r.type == "kubernetes:core/v1:Secret"]
    assert len(reads) == len(PUBLISHED)
    for read in reads:
        name = read.name.removeprefix("ops-tls-publisher-")
        certificate = graph.obj("Certificate", name)
        assert read.dependencies == [certificate.urn], "the read depends on that very Certificate"
        assert read.provider == graph.one("pulumi:providers:kubernetes").urn
    published = graph.output("tlsCertificates")
    assert published.secret and published.known
    for name, cert in certs.items():
        assert published.value[name] == cert, name
    expiry = graph.output("tlsExpiry")
    assert not expiry.secret and expiry.value == {n: c["notAfter"] for n, c in certs.items()}


def test_without_reads_the_values_are_unknown_offline():
    graph = render_stack("ops")
    assert not graph.output("tlsCertificates").known and not graph.output("tlsExpiry").known


def test_what_ops_publishes_dev_mirrors_byte_for_byte(tmp_path, certs):
    ops = render_stack("ops", reads=[kf.issued_secret(n, c) for n, c in certs.items()])
    outputs = {"tlsCertificates": ops.output("tlsCertificates").value, "__secret__": ["tlsCertificates"]}
    dev = render_stack("dev", stack_outputs={"organization/belen/ops": outputs})
    copy = dev.obj("Secret", "homarr-dev-tls").inputs(show_secrets=True)
    assert {k: base64.b64decode(v).decode() for k, v in copy["data"].items()} == {
        k: certs["homarr-dev"][k] for k in ("tls.crt", "tls.key", "ca.crt")}


def test_an_issued_secret_that_is_broken_fails_with_exit_3(tmp_path, certs):
    broken = {**certs["homarr-dev"], "tls.key": kf.issued("other")["tls.key"]}
    reads = [kf.issued_secret(n, broken if n == "homarr-dev" else c) for n, c in certs.items()]
    result = render_cli("ops", "--out", str(tmp_path / "out"), "--reads", str(write_yaml(tmp_path / "reads.yaml", reads)))
    assert result.code == 3
    assert ("belen:tls.publish: homarr-dev: Secret certificates-ops/homarr-dev-tls: tls.key does not match "
            "the certificate in tls.crt") in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_an_issued_secret_without_data_fails_with_exit_3(tmp_path, certs):
    reads = [kf.issued_secret(n, c) for n, c in certs.items()]
    reads[0]["data"] = {}
    result = render_cli("ops", "--out", str(tmp_path / "out"), "--reads", str(write_yaml(tmp_path / "reads.yaml", reads)))
    assert result.code == 3 and "has no tls.crt/tls.key yet (is the Certificate Ready?)" in result.stderr


@pytest.mark.parametrize("config, message", [
    ({"belen:tls": {"publish": ["homarr-dev", "nope"]}},
     "belen:tls.publish[1]: 'nope' is not in belen:certManager.certificates — publish one of: headlamp-dev"),
    ({"belen:tls": {"publish": ["homarr-dev", "homarr-dev"]}}, "belen:tls.publish: names 'homarr-dev' twice"),
    ({"belen:tls": {"publsh": []}}, "belen:tls.publsh: unknown setting — did you mean 'publish'?"),
])
def test_publish_settings_errors(tmp_path, config, message):
    result = render_cli("ops", "--out", str(tmp_path / "out"), "--config-file", str(write_yaml(tmp_path / "in.yaml", config)))
    assert result.code == 2 and message in result.stderr


def test_publishing_without_cert_manager_is_an_error(tmp_path):
    result = render_cli("dev", "--out", str(tmp_path / "out"),
                        "--config-file", str(write_yaml(tmp_path / "in.yaml", {"belen:tls": {"publish": ["x"]}})))
    assert result.code == 2
    assert "belen:tls.publish[0]: 'x' is not in belen:certManager.certificates — publish one of: none configured" in result.stderr
