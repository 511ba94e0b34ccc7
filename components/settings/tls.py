"""`belen:tls`: which certificates ops publishes (and to which environments' readers), and which
ones an environment mirrors, how."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.settings.cert_manager import CertManagerSettings
from components.settings.constants import DNS_SUBDOMAIN, DURATION_TODO, mismatch
from components.settings.reader import Node, Problems
from components.settings.tls_readers import ApiServer, check_refresh_interval, parse_api_server, parse_readers


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
    mode: str  # stack: copies written at `pulumi up`; continuous: ExternalSecrets reading ops
    refresh_interval: str  # continuous: how often ESO syncs


@dataclass(frozen=True)
class TlsSettings:
    publish: tuple[str, ...]
    mirror: TlsMirrorSettings | None
    readers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # ops: environment → certificates
    api_server: ApiServer | None = None  # ops: required with readers


def parse_tls(node: Node) -> TlsSettings:
    publish = node.strings("publish", todo="list names of belen:certManager.certificates")
    for name in {n for n in publish if publish.count(n) > 1}:
        node.problems.add("tls.publish", f"names '{name}' twice", "list each certificate once")
    mirror = _mirror(node.node("mirror")) if node.has("mirror") else None
    readers = parse_readers(node)
    api_server = parse_api_server(node.node("apiServer")) if node.has("apiServer") else None
    if readers and not node.has("apiServer"):
        node.problems.add("tls.apiServer", "is required with belen:tls.readers",
                          "set {url, caBundle}: the ops API server as the environments reach it, and its CA")
    if node.has("apiServer") and not node.has("readers"):
        node.problems.add("tls.apiServer", "has no effect without belen:tls.readers", "remove it, or add readers")
    node.done()
    return TlsSettings(tuple(dict.fromkeys(publish)), mirror, readers, api_server)


def _mirror(node: Node) -> TlsMirrorSettings:
    from_stack = node.str("fromStack", todo="write the ops stack as <organization>/<project>/<stack>")
    certificates = []
    for name, value in node.entries("certificates"):
        cert = Node(value, f"{node.path}.certificates.{name}", node.problems)
        if problem := mismatch(DNS_SUBDOMAIN, name):
            node.problems.add(cert.path, problem, "use the certificate's name in the ops stack")
        namespaces = cert.strings("namespaces", todo="list namespace names")
        if not namespaces:
            node.problems.add(f"{cert.path}.namespaces", "is empty", "list the namespaces that need this certificate")
        secret_name = cert.str("secretName", todo="set it to a Secret name") or f"{name}-tls"
        cert.done()
        certificates.append(MirroredCertificate(name, tuple(dict.fromkeys(namespaces)), secret_name))
    if not certificates:
        node.problems.add(f"{node.path}.certificates", "lists no certificates",
                          "map each certificate name to {namespaces: [...]}")
    warn_days = node.int("warnDays")
    create_namespaces = node.bool("createNamespaces")
    mode = node.str("mode")
    refresh_interval = node.str("refreshInterval", todo=DURATION_TODO)
    if node.has("refreshInterval") and mode == "stack" and node.valid("mode"):
        node.problems.add(node.child_path("refreshInterval"), "has no effect in mode stack",
                          "remove it, or set mode: continuous")
    elif problem := check_refresh_interval(refresh_interval):
        node.problems.add(node.child_path("refreshInterval"), problem, "use a duration such as 5m or 1h")
    node.done()
    return TlsMirrorSettings(from_stack or "", tuple(certificates), warn_days, create_namespaces, mode, refresh_interval)


def check_publish(tls: TlsSettings | None, cert_manager: CertManagerSettings | None, problems: Problems) -> None:
    """Only certificates this stack issues can be published."""
    if tls is None or not tls.publish:
        return
    configured = {c.name for c in cert_manager.certificates} if cert_manager else set()
    for index, name in enumerate(tls.publish):
        if name not in configured:
            problems.add(f"tls.publish[{index}]", f"'{name}' is not in belen:certManager.certificates",
                         f"publish one of: {', '.join(sorted(configured)) or 'none configured'}")
