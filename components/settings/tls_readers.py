"""`belen:tls.readers` and `belen:tls.apiServer` (ops): which environment may read which published
certificates straight from the ops cluster, and the API server it reaches them through; plus the
checks across areas of the continuous mirror (`belen:tls.mirror.mode: continuous`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.settings.constants import DNS_LABEL, mismatch, seconds
from components.settings.reader import Node, Problems, pem_certificates

if TYPE_CHECKING:  # the parsers of these areas import nothing from here
    from components.settings.cert_manager import CertManagerSettings
    from components.settings.external_secrets import ExternalSecretsSettings
    from components.settings.tls import TlsSettings

# The ClusterSecretStore an environment in continuous mode reads ops through (and its token Secret).
CONTINUOUS_STORE = "belen-tls-mirror"


@dataclass(frozen=True)
class ApiServer:
    url: str  # https://, as the other clusters reach the ops API server
    ca_bundle: str  # PEM: the CA certificate(s) its serving certificate chains to


def parse_readers(node: Node) -> dict[str, tuple[str, ...]]:
    """environment → the published certificates its reader may get, from `belen:tls.readers`."""
    readers: dict[str, tuple[str, ...]] = {}
    area = node.node("readers")
    for environment in list(area.value):
        path = area.child_path(str(environment))
        if problem := mismatch(DNS_LABEL, str(environment)):
            node.problems.add(path, problem, "use the environment's name (its stack's belen:cluster.environment), "
                              "a DNS label such as dev")
        names = area.strings(environment, todo="list names of belen:tls.publish")
        if not names and area.value[environment] is not None:
            node.problems.add(path, "is empty", f"list the published certificates {environment} may read, or remove it")
        for name in sorted({n for n in names if names.count(n) > 1}):
            node.problems.add(path, f"names '{name}' twice", "list each certificate once")
        if names:
            readers[str(environment)] = tuple(dict.fromkeys(names))
    return readers


def parse_api_server(node: Node) -> ApiServer | None:
    server = node.str("url", todo="set it to the ops API server's https URL as dev, rct and prd reach it, "
                           "e.g. https://ops.example.org:6443")
    ca_bundle = node.str("caBundle", check=pem_certificates,
                         todo="paste the ops cluster's CA certificate(s) as PEM, e.g. from `kubectl config view --raw "
                              "-o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d`")
    node.done()
    return ApiServer(server, ca_bundle) if server and ca_bundle else None


def check_refresh_interval(value: str) -> str | None:
    """A Go duration ESO refreshes with; 0 means "sync once", which is no continuous mirror."""
    if seconds(value) <= 0:
        return f"'{value}' is zero, which makes ESO sync once and never again"
    return None


def check_readers(tls: TlsSettings | None, cert_manager: CertManagerSettings | None, problems: Problems) -> None:
    """Readers read published certificates, all of one environment's in one namespace (one store reads one)."""
    if tls is None:
        return
    namespace_of = {c.name: c.namespace for c in cert_manager.certificates} if cert_manager else {}
    for environment, names in tls.readers.items():
        for index, name in enumerate(names):
            if name not in tls.publish:
                problems.add(f"tls.readers.{environment}[{index}]", f"'{name}' is not in belen:tls.publish",
                             "publish it first (readers get published certificates), or remove it")
        namespaces = sorted({namespace_of[n] for n in names if n in tls.publish and n in namespace_of})
        if len(namespaces) > 1:
            problems.add(f"tls.readers.{environment}", f"names certificates in namespaces {', '.join(namespaces)}",
                         "issue one environment's certificates in one namespace: its ClusterSecretStore reads "
                         "one remote namespace")


def check_continuous(tls: TlsSettings | None, external_secrets: ExternalSecretsSettings | None,
                     problems: Problems) -> None:
    """A continuous mirror is an ESO store and ExternalSecrets: the operator must be on this stack."""
    mirror = tls.mirror if tls else None
    if mirror is None or mirror.mode != "continuous":
        return
    if external_secrets is None:
        problems.add("tls.mirror.mode", "continuous needs the External Secrets Operator, and belen:externalSecrets "
                     "is not set", "configure belen:externalSecrets ({} installs the operator with its defaults), "
                     "or use mode stack")
        return
    if any(store.name == CONTINUOUS_STORE for store in external_secrets.stores):
        problems.add("externalSecrets.stores", f"has a store named '{CONTINUOUS_STORE}', the one belen:tls.mirror "
                     "creates in continuous mode", "rename that store")

