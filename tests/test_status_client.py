"""tools.status's client against a real HTTPS API server on 127.0.0.1: the kubeconfigs the test bed and
clusters write (a client certificate, a bearer token), verified against the cluster's CA, GET only."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import status_answers as answers
from tools.status import cli, kube

TOKEN = "drill-token-for-tests"


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _issue(name: str, ca: tuple | None, *, server: bool = False, is_ca: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_key, issuer = (key, subject) if ca is None else (ca[1], ca[0].subject)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    if not is_ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 answering the lists of a whole platform; it asks for a client
    certificate (kube-apiserver does) and records (method, path, how the client authenticated)."""
    folder = tmp_path_factory.mktemp("apiserver")
    ca = _issue("test cluster CA", None, is_ca=True)
    server_cert, server_key = _issue("kube-apiserver", ca, server=True)
    client = _issue("admin", ca)
    (folder / "server.pem").write_bytes(_pem(server_cert) + _pem(server_key))
    (folder / "ca.pem").write_bytes(_pem(ca[0]))
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            peer = self.connection.getpeercert()
            auth = "certificate" if peer else ("token" if self.headers.get("Authorization") == f"Bearer {TOKEN}" else None)
            seen.append(("GET", self.path, auth))
            name = next((n for n, (p, _) in kube.LISTS.items() if p == self.path), None)
            items = answers.whole_lists().get(name) or []  # made now: its timestamps are fresh
            status, body = (401, {}) if auth is None else (200, {"kind": "List", "items": items})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        setattr(Handler, f"do_{method}", lambda self, m=method: (seen.append((m, self.path, None)), self.send_error(405)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    context.load_verify_locations(folder / "ca.pem")
    context.verify_mode = ssl.CERT_OPTIONAL
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"https://127.0.0.1:{server.server_address[1]}", "ca": _pem(ca[0]), "client": client, "seen": seen}
    server.shutdown()


def _kubeconfig(path: Path, api: dict, user: dict) -> Path:
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": api["url"], "certificate-authority-data": b64(api["ca"])}}],
        "users": [{"name": "admin", "user": {k: b64(v) if k.endswith("-data") else v for k, v in user.items()}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}]}))
    return path


@pytest.mark.parametrize("how", ["certificate", "token"])
def test_the_client_authenticates_as_the_kubeconfig_says_and_only_reads(api_server, tmp_path, monkeypatch, capsys, how):
    cert, key = api_server["client"]
    user = ({"client-certificate-data": _pem(cert), "client-key-data": _pem(key)} if how == "certificate"
            else {"token": TOKEN})
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", api_server, user)
    (tmp_path / "outputs.json").write_text(json.dumps(answers.whole_outputs()))
    (tmp_path / "Pulumi.yaml").write_text("name: belen\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.lab.yaml").write_text("config:\n  belen:flux: {version: 2.9.x}\n")
    monkeypatch.chdir(tmp_path)
    before = len(api_server["seen"])
    code = cli.main(["lab", "--kubeconfig", str(kubeconfig), "--stack-outputs", "outputs.json"])
    out = capsys.readouterr().out
    assert code == 0, out
    seen = api_server["seen"][before:]
    assert {(method, auth) for method, _, auth in seen} == {("GET", how)}
    assert sorted(urlsplit(path).path for _, path, _ in seen) == sorted(urlsplit(p).path for p, _ in kube.LISTS.values())


def test_a_server_the_kubeconfigs_ca_did_not_sign_is_refused(api_server, tmp_path, capsys, monkeypatch):
    other_ca = _issue("another CA", None, is_ca=True)[0]
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", {**api_server, "ca": _pem(other_ca)}, {"token": TOKEN})
    (tmp_path / "outputs.json").write_text(json.dumps(answers.whole_outputs()))
    monkeypatch.chdir(tmp_path)
    code = cli.main(["local", "--kubeconfig", str(kubeconfig), "--context", "test", "--stack-outputs", "outputs.json"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: cannot reach the API server {api_server['url']} (context test): ")
    assert "CERTIFICATE_VERIFY_FAILED" in err and err.count("\n") == 1
