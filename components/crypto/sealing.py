"""Sealed Secrets key material: checks, naming, generation, and kubeseal's hybrid encryption.

Follows the controller (bitnami/sealed-secrets pkg/crypto, pkg/apis/sealedsecrets/v1alpha1):
RSA-OAEP(SHA-256) of a 32-byte session key, labelled by scope, then AES-256-GCM with a zero nonce.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from components.crypto import pem

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"
NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
MIN_BITS = 2048
GENERATED_BITS = 4096
GENERATED_VALIDITY = dt.timedelta(days=3650)
SECRET_NAME_PREFIX = "sealed-secrets-key-"
# A key's fingerprint as the sealingKeyFingerprints output shows it: SHA-256 of its public key, hex.
FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
SESSION_KEY_BYTES = 32


@dataclass(frozen=True)
class SealingKey:
    """One checked key pair, in the form the controller reads."""

    cert_pem: str
    key_pem: str = field(repr=False)  # PKCS#1, as the controller writes its own keys
    fingerprint: str  # SHA-256 of the public key, hex
    bits: int
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def secret_name(self) -> str:
        return secret_name_of(self.fingerprint)

    def as_config(self) -> dict[str, str]:
        return {"cert": self.cert_pem, "key": self.key_pem}


def secret_name_of(fingerprint: str) -> str:
    """A key Secret's name, stable across reordering and re-runs: derived from the public key alone."""
    return SECRET_NAME_PREFIX + fingerprint[:16]


def certificate_facts(cert_pem: str) -> tuple[str, dt.datetime]:
    """(public-key fingerprint, NotBefore) of a PEM certificate."""
    cert = pem.load_certificate(cert_pem)
    return pem.public_key_fingerprint(cert.public_key()), cert.not_valid_before_utc


@dataclass(frozen=True)
class KeyProblem:
    """A problem with item `index` of a key list (-1: the list itself); `field` is cert, key or empty."""

    index: int
    field: str
    what: str
    todo: str

    def path(self, base: str) -> str:
        if self.index < 0:
            return base
        return f"{base}[{self.index}]" + (f".{self.field}" if self.field else "")


def check_key_pair(index: int, cert_text: Any, key_text: Any) -> tuple[SealingKey | None, list[KeyProblem]]:
    problems = []
    cert = key = None
    try:
        cert = pem.load_certificate(cert_text)
    except pem.PemError as exc:
        problems.append(KeyProblem(index, "cert", str(exc), "paste the tls.crt of the key's backup (PEM)"))
    try:
        key = pem.load_private_key(key_text)
    except pem.PemError as exc:
        problems.append(KeyProblem(index, "key", str(exc), "paste the tls.key of the key's backup (PEM, PKCS#1 or PKCS#8)"))
    if key is not None and not isinstance(key, rsa.RSAPrivateKey):
        problems.append(KeyProblem(index, "key", f"is an {pem.key_kind(key)} key, not RSA",
                                   "the controller only loads RSA keys (any other key crash-loops it): restore the RSA key"))
        key = None
    if key is not None and key.key_size < MIN_BITS:
        problems.append(KeyProblem(index, "key", f"is an RSA key of {key.key_size} bits",
                                   f"use a key of at least {MIN_BITS} bits (the controller makes {GENERATED_BITS})"))
        key = None
    if cert is not None and key is not None and not pem.key_matches_certificate(key, cert):
        problems.append(KeyProblem(index, "", "the certificate's public key does not match the private key",
                                   "pair each tls.crt with the tls.key from the same Secret"))
    if problems or cert is None or key is None:
        return None, problems
    return SealingKey(
        cert_pem=pem.certificate_pem(cert),
        key_pem=pem.pkcs1_pem(key),
        fingerprint=pem.public_key_fingerprint(key.public_key()),
        bits=key.key_size,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    ), []


def check_key_list(items: Any, now: dt.datetime) -> tuple[list[SealingKey], list[KeyProblem]]:
    """Check a list of `{cert, key}` items as a set: every pair, duplicates, and the newest's expiry."""
    if not isinstance(items, list) or not items:
        return [], [KeyProblem(-1, "", "must be a non-empty list of {cert, key} pairs",
                               "restore every key from the backup (python -m tools.keys import)")]
    keys: list[SealingKey] = []
    problems: list[KeyProblem] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"cert", "key"}:
            extra = sorted(set(item) - {"cert", "key"}) if isinstance(item, dict) else []
            what = f"has unknown fields {', '.join(extra)}" if extra else "must be an object with cert and key"
            problems.append(KeyProblem(index, "", what, "give each key exactly {cert: <PEM>, key: <PEM>}"))
            continue
        key, found = check_key_pair(index, item["cert"], item["key"])
        problems.extend(found)
        if key is None:
            continue
        if key.fingerprint in first_index:
            problems.append(KeyProblem(index, "", f"is the same key as item {first_index[key.fingerprint]}",
                                       "list each key once"))
            continue
        first_index[key.fingerprint] = index
        keys.append(key)
    if keys and not problems:
        newest = newest_key(keys)
        if newest.not_after <= now:
            index = first_index[newest.fingerprint]
            problems.append(KeyProblem(index, "cert", f"the newest key's certificate expired on {pem.rfc3339(newest.not_after)}",
                                       "kubeseal refuses to seal with an expired certificate: add a current key or "
                                       "let belen generate one (belen:sealedSecrets.generateKey)"))
    return keys, problems


