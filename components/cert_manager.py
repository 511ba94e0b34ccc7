"""CertManager: the cert-manager release, then ClusterIssuers, then Certificates `pulumi up` waits for."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm import ChartInstaller
from components.metadata import MANAGED_BY, await_ready
from components.settings.cert_manager import CertificateSettings, CertManagerSettings
from components.settings.issuers import AcmeIssuer, CaIssuer, Issuer
from components.settings.constants import BUILT_IN_NAMESPACES

# The chart's values schema is closed: a mistyped key fails the install (tests check every key passed).
VALUES = {
    # Not the deprecated installCRDs; keep the CRDs when the release goes, or every Certificate would go with them.
    "crds": {"enabled": True, "keep": True},
    # The post-install hook that waits until the webhook answers: the release returns only after it, so no
    # issuer meets the first-install `x509`/`connection refused` webhook failure.
    "startupapicheck": {"enabled": True},
}
API_VERSION = "cert-manager.io/v1"
API_TOKEN_KEY = "api-token"


@dataclass(frozen=True)
class CertManagerArgs:
    settings: CertManagerSettings
    charts: ChartInstaller
    # Certificates whose issuer solves http01 depend on these (the ingress controller serving the challenge).
    http01_dependencies: Sequence[pulumi.Resource] = field(default_factory=tuple)


class CertManager(pulumi.ComponentResource):
    """The release returns once its startupapicheck hook saw the webhook answer; each ClusterIssuer depends on
    it (and on its credentials), each Certificate on its issuer and namespace. Issuers and certificates carry
    `pulumi.com/waitFor: condition=Ready`, so `pulumi up` returns only once they are ready and issued."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:CertManager", name, None, opts)
        self._name = name
        self._settings = settings = args.settings
        self._await = await_ready(settings.certificate_timeout_seconds)
        self._namespace = namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": settings.namespace}, opts=pulumi.ResourceOptions(parent=self))
        self.release = args.charts.release(
            f"{name}-release",
            "certManager",
            release_name="cert-manager",
            namespace=settings.namespace,
            values=VALUES,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
            namespace_deps=[namespace],
            # The hook above proves what the issuers need (the webhook answers), and each issuer's and
            # Certificate's Ready proves the controller: a wait on the Deployments before the hook would prove
            # less, later (Helm 3 polls them every 2 s).
            await_workloads=False,
        )
        self._issuers: dict[str, k8s.apiextensions.CustomResource] = {}
        for issuer in settings.issuers:
            self._cluster_issuer(issuer)

        namespaces = {settings.namespace: namespace}
        for ns in sorted({c.namespace for c in settings.certificates} - namespaces.keys() - BUILT_IN_NAMESPACES):
            namespaces[ns] = k8s.core.v1.Namespace(
                f"{name}-namespace-{ns}",
                metadata={"name": ns},
                # Apps may live there too: never delete it with the stack.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
        self.certificates: dict[str, pulumi.CustomResource] = {}
        for certificate in settings.certificates:
            depends_on = [self._issuers[certificate.issuer]]
            if certificate.namespace in namespaces:
                depends_on.append(namespaces[certificate.namespace])
            issuer = settings.issuer(certificate.issuer)
            if isinstance(issuer, AcmeIssuer) and issuer.solver == "http01":
                depends_on.extend(args.http01_dependencies)
            self.certificates[certificate.name] = self._certificate(
                f"{name}-certificate-{certificate.name}", certificate.name, certificate.namespace,
                _certificate_spec(certificate), depends_on)

        # Flux starts once every issuer is Ready and every Certificate issued: apps find their Secrets.
        self.ready: list[pulumi.Resource] = [*self._issuers.values(), *self.certificates.values()]
        self.exports: dict[str, pulumi.Input] = {
            "clusterIssuers": [issuer.name for issuer in settings.issuers],
            "certificates": {c.name: {"namespace": c.namespace, "secretName": c.secret_name}
                             for c in settings.certificates},
        }
        self.register_outputs(self.exports)

    def _cluster_issuer(self, issuer: Issuer) -> k8s.apiextensions.CustomResource:
        """The issuer's ClusterIssuer, made once; a chained CA's signer is made first."""
        if issuer.name in self._issuers:
            return self._issuers[issuer.name]
        depends_on: list[pulumi.Resource] = [self.release]
        if isinstance(issuer, CaIssuer):
            spec: dict[str, Any] = {"ca": {"secretName": issuer.secret_name}}
            if issuer.key_pair:
                depends_on.append(self._secret(f"{self._name}-ca-key-pair-{issuer.name}", issuer.secret_name,
                                               "kubernetes.io/tls",
                                               {"tls.crt": issuer.key_pair.cert_pem, "tls.key": issuer.key_pair.key_pem}))
            else:
                signer = self._cluster_issuer(self._settings.issuer(issuer.issued_by))
                ca_spec = {
                    "isCA": True,
                    "commonName": issuer.common_name,
                    "secretName": issuer.secret_name,
                    "issuerRef": _issuer_ref(issuer.issued_by),
                    **({"duration": issuer.duration} if issuer.duration else {}),
                }
                depends_on.append(self._certificate(f"{self._name}-ca-{issuer.name}", issuer.secret_name,
                                                    self._settings.namespace, ca_spec, [signer]))
        elif isinstance(issuer, AcmeIssuer):
            if issuer.solver == "http01":
                solver: dict[str, Any] = {"http01": {"ingress": {"ingressClassName": issuer.http01_ingress_class}}}
            else:
                depends_on.append(self._secret(f"{self._name}-cloudflare-api-token-{issuer.name}",
                                               issuer.api_token_secret_name, "Opaque",
                                               {API_TOKEN_KEY: issuer.cloudflare_api_token}))
                solver = {"dns01": {"cloudflare": {"apiTokenSecretRef": {
                    "name": issuer.api_token_secret_name, "key": API_TOKEN_KEY}}}}
            spec = {"acme": {
                "email": issuer.email,
                "server": issuer.server,
                "privateKeySecretRef": {"name": issuer.account_key_secret_name},
                "solvers": [solver],
                # []byte in cert-manager's API: base64 of the PEM text.
                **({"caBundle": base64.b64encode(issuer.ca_bundle.encode()).decode()} if issuer.ca_bundle else {}),
            }}
        else:
            spec = {"selfSigned": {}}
        self._issuers[issuer.name] = k8s.apiextensions.CustomResource(
            f"{self._name}-issuer-{issuer.name}",
            api_version=API_VERSION,
            kind="ClusterIssuer",
            metadata={"name": issuer.name, "annotations": self._await},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        return self._issuers[issuer.name]

    def _certificate(self, resource_name: str, name: str, namespace: str, spec: dict[str, Any],
                     depends_on: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=API_VERSION,
            kind="Certificate",
            metadata={"name": name, "namespace": namespace, "annotations": self._await},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, *depends_on]),
        )

    def _secret(self, resource_name: str, name: str, type_: str, data: dict[str, Any]) -> k8s.core.v1.Secret:
        """A Secret in cert-manager's namespace (where ClusterIssuers read theirs), its data secret."""
        return k8s.core.v1.Secret(
            resource_name,
            metadata={"name": name, "namespace": self._settings.namespace,
                      "labels": MANAGED_BY},
            type=type_,
            data=pulumi.Output.secret({key: base64.b64encode(value.encode()).decode() for key, value in data.items()}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._namespace]),
        )


def _issuer_ref(issuer: str) -> dict[str, str]:
    return {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"}


def _certificate_spec(certificate: CertificateSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "secretName": certificate.secret_name,
        "dnsNames": list(certificate.dns_names),
        "issuerRef": _issuer_ref(certificate.issuer),
    }
    if certificate.duration:
        spec["duration"] = certificate.duration
    if certificate.renew_before:
        spec["renewBefore"] = certificate.renew_before
    return spec
