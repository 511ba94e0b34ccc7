"""`belen:tls`: which certificates ops publishes, and which ones an environment mirrors."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.cert_manager import CertManagerSettings
from components.settings.reader import Node, Problems, dns_label, dns_subdomain, stack_reference


@dataclass(frozen=True)
class MirroredCertificate:
    name: str
    namespaces: tuple[str, ...]
    secret_name: str


@dataclass(frozen=True)
class TlsMirrorSettings:
    from_stack: str
    certificates: tuple[MirroredCertificate, ...]
    warn_days: int
    create_namespaces: bool


@dataclass(frozen=True)
class TlsSettings:
    publish: tuple[str, ...]
    mirror: TlsMirrorSettings | None


def parse_tls(node: Node) -> TlsSettings:
    publish = node.strings("publish", todo="list names of belen:certManager.certificates")
    for name in {n for n in publish if publish.count(n) > 1}:
        node.problems.add("tls.publish", f"names '{name}' twice", "list each certificate once")
    mirror = _mirror(node.node("mirror")) if node.has("mirror") else None
    node.done()
    return TlsSettings(tuple(dict.fromkeys(publish)), mirror)


def _mirror(node: Node) -> TlsMirrorSettings:
    from_stack = node.str(
        "fromStack", required=True, todo="write the ops stack as <organization>/<project>/<stack>",
        check=stack_reference,
    )
    certificates = []
    for name, value in node.entries("certificates"):
        cert = Node(value, f"{node.path}.certificates.{name}", node.problems)
        if dns_subdomain(name):
            node.problems.add(cert.path, dns_subdomain(name), "use the certificate's name in the ops stack")
        namespaces = cert.strings("namespaces", check=dns_label, todo="list namespace names")
        if not namespaces:
            node.problems.add(f"{cert.path}.namespaces", "is empty", "list the namespaces that need this certificate")
        secret_name = cert.str("secretName", f"{name}-tls", check=dns_subdomain, todo="set it to a Secret name")
        cert.done()
        certificates.append(MirroredCertificate(name, tuple(dict.fromkeys(namespaces)), secret_name or f"{name}-tls"))
    if not certificates:
        node.problems.add(f"{node.path}.certificates", "lists no certificates",
                          "map each certificate name to {namespaces: [...]}")
    warn_days = node.int("warnDays", 21, minimum=0, maximum=365)
    create_namespaces = node.bool("createNamespaces", True)
    node.done()
    return TlsMirrorSettings(from_stack or "", tuple(certificates), warn_days, create_namespaces)


def check_publish(tls: TlsSettings | None, cert_manager: CertManagerSettings | None, problems: Problems) -> None:
    """Only certificates this stack issues can be published."""
    if tls is None or not tls.publish:
        return
    configured = {c.name for c in cert_manager.certificates} if cert_manager else set()
    for index, name in enumerate(tls.publish):
        if name not in configured:
            problems.add(f"tls.publish[{index}]", f"'{name}' is not in belen:certManager.certificates",
                         f"publish one of: {', '.join(sorted(configured)) or 'none configured'}")
