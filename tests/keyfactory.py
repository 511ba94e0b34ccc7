"""Key material made at test time (never real keys), cached so the suite stays fast."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _cert(key, public_key, not_before: dt.datetime, days: int, cn: str = "sealed-secret") -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public_key)
        .serial_number(x509.random_serial_number()).not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days)).sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@functools.lru_cache(maxsize=None)
def rsa_key(tag: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem(key, pkcs8: bool = False) -> str:
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def pair(tag: str, *, age_days: int = 30, days: int = 3650, bits: int = 2048, pkcs8: bool = False) -> dict[str, str]:
    """{cert, key}: an RSA key with a self-signed cert issued `age_days` ago."""
    key = rsa_key(tag, bits)
    return {"cert": _cert(key, key.public_key(), NOW - dt.timedelta(days=age_days), days), "key": key_pem(key, pkcs8)}


def ec_pair() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return {"cert": _cert(key, key.public_key(), NOW - dt.timedelta(days=1), 365), "key": key_pem(key, pkcs8=True)}


def backup_yaml(pairs: list[dict[str, str]], as_list: bool = True) -> str:
    """What `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` prints."""
    secrets = [{
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": f"sealed-secrets-key{i:05d}", "namespace": "kube-system",
                     "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
        "data": {"tls.crt": base64.b64encode(p["cert"].encode()).decode(),
                 "tls.key": base64.b64encode(p["key"].encode()).decode()},
    } for i, p in enumerate(pairs)]
    doc = {"apiVersion": "v1", "kind": "List", "items": secrets} if as_list else secrets[0]
    return yaml.safe_dump(doc)


def issued(host: str, *, age_days: int = 10, days: int = 90, with_ca: bool = True) -> dict[str, object]:
    """A published certificate as the ops stack exports it: a leaf for `host` signed by a test CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    start = NOW - dt.timedelta(days=age_days)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start - dt.timedelta(days=1))
          .not_valid_after(start + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False).sign(ca_key, hashes.SHA256()))
    pem_of = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    value = {"tls.crt": pem_of(leaf) + pem_of(ca), "tls.key": key_pem(key, pkcs8=True),
             "notAfter": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "dnsNames": [host],
             "fingerprint": hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()}
    if with_ca:
        value["ca.crt"] = pem_of(ca)
    return value


def issued_secret(name: str, cert: dict) -> dict:
    """The Secret cert-manager writes for certificate `name` in ops, as the publisher's `.get()` reads it."""
    data = {k: base64.b64encode(cert[k].encode()).decode() for k in ("tls.crt", "tls.key", "ca.crt") if k in cert}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": f"{name}-tls", "namespace": "certificates-ops"}, "data": data}
