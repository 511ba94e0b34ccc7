"""PEM certificates and private keys: parse, match, fingerprint, describe."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa


class PemError(ValueError):
    """A PEM text that cannot be used; the message says why, never what it holds."""


def load_certificates(text: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text (a leaf first, then any chain)."""
    if not isinstance(text, str) or "-----BEGIN CERTIFICATE-----" not in text:
        raise PemError("is not a PEM certificate (no BEGIN CERTIFICATE block)")
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise PemError("holds a PEM certificate block that does not parse") from None


def load_certificate(text: str) -> x509.Certificate:
    return load_certificates(text)[0]


def load_private_key(text: str):
    """A PKCS#1 or PKCS#8 private key (unencrypted).

    An RSA key's numbers are checked to fit together (n = p·q, e·d ≡ 1, the CRT values), which is
    what matching it to a certificate needs; OpenSSL's full check adds primality tests of p and q,
    most of a render's time with many keys, and is skipped.
    """
    if not isinstance(text, str) or "PRIVATE KEY-----" not in text:
        raise PemError("is not a PEM private key (no BEGIN ... PRIVATE KEY block)")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise PemError("is an encrypted private key — decrypt it first (openssl rsa -in key.pem)") from None
    except (ValueError, Exception):  # noqa: BLE001 - cryptography raises several types for bad input
        raise PemError("holds a PEM private key block that does not parse") from None
    if isinstance(key, rsa.RSAPrivateKey) and not rsa_numbers_fit(key.private_numbers()):
        raise PemError("holds an RSA private key whose numbers do not fit together (damaged)")
    return key


def rsa_numbers_fit(numbers: rsa.RSAPrivateNumbers) -> bool:
    """The private numbers belong to the public key (n, e) and to each other; primality is not tested."""
    p, q, d, n, e = numbers.p, numbers.q, numbers.d, numbers.public_numbers.n, numbers.public_numbers.e
    return (
        1 < p < n and 1 < q < n and p * q == n
        and d * e % (p - 1) == 1 and d * e % (q - 1) == 1
        and numbers.dmp1 == d % (p - 1) and numbers.dmq1 == d % (q - 1)
        and numbers.iqmp * q % p == 1
    )


def key_kind(key) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC ({key.curve.name})"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return "EdDSA"
    return type(key).__name__


def public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_fingerprint(public_key) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, hex: the same for a key and its certificate."""
    return hashlib.sha256(public_der(public_key)).hexdigest()


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, hex (what `openssl x509 -fingerprint -sha256` shows)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def key_matches_certificate(key, cert: x509.Certificate) -> bool:
    return public_der(key.public_key()) == public_der(cert.public_key())


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def pkcs1_pem(key: rsa.RSAPrivateKey) -> str:
    """The form the Sealed Secrets controller writes (and reads most reliably): `RSA PRIVATE KEY`."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
