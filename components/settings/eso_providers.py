"""The provider settings of one ClusterSecretStore in `belen:externalSecrets.stores`, typed and checked.

`vault`, `kubernetes`, `aws` and `fake` are typed; any other readable ESO provider takes a raw
`spec` (its block under `spec.provider.<provider>`) after a shape check. `credentials` says which
credentials a store's auth reads from `belen:storeCredentials.<store>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from components.settings.constants import HTTPS_URL, mismatch
from components.settings.reader import Node, describe, pem_certificates

# Mappings of only these keys, with a name, are Secret/ConfigMap/ServiceAccount references.
REFERENCE_KEYS = frozenset({"name", "key", "namespace", "type", "audiences"})


@dataclass(frozen=True)
class Credentials:

    auth: str  # for messages, e.g. "vault token auth"
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    free: bool = False  # a raw spec references whatever credential names it likes

    @property
    def reads_any(self) -> bool:
        return bool(self.required or self.optional or self.free)


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    namespace: str


@dataclass(frozen=True)
class VaultProvider:
    server: str
    path: str | None
    version: str
    ca_bundle: str | None  # PEM
    auth: str  # token | kubernetes
    role: str | None  # kubernetes auth
    mount_path: str | None  # kubernetes auth
    service_account: ServiceAccount | None  # kubernetes auth; None: the ESO controller's own token


@dataclass(frozen=True)
class KubernetesProvider:
    server: str
    ca_bundle: str | None  # PEM; None: the system trust store
    remote_namespace: str
    auth: str  # token | serviceAccount | cert
    service_account: ServiceAccount | None = None


@dataclass(frozen=True)
class AwsProvider:
    service: str
    region: str
    role: str | None
    auth: str  # accessKey | serviceAccount | sdk
    service_account: ServiceAccount | None = None


@dataclass(frozen=True)
class FakeEntry:
    key: str
    value: str
    version: str | None


@dataclass(frozen=True)
class FakeProvider:
    data: tuple[FakeEntry, ...]


@dataclass(frozen=True)
class RawProvider:
    spec: Mapping[str, Any]  # spec.provider.<provider>, as written


Provider = Union[VaultProvider, KubernetesProvider, AwsProvider, FakeProvider, RawProvider]
# (required, optional) credentials of each auth method that reads any.
AUTH_CREDENTIALS = {
    ("vault", "token"): (("token",), ()),
    ("kubernetes", "token"): (("token",), ()),
    ("kubernetes", "cert"): (("clientCert", "clientKey"), ()),
    ("aws", "accessKey"): (("accessKeyId", "secretAccessKey"), ("sessionToken",)),
}


def credentials(provider: str, config: Provider) -> Credentials:
    """What a store's auth reads from belen:storeCredentials.<store>."""
    if isinstance(config, RawProvider):
        return Credentials("a raw spec", free=True)
    if isinstance(config, FakeProvider):
        return Credentials("the fake provider")
    required, optional = AUTH_CREDENTIALS.get((provider, config.auth), ((), ()))
    return Credentials(f"{provider} {config.auth} auth", required, optional)


def parse_provider(node: Node, provider: str, namespace: str) -> Provider | None:
    """The settings of a store whose `provider` is `provider`, read from the store's node."""
    parse = {"vault": _vault, "kubernetes": _kubernetes, "aws": _aws, "fake": _fake}.get(provider, _raw)
    return parse(node, provider, namespace)


def _vault(node: Node, provider: str, namespace: str) -> VaultProvider | None:
    server = node.str("server", required=True, todo="set it to Vault's address, e.g. https://vault.example.com:8200")
    version = node.str("version")
    path = node.str("path", todo="set it to the KV mount, e.g. secret", check=_vault_path(version))
    ca_bundle = _ca_bundle(node)
    auth, method = _auth(node, {"token": "a token from belen:storeCredentials",
                                "kubernetes": "a Vault Kubernetes auth role"})
    role = mount_path = service_account = None
    if method == "kubernetes":
        role = auth.str("role", required=True, todo="set it to the Vault role bound to the service account")
        mount_path = auth.str("mountPath", todo="set it to the auth mount, e.g. kubernetes")
        service_account = _service_account(auth, namespace, required=False)
    auth.done()
    node.done()
    if not server or not method or (method == "kubernetes" and not role):
        return None
    return VaultProvider(server, path, version, ca_bundle, method, role, mount_path, service_account)


def _kubernetes(node: Node, provider: str, namespace: str) -> KubernetesProvider | None:
    server = node.str("server", required=True, check=lambda v: mismatch(HTTPS_URL, v),
                      todo="set it to the remote API server, e.g. https://cloud.example.com:6443")
    ca_bundle = _ca_bundle(node)
    remote = node.str("remoteNamespace", todo="set it to the namespace to read Secrets from")
    auth, method = _auth(node, {"token": "a bearer token from belen:storeCredentials",
                                "serviceAccount": "a token of a local service account",
                                "cert": "a client certificate from belen:storeCredentials"})
    service_account = _service_account(auth, namespace, required=True) if method == "serviceAccount" else None
    auth.done()
    node.done()
    if not server or not method or (method == "serviceAccount" and not service_account):
        return None
    return KubernetesProvider(server, ca_bundle, remote, method, service_account)