def newest_key(keys: list[SealingKey]) -> SealingKey:
    """The key the controller seals with: the latest certificate NotBefore.

    The controller (v0.40.0, pkg/controller/main.go and keyregistry.go) registers every Secret labelled
    `sealed-secrets-key: active` and seals with the one of the latest ordering time, which is the
    certificate's NotBefore under its default `--key-order-priority CertNotBefore` (belen refuses
    chart `args`, so it is always that one); on a tie the first registered (oldest Secret) stays.
    belen generates each new key with a NotBefore after every other key's, so there is no tie.
    """
    return max(keys, key=lambda k: (k.not_before, k.fingerprint))


def generate_key_pair(now: dt.datetime | None = None, bits: int = GENERATED_BITS,
                      after: dt.datetime | None = None) -> tuple[str, str]:
    """A new key as the controller would make it: RSA 4096, self-signed certificate valid 10 years.

    With `after`, its NotBefore is at least a second later (certificates count whole seconds), so the
    controller ranks it above the key whose NotBefore that is.
    """
    now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    if after is not None:
        now = max(now, after.replace(microsecond=0) + dt.timedelta(seconds=1))
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + GENERATED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return pem.certificate_pem(cert), pem.pkcs1_pem(key)


# --- kubeseal's format -------------------------------------------------------------------------

def scope_of(annotations: dict[str, Any] | None) -> str:
    """The controller's rule: exact string "true"; cluster-wide wins over namespace-wide."""
    annotations = annotations or {}
    if annotations.get(CLUSTER_WIDE) == "true":
        return "cluster-wide"
    if annotations.get(NAMESPACE_WIDE) == "true":
        return "namespace-wide"
    return "strict"


def encryption_label(scope: str, namespace: str, name: str) -> bytes:
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


class UnsealError(ValueError):
    pass


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def encode_item(ciphertext: bytes) -> str:
    return base64.b64encode(ciphertext).decode()


def hybrid_encrypt(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """Seal one value as kubeseal does (pkg/crypto HybridEncrypt): a fresh session key under
    RSA-OAEP(SHA-256, label) behind its 2-byte length, then AES-256-GCM with a zero nonce (safe: each
    session key seals one value)."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    rsa_part = public_key.encrypt(session_key, _oaep(label))
    return len(rsa_part).to_bytes(2, "big") + rsa_part + AESGCM(session_key).encrypt(bytes(12), plaintext, None)


def decode_item(value: Any) -> bytes:
    """encryptedData values are standard, padded base64 (the controller's StdEncoding, strict)."""
    if not isinstance(value, str):
        raise UnsealError("value is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UnsealError("value is not standard base64") from None


def hybrid_decrypt(private_keys: list[rsa.RSAPrivateKey], ciphertext: bytes, label: bytes) -> bytes:
    """Open one encryptedData item with any of the keys, as the controller does.

    The key that opens it moves to the front of `private_keys`: the items of one SealedSecret, and
    most SealedSecrets in a repository, were sealed with the same key, so the next try hits first.
    """
    if len(ciphertext) < 2:
        raise UnsealError("sealed data is too short")
    rsa_len = int.from_bytes(ciphertext[:2], "big")
    if len(ciphertext) < rsa_len + 2:
        raise UnsealError("sealed data is too short")
    rsa_part, aes_part = ciphertext[2:2 + rsa_len], ciphertext[2 + rsa_len:]
    oaep = _oaep(label)
    for index, key in enumerate(private_keys):
        if key.key_size // 8 != rsa_len:
            continue
        try:
            session_key = key.decrypt(rsa_part, oaep)
            plaintext = AESGCM(session_key).decrypt(bytes(12), aes_part, None)
        except (ValueError, InvalidTag):
            continue
        private_keys.insert(0, private_keys.pop(index))
        return plaintext
    raise UnsealError("no key could decrypt it")

