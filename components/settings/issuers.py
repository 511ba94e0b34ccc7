"""`belen:certManager.issuers` with the secrets `belen:caKeyPair` and `belen:acmeCredentials`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from cryptography import x509

from components.crypto import pem
from components.settings.constants import DURATION, ISSUER_KINDS as KINDS, seconds
from components.settings.reader import Node, Problems, pem_certificates

LETS_ENCRYPT = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True)
class CaKeyPair:
    cert_pem: str  # the CA certificate, then any chain above it
    key_pem: str = field(repr=False)


@dataclass(frozen=True)
class SelfSignedIssuer:
    name: str
    kind: ClassVar[str] = "selfSigned"


@dataclass(frozen=True)
class CaIssuer:
    """Signs with a CA key pair: restored from belen:caKeyPair, or a CA certificate `issued_by` signs."""

    name: str
    key_pair: CaKeyPair | None
    issued_by: str | None
    common_name: str  # of the CA certificate belen has issued_by sign
    duration: str | None
    kind: ClassVar[str] = "ca"

    @property
    def secret_name(self) -> str:
        """The kubernetes.io/tls Secret holding the CA, in cert-manager's namespace."""
        return f"{self.name}-ca"


@dataclass(frozen=True)
class AcmeIssuer:
    name: str
    email: str
    server: str  # the ACME directory URL
    account_key_secret_name: str
    solver: Literal["http01", "dns01"]
    http01_ingress_class: str | None  # for http01
    cloudflare_api_token: str | None = field(default=None, repr=False)  # for dns01 (Cloudflare)
    ca_bundle: str | None = None  # PEM: a private ACME server's CA; None: the system trust store
    kind: ClassVar[str] = "acme"

    @property
    def api_token_secret_name(self) -> str:
        return f"{self.name}-cloudflare-api-token"


Issuer = SelfSignedIssuer | CaIssuer | AcmeIssuer


def certificate_duration(node: Node, key: str, minimum: str, example: str) -> str | None:
    """An optional Go duration of at least `minimum` (cert-manager refuses shorter ones)."""
    def check(value: str) -> str | None:
        short = re.fullmatch(DURATION, value) and seconds(value) < seconds(minimum)
        return f"{value} is shorter than cert-manager's minimum" if short else None

    return node.str(key, todo=f"write a duration of at least {minimum}, such as {example}", check=check)


def parse_issuers(node: Node, ca_key_pairs: Any, acme_credentials: Any) -> list[tuple[str, Issuer]]:
    """(config path, issuer) for each issuer in `node`'s `issuers` list, names unique, CA chains checked."""
    problems = node.problems
    pairs = Node(ca_key_pairs, "caKeyPair", problems)
    credentials = Node(acme_credentials, "acmeCredentials", problems)
    found: list[tuple[str, Issuer]] = []
    paths: dict[str, str] = {}
    declared = set()  # names of every issuer, parsed or not, so their secrets are not called orphans
    for item in node.nodes("issuers"):
        declared.add(item.value.get("name"))
        issuer = _issuer(item, pairs, credentials)
        if issuer is None:
            continue
        if issuer.name in paths:
            problems.add(f"{item.path}.name", f"'{issuer.name}' is also the name of belen:{paths[issuer.name]}",
                         "give each issuer its own name")
            continue
        paths[issuer.name] = item.path
        found.append((item.path, issuer))
    _check_chains(found, problems)
    for secret in (pairs, credentials):
        for name in secret.value:
            secret.raw(name)  # a declared issuer's entry was checked with the issuer
            if name not in declared:
                problems.add(secret.child_path(name), "names no issuer in belen:certManager.issuers",
                             f"remove it or add issuer {name}")
        secret.done()
    return found


def _issuer(node: Node, pairs: Node, credentials: Node) -> Issuer | None:
    name = node.str("name", todo="set it to a DNS label such as letsencrypt (it names the ClusterIssuer)")
    kinds = [kind for kind in KINDS if kind in node.value]
    bodies = {kind: node.node(kind) for kind in KINDS}
    node.done()
    if len(kinds) != 1:
        node.problems.add(node.path, f"has {' and '.join(kinds) if kinds else 'no kind'}",
                          f"give it exactly one of {', '.join(KINDS)}")
    if name is None or len(kinds) != 1:
        return None
    kind = kinds[0]
    if name in pairs.value and kind != "ca":
        _refuse(pairs, name, f"is set but issuer {name} is {kind}, not ca", f"remove belen:caKeyPair.{name}")
    if name in credentials.value and not (kind == "acme" and "dns01" in bodies["acme"].value):
        _refuse(credentials, name, f"is set but issuer {name} does not solve dns01",
                f"remove belen:acmeCredentials.{name}")
    if kind == "selfSigned":
        bodies[kind].done()
        return SelfSignedIssuer(name)
    if kind == "ca":
        return _ca(name, bodies[kind], pairs)
    return _acme(name, bodies[kind], credentials)


def _refuse(secret: Node, name: str, what: str, todo: str) -> None:
    secret.raw(name)
    secret.problems.add(secret.child_path(name), what, todo)


