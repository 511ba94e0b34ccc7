"""Every `belen:*` setting declared once: its type, default, allowed values, bounds, pattern and meaning.

The parsers read settings through `reader.Node`, which takes each key's default, choices, bounds, pattern
and number coercion from here (and refuses a key this catalog does not declare: `CatalogError`, a mistake
in belen's code). `python -m tools.schema` writes `stacks/belen.schema.json` from it, and `tools.preflight
--secrets` describes secret values with it, so the editor's view, the hints and the parsers cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.charts import CHARTS
from components.settings import constants as c

_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


@dataclass(frozen=True)
class Setting:
    kind: str  # string | boolean | integer | object | list | map (user-chosen keys) | any
    doc: str
    default: Any = None  # the value used when the setting is absent, when it is a constant
    default_text: str = ""  # a default computed from other settings, in words
    required: bool = False  # required whenever its parent is set
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None  # a regular expression Python and JSON Schema (ECMA 262) read alike
    numbers: bool = False  # a string setting that also takes a number (`0`, `2.9`)
    min_items: int | None = None  # list: at least this many items; map: at least this many entries
    fields: Mapping[str, Setting] = field(default_factory=dict)  # object: its settings
    item: Setting | None = None  # list: each item; map: each value
    secret: bool = False  # a top-level secret key: set with `pulumi config set --secret`

    def at(self, path: str) -> Setting | None:
        """The setting at a config path below this one (`issuers[0].acme.email`), or None."""
        return _find(self, [int(index) if index else name for index, name in _PATH_PART.findall(path)])

    def child(self, key: str) -> Setting | None:
        """The setting a key of this object or map holds."""
        if self.kind == "object":
            return self.fields.get(key)
        return self.item if self.kind == "map" else _ANY if self.kind == "any" else None


def _find(setting: Setting, parts: list[str | int]) -> Setting | None:
    if not parts:
        return setting
    head, rest = parts[0], parts[1:]
    if setting.kind == "any":
        return setting
    if setting.kind == "list":
        return _find(setting.item, rest) if isinstance(head, int) and setting.item else None
    if setting.kind == "object":
        return _find(setting.fields[head], rest) if head in setting.fields else None
    if setting.kind == "map" and setting.item is not None:
        # A user-chosen name may hold dots (a certificate named app.example.org): try each length.
        for length in range(1, len(parts) + 1):
            if all(isinstance(part, str) for part in parts[:length]):
                found = _find(setting.item, parts[length:])
                if found is not None:
                    return found
    return None


def text(doc: str, **kw: Any) -> Setting:
    return Setting("string", doc, **kw)


def flag(doc: str, default: bool | None = None, **kw: Any) -> Setting:
    return Setting("boolean", doc, default, **kw)


def number(doc: str, default: int | None = None, **kw: Any) -> Setting:
    return Setting("integer", doc, default, **kw)


def obj(doc: str, fields: Mapping[str, Setting], **kw: Any) -> Setting:
    return Setting("object", doc, fields=fields, **kw)


def listof(doc: str, item: Setting, **kw: Any) -> Setting:
    return Setting("list", doc, item=item, **kw)


def mapof(doc: str, item: Setting, **kw: Any) -> Setting:
    return Setting("map", doc, item=item, **kw)


def free(doc: str, **kw: Any) -> Setting:
    return Setting("any", doc, **kw)


_ANY = free("any value")
DNS, NAME = c.DNS_LABEL, c.DNS_SUBDOMAIN


def duration(doc: str, default: str | None = None, **kw: Any) -> Setting:
    return text(f"{doc} (a duration such as 1m, 10m or 1h30m)", default=default, pattern=c.DURATION, **kw)


def _service_account(doc: str) -> Setting:
    return obj(doc, {
        "name": text("the service account's name", required=True, pattern=NAME),
        "namespace": text("its namespace", default_text="the operator's namespace", pattern=DNS),
    })


CLUSTER = obj("which cluster the stack manages", {
    "name": text("the cluster's name (a DNS label such as homelab); names the BelenCluster component and the default "
                 "Flux path", required=True, pattern=DNS),
    "environment": text("the environment this cluster serves (dev, prd, homelab…)", default_text="the name",
                        pattern=DNS),
    "context": text("kubeconfig context of the stack's Kubernetes provider", default_text="the current context"),
}, required=True)

SEALED_SECRETS = obj("the Sealed Secrets controller and where its keys come from", {
    "namespace": text("the controller's namespace (kubeseal's default); the key Secrets live there too",
                      default="kube-system", pattern=DNS),
    "keysFromStack": text("take the keys from that stack's sealingKeys output (a replica of it): "
                          "<organization>/<project>/<stack>", pattern=c.STACK_REF),
    "keyRenewPeriod": text("the controller's key renewal, a duration such as 720h, or 0 to turn it off; must be 0 on a "
                           "replica", default="0", numbers=True, pattern=c.RENEW_PERIOD),
    "generateKey": flag("belen generates one key once (RSA 4096, 10 years) and keeps it in state",
                        default_text="true without other keys"),
    "keyGeneration": number("raise it by one to rotate: the next up generates the next key (RSA 4096, in the state) "
                            "over every key the stack has, and the controller seals with it; never lowered (belen refuses); "
                            "1 on a replica",
                            default=1, minimum=1),
    "retireKeys": listof("fingerprints (as sealingKeyFingerprints shows them) of keys the next up deletes from the "
                         "cluster and drops from sealingKeys; never the newest; empty on a replica",
                         text("a key fingerprint", pattern=c.FINGERPRINT)),
})

INGRESS = obj("the ingress controller the cluster's Ingresses and http01 challenges go through", {
    "install": flag("install Traefik (a managed cloud or kind cluster); k3s ships its own", False),
    "className": text("the IngressClass apps and http01 solvers use; the default class when installed",
                      default=c.DEFAULT_INGRESS_CLASS, pattern=NAME),
    "serviceType": text("Traefik's Service type (NodePort for kind); only with install: true", default="LoadBalancer",
                        enum=c.SERVICE_TYPES),
    "loadBalancerIP": text("a reserved load-balancer IP address; only with serviceType LoadBalancer"),
    "annotations": mapof("annotations on Traefik's Service (cloud load-balancer options)", text("an annotation value")),
    "replicas": number("Traefik replicas; more than one gets a PodDisruptionBudget", 2, minimum=1, maximum=20),
})

_VAULT, _KUBERNETES, _AWS = "vault: ", "kubernetes: ", "aws: "
STORE = obj("a ClusterSecretStore (external-secrets.io/v1), created after the operator is ready; the fields besides "
            "name, provider, waitReady and readyTimeoutSeconds depend on the provider", {
    "name": text("the ClusterSecretStore's name; unique", required=True, pattern=NAME),
    "provider": text("vault, kubernetes, aws, fake (typed settings) or any other ESO provider key with spec; github is "
                     "refused: it is write-only", required=True, enum=tuple(sorted(c.ESO_PROVIDERS - {"github"}))),
    "waitReady": flag("pulumi up waits until ESO reports the store Ready", True),
    "readyTimeoutSeconds": number("how long to wait for Ready; only with waitReady: true", 300, minimum=10,
                                  maximum=3600),
    "server": text(f"{_VAULT}Vault's http(s) address; {_KUBERNETES}the remote API server's https URL",
                   pattern=c.HTTP_URL),
    "caBundle": text("vault, kubernetes: CA certificate(s) of the server (PEM)", default_text="the system trust store"),
    "path": text(f"{_VAULT}the KV mount, e.g. secret (without /data: ESO adds it for v2)"),
    "version": text(f"{_VAULT}the KV engine version", default="v2", enum=("v1", "v2")),
    "remoteNamespace": text(f"{_KUBERNETES}the remote namespace whose Secrets the store reads", default="default",
                            pattern=DNS),
    "service": text(f"{_AWS}which AWS service", enum=("SecretsManager", "ParameterStore")),
    "region": text(f"{_AWS}the AWS region, e.g. eu-west-1", pattern=c.AWS_REGION),
    "role": text(f"{_AWS}an IAM role ARN to assume", pattern=c.AWS_ROLE),
    "data": listof("fake: static entries (local stack, demos)", obj("an entry", {
        "key": text("the key ExternalSecrets read", required=True, numbers=True),
        "value": text("the entry's value", required=True, numbers=True),
        "version": text("the entry's version", numbers=True),
    }), min_items=1),
    "spec": free("any other provider: its block under spec.provider.<provider>, passed through; every Secret or CA "
                 "reference in it needs namespace"),
    "auth": obj("how the store authenticates", {
        "method": text("vault: token | kubernetes; kubernetes: token | cert | serviceAccount; aws: accessKey | "
                       "serviceAccount (IRSA) | sdk (the SDK default chain)", required=True),
        "role": text("vault kubernetes auth: the Vault role"),
        "mountPath": text("vault kubernetes auth: the auth mount", default="kubernetes"),
        "serviceAccount": _service_account("the service account whose token is used (vault: default the controller's "
                                           "own token; else required)"),
    }),
})

EXTERNAL_SECRETS = obj("the External Secrets Operator and its ClusterSecretStores", {
    "namespace": text("the operator's own namespace (not default or kube-*)", default=c.ESO_NAMESPACE, pattern=DNS),
    "stores": listof("ClusterSecretStores", STORE),
})

ISSUER = obj("a ClusterIssuer: a name and exactly one of selfSigned, ca, acme", {
    "name": text("the ClusterIssuer's name, unique; certificates and issuedBy refer to it", required=True, pattern=DNS),
    c.ISSUER_KINDS[0]: obj("a self-signed issuer (e.g. the root a ca issuer chains from)", {}),
    c.ISSUER_KINDS[1]: obj("a CA issuer: its key pair comes from belen:caKeyPair.<name> or issuedBy (exactly one)", {
        "issuedBy": text("a selfSigned or ca issuer that signs this CA", pattern=DNS),
        "commonName": text("the issued CA certificate's common name (only with issuedBy)",
                           default_text="the issuer's name"),
        "duration": duration("the issued CA certificate's lifetime, at least 1h (only with issuedBy)"),
    }),
    c.ISSUER_KINDS[2]: obj("an ACME issuer such as Let's Encrypt", {
        "email": text("the ACME account's address; Let's Encrypt sends expiry notices to it", required=True,
                      pattern=c.EMAIL),
        "server": text("letsencrypt, letsencrypt-staging or the https:// URL of an ACME directory", required=True,
                       pattern=c.ACME_SERVER),
        "accountKeySecretName": text("the Secret (in cert-manager) the ACME account key is kept in",
                                     default_text="<name>-account-key", pattern=NAME),
        "caBundle": text("the CA certificate(s) of a private ACME server's TLS certificate (PEM)",
                         default_text="the system trust store"),
        "http01": obj("solve http01 challenges (give exactly one of http01, dns01)", {
            "ingressClass": text("the ingress class that serves the challenge", default=c.DEFAULT_INGRESS_CLASS,
                                 pattern=NAME),
        }),
        "dns01": obj("solve dns01 challenges; the API token comes from belen:acmeCredentials.<name>.apiToken", {
            "provider": text("the DNS provider", required=True, enum=("cloudflare",)),
        }),
    }),
})

CERTIFICATE = obj("a Certificate; pulumi up waits until it is issued", {
    "name": text("the Certificate's name, unique across all certificates", required=True, pattern=NAME),
    "namespace": text("where the Certificate and its Secret go", required=True, pattern=DNS),
    "dnsNames": listof("the DNS names the certificate is for; *. wildcards need a dns01, selfSigned or ca issuer",
                       text("a DNS name", pattern=c.DNS_NAME), required=True, min_items=1),
    "issuer": text("the ClusterIssuer that signs it", required=True),
    "secretName": text("the kubernetes.io/tls Secret cert-manager writes; unique per namespace",
                       default_text="<name>-tls", pattern=NAME),
    "duration": duration("the certificate's lifetime, at least 1h", default_text="2160h (cert-manager)"),
    "renewBefore": duration("how long before expiry cert-manager renews, at least 5m and shorter than the duration",
                            default_text="a third of the duration (cert-manager)"),
})

CERT_MANAGER = obj("cert-manager: ClusterIssuers and the Certificates they issue", {
    "certificateTimeoutSeconds": number("how long pulumi up waits for each ClusterIssuer and Certificate to be Ready",
                                        600, minimum=60),
    "issuers": listof("the ClusterIssuers", ISSUER),
    "certificates": listof("Certificates from the issuers above", CERTIFICATE),
})

FLUX = obj("Flux: the GitOps repository and how it is synced", {
    "git": obj("the GitOps repository", {
        "url": text("https://…, ssh://…, git@host:path or http://… (allowed with a warning, never with a password)",
                    required=True, pattern=c.GIT_URL),
        "branch": text("the branch Flux follows", default="main", pattern=c.BRANCH),
        "interval": duration("how often Flux fetches", "1m"),
    }, required=True),
    "path": text("the folder the main Kustomization (flux-system) applies", default_text="./clusters/<cluster name>"),
    "interval": duration("how often the Kustomizations reconcile", "10m"),
    "version": text("the Flux version or semver range the FluxInstance asks for, e.g. 2.9.x", default=c.FLUX_VERSION,
                    numbers=True, pattern=c.FLUX_VERSION_RANGE),
    "substitute": mapof("postBuild.substitute values besides cluster_name and environment (which belen sets)",
                        text("a substituted value", numbers=True)),
    "kustomizations": listof("extra Kustomizations", obj("a Kustomization", {
        "name": text("its name", required=True, pattern=NAME),
        "path": text("the folder of the repository it applies", required=True),
        "dependsOn": listof("names of other belen:flux.kustomizations", text("a Kustomization name")),
        "prune": flag("delete what leaves the repository", True),
    })),
    "receiver": obj("a GitHub webhook Receiver; its token is generated (output fluxWebhookToken)", {
        "enabled": flag("false: no Receiver", True),
    }),
})

MIRROR = obj("environments: the certificates copied from the ops stack", {
    "fromStack": text("the stack that publishes the certificates (ops): <organization>/<project>/<stack>",
                      required=True, pattern=c.STACK_REF),
    "certificates": mapof("certificate name → where its copy goes", obj("a mirrored certificate", {
        "namespaces": listof("where the copy is written", text("a namespace", pattern=DNS), required=True,
                             min_items=1),
        "secretName": text("the copies' Secret name", default_text="<name>-tls", pattern=NAME),
    }), required=True, min_items=1),
    "warnDays": number("warn when a mirrored certificate expires sooner", 21, minimum=0, maximum=365),
    "createNamespaces": flag("create (and retain) the namespaces", True),
    "mode": text("stack: belen writes the copies at each pulumi up; continuous: ESO pulls them from ops "
                 "(needs belen:externalSecrets)", default="stack", enum=c.TLS_MODES),
    "refreshInterval": duration("continuous: how often ESO syncs each certificate, not zero", "5m"),
})

TLS = obj("TLS distribution: ops publishes certificates, environments mirror them", {
    "publish": listof("ops: certificates of belen:certManager.certificates to export in tlsCertificates",
                      text("a certificate name")),
    "mirror": MIRROR,
    "readers": mapof("ops: environment → the published certificates its reader may get",
                     listof("certificate names", text("a certificate name", pattern=NAME), min_items=1)),
    "apiServer": obj("ops: its API server as the environments reach it (required with readers)", {
        "url": text("the https:// URL", required=True, pattern=c.HTTPS_URL),
        "caBundle": text("the CA certificate(s) of that API server (PEM)", required=True),
    }),
})

CHART = obj("where the chart comes from", {
    "repository": text("another chart repository or OCI registry path (https://…, oci://… or http://… with a warning)",
                       default_text="the pin's", pattern=c.REPOSITORY),
    "path": text("a local chart directory or .tgz, absolute or relative to the project root; not with repository"),
    "version": text("another exact chart version (1.2.3); with path it must equal the chart's",
                    default_text="the pin's", pattern=c.EXACT_VERSION),
    "values": free("chart values deep-merged over belen's; some keys are refused"),
})

IMAGES = obj("where images come from", {
    "registry": text("pull every image from this mirror: host[:port][/path]", default_text="upstream registries",
                     pattern=c.REGISTRY),
    "pullSecret": text("the name of the pull Secret made from belen:imagePullSecret; only with it",
                       default="belen-image-pull", pattern=NAME),
})

PEM_PAIR = obj("a key pair", {
    "cert": text("the certificate (PEM)", required=True),
    "key": text("the unencrypted private key (PEM)", required=True),
})

GIT_AUTH = obj("Git credentials, stored as a Secret in flux-system: identity + knownHosts (SSH) or username + password "
               "(HTTPS)", {
    "identity": text("the SSH deploy key's private key (OpenSSH or PEM, without a passphrase)"),
    "knownHosts": text("the Git host's public keys (what ssh-keyscan <git host> prints)"),
    "username": text("the HTTPS user name"),
    "password": text("the HTTPS password or token"),
}, secret=True)

# The top level: plain settings, one object per platform area, then secret material under its own keys.
SETTINGS = obj("belen's settings", {
    "cluster": CLUSTER,
    "sealedSecrets": SEALED_SECRETS,
    "ingress": INGRESS,
    "externalSecrets": EXTERNAL_SECRETS,
    "certManager": CERT_MANAGER,
    "flux": FLUX,
    "tls": TLS,
    "charts": obj("where belen's charts come from (pins in components/charts.py)", {key: CHART for key in CHARTS}),
    "images": IMAGES,
    "kubeconfig": text("kubeconfig text for the stack's provider", default_text="~/.kube/config", secret=True),
    "sealingKeys": listof("sealing keys restored from a backup, all of them (python -m tools.keys import)", PEM_PAIR,
                          secret=True, min_items=1),
    "storeCredentials": mapof("store name → what its auth reads, e.g. vault token auth → token", mapof(
        "credential name → value", text("a credential a store's auth reads, e.g. a Vault token")), secret=True),
    "caKeyPair": mapof("ca issuer name → its CA certificate (then any chain) and private key", PEM_PAIR, secret=True),
    "acmeCredentials": mapof("dns01 acme issuer name → its credentials", obj("credentials", {
        "apiToken": text("the Cloudflare API token (Zone:DNS:Edit)", required=True),
    }), secret=True),
    "gitAuth": GIT_AUTH,
    "imagePullSecret": free('registry credentials: the text of a Docker config.json ({"auths": {…}})', secret=True),
})
