"""`belen:certManager` and the secrets `belen:caKeyPair`, `belen:acmeCredentials`: ClusterIssuers and the
Certificates they issue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.settings.constants import DNS_NAME, mismatch, seconds
from components.settings.issuers import AcmeIssuer, CaIssuer, Issuer, certificate_duration, parse_issuers
from components.settings.reader import Node, Problems

NAMESPACE = "cert-manager"
DEFAULT_DURATION = "2160h"  # cert-manager's default: 90 days


@dataclass(frozen=True)
class CertificateSettings:
    name: str
    namespace: str
    dns_names: tuple[str, ...]
    issuer: str  # the name of a configured ClusterIssuer
    secret_name: str
    duration: str | None
    renew_before: str | None


@dataclass(frozen=True)
class CertManagerSettings:
    issuers: tuple[Issuer, ...]
    certificates: tuple[CertificateSettings, ...]
    certificate_timeout_seconds: int  # how long `pulumi up` waits for an issuer or certificate to be Ready
    namespace: str = NAMESPACE

    def issuer(self, name: str) -> Issuer:
        return next(issuer for issuer in self.issuers if issuer.name == name)


def parse_cert_manager(node: Node, ca_key_pairs: Any, acme_credentials: Any) -> CertManagerSettings:
    timeout = node.int("certificateTimeoutSeconds")
    issuers = parse_issuers(node, ca_key_pairs, acme_credentials)
    by_name = {issuer.name: issuer for _, issuer in issuers}
    certificates = [(item.path, _certificate(item, by_name)) for item in node.nodes("certificates")]
    node.done()
    found = [(path, c) for path, c in certificates if c is not None]
    _check_unique_names(issuers, found, node.problems)
    return CertManagerSettings(
        issuers=tuple(issuer for _, issuer in issuers),
        certificates=tuple(c for _, c in found),
        certificate_timeout_seconds=timeout,
    )


def dns_name(value: str) -> str | None:
    """A host name, or a wildcard `*.` in front of one."""
    return mismatch(DNS_NAME, value)


def _certificate(node: Node, issuers: dict[str, Issuer]) -> CertificateSettings | None:
    name = node.str("name", todo="set it to a Kubernetes name such as homarr-dev (it names the Certificate)")
    namespace = node.str("namespace",
                         todo="set it to the namespace the certificate's Secret goes to, such as certificates-ops")
    dns_names = node.strings("dnsNames", todo="write a lowercase DNS name such as app.example.com, or *.example.com")
    if node.value.get("dnsNames") in (None, []):
        node.problems.add(node.child_path("dnsNames"), "is required", "list the DNS names the certificate is for")
    known = f"use one of {', '.join(issuers)}" if issuers else "add an issuer to belen:certManager.issuers first"
    issuer = node.str("issuer", todo=known,
                      check=lambda v: None if v in issuers else f"'{v}' is not a configured issuer")
    secret_name = node.str("secretName", todo="set it to a Secret name such as homarr-dev-tls")
    secret_name = secret_name or (name and f"{name}-tls")
    duration = certificate_duration(node, "duration", "1h", "2160h")
    renew_before = certificate_duration(node, "renewBefore", "5m", "360h")
    node.done()
    if renew_before and seconds(renew_before) >= seconds(duration or DEFAULT_DURATION):
        node.problems.add(node.child_path("renewBefore"), f"{renew_before} is not shorter than the duration "
                          f"({duration or DEFAULT_DURATION + ', the default'})",
                          "renew before the certificate expires: shorten renewBefore")
    signer = issuers.get(issuer or "")
    if isinstance(signer, AcmeIssuer) and signer.solver == "http01":
        listed = node.value.get("dnsNames")
        for index, dns in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(dns, str) and dns.startswith("*."):
                node.problems.add(f"{node.child_path('dnsNames')}[{index}]",
                                  f"'{dns}' is a wildcard, which ACME issues only through dns01",
                                  f"use a dns01 issuer, or list the names instead of {dns}")
    if not (name and namespace and issuer and secret_name and dns_names):
        return None
    return CertificateSettings(name=name, namespace=namespace, dns_names=tuple(dns_names), issuer=issuer,
                               secret_name=secret_name, duration=duration, renew_before=renew_before)


def _check_unique_names(
    issuers: list[tuple[str, Issuer]], certificates: list[tuple[str, CertificateSettings]], problems: Problems,
) -> None:
    """Certificate names are unique, and no two settings claim the same Secret or Certificate object."""
    names: dict[str, str] = {}
    for path, certificate in certificates:
        if certificate.name in names:
            problems.add(f"{path}.name", f"'{certificate.name}' is also the name of belen:{names[certificate.name]}",
                         "give each certificate its own name")
        names.setdefault(certificate.name, path)
    distinct = [(path, c) for path, c in certificates if names[c.name] == path]
    claimed: dict[tuple[str, str, str], str] = {}
    for path, (namespace, kind, name) in _claims(issuers, distinct):
        key = (namespace, kind, name)
        if key in claimed:
            problems.add(path, f"{kind} {namespace}/{name} is also made for belen:{claimed[key]}",
                         "give each its own name")
        claimed.setdefault(key, path)


def _claims(issuers: list[tuple[str, Issuer]], certificates: list[tuple[str, CertificateSettings]]):
    """(config path, (namespace, kind, name)) of each object the settings make in a namespace."""
    for path, issuer in issuers:
        if isinstance(issuer, CaIssuer):
            yield f"{path}.name", (NAMESPACE, "Secret", issuer.secret_name)
            if issuer.issued_by:
                yield f"{path}.name", (NAMESPACE, "Certificate", issuer.secret_name)
        elif isinstance(issuer, AcmeIssuer):
            yield f"{path}.acme.accountKeySecretName", (NAMESPACE, "Secret", issuer.account_key_secret_name)
            if issuer.solver == "dns01":
                yield f"{path}.name", (NAMESPACE, "Secret", issuer.api_token_secret_name)
    for path, certificate in certificates:
        yield f"{path}.name", (certificate.namespace, "Certificate", certificate.name)
        yield f"{path}.secretName", (certificate.namespace, "Secret", certificate.secret_name)
