"""The cluster, read-only: every request `tools.status` makes is a GET (a list or a read), through the
official Kubernetes client with the stack's kubeconfig and context (client certificates, tokens, exec
plugins: whatever kubectl accepts)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from components.crypto import sealing

# (connect, read) seconds: a cluster that does not answer is reported, not waited on.
TIMEOUT = (5, 30)
# Only the metadata of Secrets in bulk: their values are not needed (and never fetched) to find owners.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

# What a status reads: name → (path of the cluster-wide list, Accept header).
LISTS = {
    "sealingKeys": (f"/api/v1/secrets?labelSelector={sealing.KEY_LABEL}", "application/json"),
    "secretMetadata": ("/api/v1/secrets", METADATA_ONLY),
    "mirrorCopies": ("/api/v1/secrets?labelSelector=belen.io/certificate", "application/json"),
    "sealedSecrets": ("/apis/bitnami.com/v1alpha1/sealedsecrets", "application/json"),
    "clusterSecretStores": ("/apis/external-secrets.io/v1/clustersecretstores", "application/json"),
    "externalSecrets": ("/apis/external-secrets.io/v1/externalsecrets", "application/json"),
    "clusterIssuers": ("/apis/cert-manager.io/v1/clusterissuers", "application/json"),
    "issuers": ("/apis/cert-manager.io/v1/issuers", "application/json"),
    "certificates": ("/apis/cert-manager.io/v1/certificates", "application/json"),
    "fluxInstances": ("/apis/fluxcd.controlplane.io/v1/fluxinstances", "application/json"),
    "gitRepositories": ("/apis/source.toolkit.fluxcd.io/v1/gitrepositories", "application/json"),
    "kustomizations": ("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations", "application/json"),
}


class KubeconfigError(Exception):
    """The kubeconfig cannot be used (missing, unreadable, no such context): a usage error."""


class Unreachable(Exception):
    """The API server did not answer, or refused us: one line naming it and what to check."""

    def __init__(self, line: str, refused: bool = False):
        self.refused = refused  # it answered and said no (401/403): waiting will not help
        super().__init__(line)


@dataclass
class Snapshot:
    """Every list `LISTS` names, as the API server answered; None for an API it does not serve."""

    lists: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)

    def items(self, name: str) -> list[dict[str, Any]]:
        return self.lists.get(name) or []

    def served(self, name: str) -> bool:
        return self.lists.get(name) is not None


class Reader:
    """One API server, read with GET only."""

    def __init__(self, kubeconfig: str | None, kubeconfig_text: str | None, context: str | None):
        configuration = k8s_client.Configuration()
        try:
            if kubeconfig_text is not None:
                loaded = yaml.safe_load(kubeconfig_text)
                if not isinstance(loaded, dict):
                    raise KubeconfigError("the stack's belen:kubeconfig is not a kubeconfig (YAML mapping) — set it "
                                          "with `pulumi config set --secret belen:kubeconfig < FILE`, or pass --kubeconfig")
                k8s_config.load_kube_config_from_dict(loaded, context=context, client_configuration=configuration,
                                                      persist_config=False)
            else:
                if kubeconfig is not None and not Path(kubeconfig).expanduser().is_file():
                    raise KubeconfigError(f"--kubeconfig {kubeconfig}: no such file — pass the cluster's kubeconfig")
                k8s_config.load_kube_config(kubeconfig, context=context, client_configuration=configuration,
                                            persist_config=False)
        except (k8s_config.ConfigException, OSError, yaml.YAMLError, TypeError, KeyError) as exc:
            where = "the stack's belen:kubeconfig" if kubeconfig_text is not None else (kubeconfig or "the default kubeconfig")
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise KubeconfigError(f"cannot use {where}{f' (context {context})' if context else ''}: {detail} — "
                                  f"check belen:kubeconfig and belen:cluster.context, or pass --kubeconfig/--context") from None
        configuration.retries = False  # one answer or one error line; --wait is the retry
        self.server = configuration.host
        self.context = context
        self._api = k8s_client.ApiClient(configuration)

    def close(self) -> None:
        self._api.close()

    def snapshot(self) -> Snapshot:
        return Snapshot({name: self.list(path, accept) for name, (path, accept) in LISTS.items()})

    def list(self, path: str, accept: str = "application/json") -> list[dict[str, Any]] | None:
        """The items of a cluster-wide list; None when its API is not served (404)."""
        answer = self.get(path, accept)
        return None if answer is None else list(answer.get("items") or [])

    def get(self, path: str, accept: str = "application/json") -> dict[str, Any] | None:
        """GET `path`: its JSON answer, None for 404. The only request this module makes."""
        method, url, headers, _, _ = self._api.param_serialize(
            "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"])
        try:
            response = self._api.call_api(method, url, headers, _request_timeout=TIMEOUT)
            body = response.read()
        except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as exc:
            raise Unreachable(f"cannot reach the API server {self.server}{self._context()}: {_reason(exc)} — check "
                              f"that the cluster is up and reachable from here, and that the stack's kubeconfig "
                              f"(or --kubeconfig/--context) points at it") from None
        status = response.status
        if status == 404:
            return None
        if status in (401, 403):
            raise Unreachable(f"the API server {self.server}{self._context()} refused to list {path.split('?')[0]} "
                              f"({status} {response.reason}) — the kubeconfig's credentials must be allowed to get and "
                              f"list these objects cluster-wide", refused=True)
        if not 200 <= status < 300:
            raise Unreachable(f"the API server {self.server}{self._context()} answered {status} {response.reason} "
                              f"to GET {path}")
        return json.loads(body)

    def _context(self) -> str:
        return f" (context {self.context})" if self.context else ""


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, on one line (urllib3 nests them; the client wraps a TLS
    failure in an ApiException whose reason is its type and message)."""
    if isinstance(exc, k8s_client.ApiException):
        return " ".join(str(exc.reason).split("\n")[-1].split())
    reason = getattr(exc, "reason", None)
    while getattr(reason, "reason", None) is not None and reason is not reason.reason:
        reason = reason.reason
    text = " ".join(str(reason or exc).split())
    # urllib3 prefixes the connection object: keep the part after it.
    return text.split(">: ", 1)[-1] if ">: " in text else text
