"""TlsReaders (ops): per environment, a ServiceAccount that can `get` exactly that environment's
published certificate Secrets and nothing else, and a long-lived token for it.

The environments' continuous mirrors (ESO's `kubernetes` provider, components/tls_continuous.py)
read through these tokens. Why `get` on named Secrets is enough, see docs/tls-distribution.md "The
readers' RBAC": ESO's store validation passes on such a rule and its reads are Gets by name.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.errors import ValueCheckError
from components.metadata import MANAGED_BY
from components.settings.cert_manager import CertificateSettings
from components.settings.tls_readers import ApiServer


@dataclass(frozen=True)
class TlsReadersArgs:
    readers: Mapping[str, tuple[str, ...]]  # environment → certificates of belen:tls.publish
    api_server: ApiServer
    certificates: Mapping[str, CertificateSettings]  # the published ones, by name
    issued: Mapping[str, pulumi.Resource]  # certificate name → its awaited Certificate


def account_name(environment: str) -> str:
    return f"tls-reader-{environment}"


def read_rule(certificates: list[CertificateSettings]) -> dict[str, Any]:
    """The reader's one rule: get, on these Secrets by name. No list or watch (ESO reads by name),
    no other resource, no wildcard."""
    return {"apiGroups": [""], "resources": ["secrets"],
            "resourceNames": sorted({c.secret_name for c in certificates}), "verbs": ["get"]}


class TlsReaders(pulumi.ComponentResource):
    def __init__(self, name: str, args: TlsReadersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:TlsReaders", name, None, opts)
        access: dict[str, dict[str, Any]] = {}  # environment → where and what it reads
        token_data: dict[str, pulumi.Output[Any]] = {}  # environment → its token Secret's data
        self.ready: list[pulumi.Resource] = []  # each token: it comes after its account, Role and binding
        for environment, names in sorted(args.readers.items()):
            certificates = [args.certificates[n] for n in names]
            namespace = certificates[0].namespace  # one per environment (settings check)
            account = account_name(environment)
            metadata = {"name": account, "namespace": namespace, "labels": {**MANAGED_BY, "belen.io/reader": environment}}
            # The Certificates' namespace exists once they are issued.
            issued = pulumi.ResourceOptions(parent=self, depends_on=[args.issued[n] for n in names])
            service_account = k8s.core.v1.ServiceAccount(
                f"{name}-{environment}", metadata=metadata,
                automount_service_account_token=False,  # no pod runs as it: only its token is used, elsewhere
                opts=issued)
            role = k8s.rbac.v1.Role(f"{name}-{environment}", metadata=metadata, rules=[read_rule(certificates)], opts=issued)
            binding = k8s.rbac.v1.RoleBinding(
                f"{name}-{environment}", metadata=metadata,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
                subjects=[{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account, role]))
            # A long-lived token: the token controller fills `data`, and pulumi-kubernetes waits until it has.
            # Published only once the binding exists, so the environment never holds a token that reads nothing.
            token = k8s.core.v1.Secret(
                f"{name}-{environment}-token",
                metadata={**metadata, "name": f"{account}-token",
                          "annotations": {"kubernetes.io/service-account.name": account}},
                type="kubernetes.io/service-account-token",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[binding]))
            access[environment] = {"server": args.api_server.url, "caBundle": args.api_server.ca_bundle,
                                   "namespace": namespace, "secrets": {c.name: c.secret_name for c in certificates}}
            token_data[environment] = token.data
            self.ready.append(token)
        self.exports: dict[str, pulumi.Input] = {
            "tlsReaders": pulumi.Output.secret(pulumi.Output.all(**token_data).apply(
                lambda data: readers_output(access, data))),
        }
        self.register_outputs(self.exports)


def readers_output(access: Mapping[str, dict[str, Any]], token_data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`tlsReaders`: environment → {server, caBundle, namespace, secrets, token}; one error naming every
    environment whose token Secret holds no token."""
    readers, problems = {}, []
    for environment, entry in access.items():
        encoded = (token_data.get(environment) or {}).get("token")
        if not encoded:
            where = f"-n {entry['namespace']} {account_name(environment)}-token"
            problems.append(f"belen:tls.readers.{environment}: the token Secret {entry['namespace']}/"
                            f"{account_name(environment)}-token holds no token — check that the token controller "
                            f"runs (`kubectl describe secret {where}`)")
            continue
        readers[environment] = {**entry, "token": base64.b64decode(encoded).decode()}
    if problems:
        raise ValueCheckError(problems)
    return readers