def _ca(name: str, node: Node, pairs: Node) -> CaIssuer:
    issued_by = node.str("issuedBy", todo="set it to the name of a selfSigned or ca issuer")
    common_name = node.str("commonName", todo="set it to the CA's name, such as belen local CA")
    duration = certificate_duration(node, "duration", "1h", "87600h")
    node.done()
    key_pair = None
    if name in pairs.value:
        if "issuedBy" in node.value:
            node.problems.add(node.path, f"has issuedBy and a key pair in belen:caKeyPair.{name}",
                              f"choose one: remove issuedBy or belen:caKeyPair.{name}")
        key_pair = _key_pair(pairs.node(name))
    elif "issuedBy" not in node.value:
        node.problems.add(node.path, f"has neither issuedBy nor a key pair in belen:caKeyPair.{name}",
                          "set issuedBy to a selfSigned or ca issuer, or restore the CA with "
                          f"`pulumi config set --secret --path 'belen:caKeyPair.{name}.cert' < ca.crt` "
                          f"and `... 'belen:caKeyPair.{name}.key' < ca.key`")
    for key in ("commonName", "duration"):
        if key in node.value and "issuedBy" not in node.value:
            node.problems.add(node.child_path(key), "only applies to a CA certificate belen issues",
                              "remove it, or set issuedBy")
    return CaIssuer(name=name, key_pair=key_pair, issued_by=issued_by, common_name=common_name or name,
                    duration=duration)


def _key_pair(node: Node) -> CaKeyPair | None:
    cert_text = node.str("cert", todo="set it to the CA certificate (PEM, then any chain above it)")
    key_text = node.str("key", todo="set it to the CA's private key (PEM, unencrypted)")
    node.done()
    certs = key = None
    if cert_text is not None:
        try:
            certs = pem.load_certificates(cert_text)
        except pem.PemError as exc:
            node.problems.add(node.child_path("cert"), str(exc), "paste the CA certificate (PEM)")
    if key_text is not None:
        try:
            key = pem.load_private_key(key_text)
        except pem.PemError as exc:
            node.problems.add(node.child_path("key"), str(exc), "paste the CA's private key (PEM)")
    if certs is None or key is None:
        return None
    if not _is_ca(certs[0]):
        node.problems.add(node.child_path("cert"), "is not a CA certificate (basicConstraints CA:TRUE is missing)",
                          "use a CA certificate: cert-manager cannot sign with a leaf certificate")
        return None
    if not pem.key_matches_certificate(key, certs[0]):
        node.problems.add(node.path, "the certificate's public key does not match the private key",
                          "pair the CA certificate with its own private key")
        return None
    return CaKeyPair(cert_pem="".join(pem.certificate_pem(c) for c in certs), key_pem=key_text.strip() + "\n")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _acme(name: str, node: Node, credentials: Node) -> AcmeIssuer:
    email = node.str("email", todo="set it to the address Let's Encrypt sends expiry notices to")
    server = node.str("server", todo="set it to letsencrypt, letsencrypt-staging or the https URL of an ACME directory")
    account_key = node.str("accountKeySecretName",
                           todo="set it to a Secret name (cert-manager creates the account key in it)")
    ca_bundle = node.str("caBundle", todo="paste the CA certificate(s) of the ACME server as PEM text",
                         check=pem_certificates)
    solvers = [solver for solver in ("http01", "dns01") if solver in node.value]
    http01, dns01 = node.node("http01"), node.node("dns01")
    node.done()
    ingress_class = http01.str("ingressClass", todo="set it to the name of the IngressClass that serves the challenge")
    http01.done()
    if "dns01" in node.value:
        dns01.str("provider", todo="set it to cloudflare")
    dns01.done()
    if len(solvers) != 1:
        node.problems.add(node.path, f"has {' and '.join(solvers) if solvers else 'no solver'}",
                          "give it exactly one solver: http01 or dns01")
    solver = "dns01" if solvers == ["dns01"] else "http01"
    token = None
    if solver == "dns01":
        credential = credentials.node(name)
        token = credential.str(
            "apiToken",
            todo=f"set it with `pulumi config set --secret --path 'belen:acmeCredentials.{name}.apiToken' "
                 "<Cloudflare API token with Zone:DNS:Edit>`")
        credential.done()
    return AcmeIssuer(
        name=name,
        email=email or "",
        server=LETS_ENCRYPT.get(server or "", server or ""),
        account_key_secret_name=account_key or f"{name}-account-key",
        solver=solver,
        http01_ingress_class=ingress_class if solver == "http01" else None,
        cloudflare_api_token=token,
        ca_bundle=ca_bundle,
    )


def _check_chains(issuers: list[tuple[str, Issuer]], problems: Problems) -> None:
    """Each issuedBy names a selfSigned or ca issuer, and following issuedBy never comes back."""
    by_name = {issuer.name: issuer for _, issuer in issuers}
    for path, issuer in issuers:
        if not isinstance(issuer, CaIssuer) or issuer.issued_by is None:
            continue
        where = f"{path}.ca.issuedBy"
        signer = by_name.get(issuer.issued_by)
        if signer is None:
            problems.add(where, f"'{issuer.issued_by}' is not a configured issuer",
                         f"use one of {', '.join(sorted(by_name))}")
            continue
        if isinstance(signer, AcmeIssuer):
            problems.add(where, f"'{signer.name}' is an acme issuer, which cannot sign a CA",
                         "name a selfSigned or ca issuer")
            continue
        chain = [issuer.name]
        while isinstance(signer, CaIssuer) and signer.issued_by and signer.name not in chain:
            chain.append(signer.name)
            signer = by_name.get(signer.issued_by)
        if signer is not None and signer.name == issuer.name:
            problems.add(where, f"forms a cycle: {' → '.join([*chain, issuer.name])}",
                         "end every chain at a selfSigned issuer or a CA key pair")