def _aws(node: Node, provider: str, namespace: str) -> AwsProvider | None:
    service = node.str("service", required=True, todo="set it to SecretsManager or ParameterStore")
    region = node.str("region", required=True, todo="set it to an AWS region, e.g. eu-west-1")
    role = node.str("role", todo="set it to an IAM role ARN to assume, e.g. arn:aws:iam::123456789012:role/eso")
    auth, method = _auth(node, {"accessKey": "an access key from belen:storeCredentials",
                                "serviceAccount": "IRSA: a service account annotated with an IAM role",
                                "sdk": "the AWS SDK default chain (e.g. the node's instance role)"})
    service_account = _service_account(auth, namespace, required=True) if method == "serviceAccount" else None
    auth.done()
    node.done()
    if not service or not region or not method or (method == "serviceAccount" and not service_account):
        return None
    return AwsProvider(service, region, role, method, service_account)


def _fake(node: Node, provider: str, namespace: str) -> FakeProvider | None:
    if node.value.get("data") in (None, []):
        node.problems.add(node.child_path("data"), "is required" if node.value.get("data") is None else "is empty",
                          "list the entries, e.g. [{key: greeting, value: hello}]")
    entries: dict[tuple[str, str | None], FakeEntry] = {}
    for item in node.nodes("data"):
        key = item.str("key", todo="set it to the key ExternalSecrets read")
        value = item.str("value", todo="set it to the entry's value (a string)")
        version = item.str("version")
        item.done()
        if key is None or value is None:
            continue
        if (key, version) in entries:
            node.problems.add(item.path, f"repeats key '{key}'" + (f" version {version}" if version else ""),
                              "list each key (and version) once")
            continue
        entries[(key, version)] = FakeEntry(key, value, version)
    node.done()
    return FakeProvider(tuple(entries.values())) if entries else None


def _raw(node: Node, provider: str, namespace: str) -> RawProvider | None:
    """Providers belen does not type: the ESO block as written, with the cluster-scope rules checked."""
    spec = node.raw("spec")
    path = node.child_path("spec")
    node.done()
    todo = f"write the ESO settings of {provider} (what goes under spec.provider.{provider}) as a mapping under spec"
    if not isinstance(spec, dict) or not spec:
        what = "is required" if spec is None else f"must be a non-empty object, got {describe(spec)}"
        node.problems.add(path, what, todo)
        return None
    if provider in spec:
        node.problems.add(f"{path}.{provider}", f"nests the {provider} settings one level too deep", todo)
        return None
    missing = list(_references_without_namespace(spec, path))
    for ref in missing:
        node.problems.add(ref, "is a reference without a namespace, which a ClusterSecretStore cannot resolve",
                          f"add namespace (credentials from belen:storeCredentials are in namespace {namespace})")
    return None if missing else RawProvider(spec)


def _references_without_namespace(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        if "name" in value and set(value) <= REFERENCE_KEYS and not value.get("namespace"):
            yield path
        for key, item in value.items():
            yield from _references_without_namespace(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references_without_namespace(item, f"{path}[{index}]")


def _auth(node: Node, methods: dict[str, str]) -> tuple[Node, str | None]:
    """The store's `auth` node and its `method` (one of `methods`: method → what it uses)."""
    todo = "set auth.method to " + "; ".join(f"{m} ({what})" for m, what in methods.items())
    if not node.has("auth"):
        node.problems.add(node.child_path("auth"), "is required", todo)
        return node.node("auth"), None
    auth = node.node("auth")
    return auth, auth.str("method", choices=methods, todo=todo)


def _service_account(auth: Node, namespace: str, *, required: bool) -> ServiceAccount | None:
    account = auth.node("serviceAccount")
    if not auth.has("serviceAccount"):
        if required:
            auth.problems.add(account.path, "is required", "set serviceAccount.name (and namespace, default "
                              f"{namespace}) to the service account whose token is used")
        return None
    name = account.str("name", todo="set it to a service account name")
    account_namespace = account.str("namespace", todo="set it to a namespace name")
    account.done()
    return ServiceAccount(name, account_namespace or namespace) if name else None


def _ca_bundle(node: Node) -> str | None:
    return node.str("caBundle", todo="paste the CA certificate(s) as PEM text", check=pem_certificates)


def _vault_path(version: str | None):
    def check(value: str) -> str | None:
        if value.strip("/") != value or not value:
            return f"'{value}' starts or ends with '/'"
        if version == "v2" and value.endswith("/data"):
            return f"'{value}' ends with /data, which ESO adds itself for KV v2"
        return None

    return check
