"""Published TLS certificates: built from an issued Secret in ops, checked again where mirrored."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from components.crypto import pem


@dataclass(frozen=True)
class TlsBundle:
    cert: str  # leaf first, then any chain, as cert-manager writes tls.crt
    key: str = field(repr=False)
    ca: str | None
    not_after: str  # RFC 3339
    dns_names: tuple[str, ...]
    fingerprint: str  # SHA-256 of the leaf certificate's DER, hex

    def published(self) -> dict[str, Any]:
        """The stack output form: what mirrors read."""
        value: dict[str, Any] = {"tls.crt": self.cert, "tls.key": self.key, "notAfter": self.not_after,
                                 "dnsNames": list(self.dns_names), "fingerprint": self.fingerprint}
        if self.ca:
            value["ca.crt"] = self.ca
        return value


class BundleError(ValueError):
    pass


def from_secret_data(data: dict[str, str] | None) -> TlsBundle:
    """A bundle from a kubernetes.io/tls Secret's base64 `data`, checked."""
    data = data or {}
    if not data.get("tls.crt") or not data.get("tls.key"):
        raise BundleError("the issued Secret has no tls.crt/tls.key yet (is the Certificate Ready?)")
    try:
        text = {k: base64.b64decode(v, validate=True).decode() for k, v in data.items() if k in ("tls.crt", "tls.key", "ca.crt")}
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BundleError("the issued Secret's data is not base64 PEM") from None
    return check(text.get("tls.crt"), text.get("tls.key"), text.get("ca.crt"))


def check(cert_text: Any, key_text: Any, ca_text: Any = None) -> TlsBundle:
    """Parse and match a certificate and its key; raises BundleError naming the problem."""
    try:
        leaf = pem.load_certificate(cert_text)
    except pem.PemError as exc:
        raise BundleError(f"tls.crt {exc}") from None
    try:
        key = pem.load_private_key(key_text)
    except pem.PemError as exc:
        raise BundleError(f"tls.key {exc}") from None
    if not pem.key_matches_certificate(key, leaf):
        raise BundleError("tls.key does not match the certificate in tls.crt")
    if ca_text:
        try:
            pem.load_certificates(ca_text)
        except pem.PemError as exc:
            raise BundleError(f"ca.crt {exc}") from None
    return TlsBundle(cert_text, key_text, ca_text or None, pem.rfc3339(leaf.not_valid_after_utc), _dns_names(leaf),
                     pem.certificate_fingerprint(leaf))


def from_published(value: Any) -> TlsBundle:
    """A bundle from another stack's `tlsCertificates` entry, checked again (never trust, always verify)."""
    if not isinstance(value, dict):
        raise BundleError("is not a published certificate (expected tls.crt, tls.key, notAfter, ...)")
    return check(value.get("tls.crt"), value.get("tls.key"), value.get("ca.crt"))


def not_after(bundle: TlsBundle) -> dt.datetime:
    return dt.datetime.strptime(bundle.not_after, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.get_values_for_type(x509.DNSName))
