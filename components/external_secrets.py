"""ExternalSecrets: the operator, then its ClusterSecretStores, in one `pulumi up` without a CRD race."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm import ChartInstaller
from components.metadata import MANAGED_BY, await_ready
from components.settings.eso_providers import (
    AwsProvider,
    FakeProvider,
    KubernetesProvider,
    Provider,
    RawProvider,
    ServiceAccount,
    VaultProvider,
)
from components.settings.external_secrets import ExternalSecretsSettings, StoreSettings

# Chart 2.x serves only v1 for stores; v1beta1 has not been served since ESO 0.17.
API_VERSION = "external-secrets.io/v1"

Ref = Callable[[str], dict[str, str]]


@dataclass(frozen=True)
class ExternalSecretsArgs:
    settings: ExternalSecretsSettings
    charts: ChartInstaller


class ExternalSecrets(pulumi.ComponentResource):
    """The operator's namespace, then the awaited release (CRDs as chart templates, so upgrades
    update them; webhook and cert-controller on), then every ClusterSecretStore with its
    credentials Secret. A store is created only once the release is ready, so its CRD exists and
    the webhook serves; by default it counts as created only once ESO reports it Ready."""

    def __init__(self, name: str, args: ExternalSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:ExternalSecrets", name, None, opts)
        self._name = name
        settings = args.settings
        self.namespace = settings.namespace
        self._namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": settings.namespace},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = args.charts.release(
            f"{name}-operator",
            "externalSecrets",
            release_name="external-secrets",
            namespace=settings.namespace,
            values={
                "installCRDs": True,
                "crds": {"createClusterSecretStore": True},
                "webhook": {"create": True},
                "certController": {"create": True},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._namespace]),
            namespace_deps=[self._namespace],
        )
        self.stores = [self._store(store) for store in settings.stores]
        # Apps synced from Git may hold ExternalSecrets: they need the CRDs and webhook, and the stores.
        self.ready: list[pulumi.Resource] = [self.release, *self.stores]
        self.exports: dict[str, pulumi.Input] = {
            "secretStores": {store.name: store.provider for store in settings.stores},
        }
        self.register_outputs(self.exports)

    def _store(self, store: StoreSettings) -> k8s.apiextensions.CustomResource:
        depends_on: list[pulumi.Resource] = [self.release]
        if store.credentials:
            depends_on.append(k8s.core.v1.Secret(
                f"{self._name}-{store.credentials_secret}",
                metadata={
                    "name": store.credentials_secret,
                    "namespace": self.namespace,
                    "labels": MANAGED_BY,
                },
                type="Opaque",
                string_data=pulumi.Output.secret(dict(store.credentials)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self._namespace]),
            ))
        metadata: dict[str, Any] = {"name": store.name}
        if store.wait_ready:
            # Ready means ESO built a client for the backend and, where the provider can check it, that the
            # credentials may read: Flux then starts on stores that work as far as ESO can tell.
            metadata["annotations"] = await_ready(store.ready_timeout_seconds)

        def ref(key: str) -> dict[str, str]:
            # A ClusterSecretStore resolves no reference without a namespace.
            return {"name": store.credentials_secret, "namespace": self.namespace, "key": key}

        return k8s.apiextensions.CustomResource(
            f"{self._name}-store-{store.name}",
            api_version=API_VERSION,
            kind="ClusterSecretStore",
            metadata=metadata,
            spec={"provider": {store.provider: provider_spec(store.config, ref, sorted(store.credentials))}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )


def provider_spec(config: Provider, ref: Ref, credentials: list[str]) -> dict[str, Any]:
    """The block under spec.provider.<provider>; `ref(key)` points at a key of the store's credentials Secret."""
    if isinstance(config, VaultProvider):
        return _vault(config, ref)
    if isinstance(config, KubernetesProvider):
        return _kubernetes(config, ref)
    if isinstance(config, AwsProvider):
        return _aws(config, ref, credentials)
    if isinstance(config, FakeProvider):
        return {"data": [{"key": e.key, "value": e.value, **({"version": e.version} if e.version else {})}
                         for e in config.data]}
    assert isinstance(config, RawProvider)
    return dict(config.spec)


def _vault(config: VaultProvider, ref: Ref) -> dict[str, Any]:
    spec: dict[str, Any] = {"server": config.server, "version": config.version}
    if config.path:
        spec["path"] = config.path
    if config.ca_bundle:
        spec["caBundle"] = _b64(config.ca_bundle)
    if config.auth == "token":
        spec["auth"] = {"tokenSecretRef": ref("token")}
    else:
        kubernetes: dict[str, Any] = {"mountPath": config.mount_path, "role": config.role}
        if config.service_account:
            kubernetes["serviceAccountRef"] = _service_account(config.service_account)
        spec["auth"] = {"kubernetes": kubernetes}
    return spec


def _kubernetes(config: KubernetesProvider, ref: Ref) -> dict[str, Any]:
    server: dict[str, Any] = {"url": config.server}
    if config.ca_bundle:
        server["caBundle"] = _b64(config.ca_bundle)
    if config.auth == "token":
        auth: dict[str, Any] = {"token": {"bearerToken": ref("token")}}
    elif config.auth == "cert":
        auth = {"cert": {"clientCert": ref("clientCert"), "clientKey": ref("clientKey")}}
    else:
        assert config.service_account
        auth = {"serviceAccount": _service_account(config.service_account)}
    return {"server": server, "remoteNamespace": config.remote_namespace, "auth": auth}


def _aws(config: AwsProvider, ref: Ref, credentials: list[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"service": config.service, "region": config.region}
    if config.role:
        spec["role"] = config.role
    if config.auth == "accessKey":
        secret_ref = {"accessKeyIDSecretRef": ref("accessKeyId"), "secretAccessKeySecretRef": ref("secretAccessKey")}
        if "sessionToken" in credentials:
            secret_ref["sessionTokenSecretRef"] = ref("sessionToken")
        spec["auth"] = {"secretRef": secret_ref}
    elif config.auth == "serviceAccount":
        assert config.service_account
        spec["auth"] = {"jwt": {"serviceAccountRef": _service_account(config.service_account)}}
    # sdk: no auth block, so ESO loads credentials through the AWS SDK's default chain.
    return spec


def _service_account(account: ServiceAccount) -> dict[str, str]:
    return {"name": account.name, "namespace": account.namespace}


def _b64(pem_text: str) -> str:
    """caBundle is []byte in ESO: base64 of the PEM text in the manifest."""
    return base64.b64encode(pem_text.encode()).decode()
