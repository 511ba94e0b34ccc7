"""What the settings catalog and the parsers share: value patterns (with their words), choices and defaults.

A leaf: it imports nothing of belen's, so the catalog, the reader and every parser can import it. Each
pattern is a regular expression Python and JSON Schema (ECMA 262) read alike, anchored at both ends.
"""

from __future__ import annotations

import re

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_GO_DURATION = r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+"
# userinfo@, then a host name, IPv4 or [IPv6] address, an optional port, then anything after /, ? or #.
_URL_REST = r"://([^\s/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)(:[0-9]*)?([/?#]\S*)?$"
# A registry host (DNS name or IPv4, optional port), then optional path components as OCI names allow.
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
# One term of a Masterminds semver constraint as a user writes it for Flux 2: 2.9.6, 2.9.x, >=2.9.0.
_FLUX_TERM = r"(=|!=|>=|<=|>|<|~|\^)?v?2(\.([0-9]+|x|\*))?(\.([0-9]+|x|\*))?"
_FLUX_TERMS = rf"[\s,]*{_FLUX_TERM}([\s,]+{_FLUX_TERM})*[\s,]*"

DNS_LABEL = rf"^{_LABEL}$"
DNS_SUBDOMAIN = r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_NAME = rf"^(?=.{{1,253}}$)(\*\.)?{_LABEL}(\.{_LABEL})*$"  # a host name, or *. in front of one
STACK_REF = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
DURATION = rf"^{_GO_DURATION}$"  # Flux/Go durations such as 1m, 10m30s, 1h
RENEW_PERIOD = rf"^(0|{_GO_DURATION})$"  # 0 turns the controller's key renewal off
HTTP_URL = rf"^https?{_URL_REST}"
HTTPS_URL = rf"^https{_URL_REST}"
ACME_SERVER = rf"^(letsencrypt|letsencrypt-staging)$|{HTTPS_URL}"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
AWS_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
AWS_ROLE = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"
SCP_LIKE = r"^(?P<user>[^\s@/]+)@(?P<host>[^\s/:]+):(?P<path>[^\s/][^\s]*)$"  # git@host:org/repo
GIT_URL = (r"^https?://[^\s/@]+(:[0-9]+)?/\S+$|^ssh://([^\s@/]+@)?[^\s/@:]+(:[0-9]+)?/\S+$|"
           r"^[^\s@/]+@[^\s/:]+:[^\s/][^\s]*$")
BRANCH = r"^[^\s~^:?*\[\\]+$"
FLUX_VERSION_RANGE = rf"^{_FLUX_TERMS}(\|\|{_FLUX_TERMS})*$"
EXACT_VERSION = r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
REPOSITORY = r"^(https|http|oci)://[^\s/@]+(:[0-9]+)?(/[^\s]*)?$"
REGISTRY = rf"^{_HOST}(?:/{_COMPONENT})*$"
FINGERPRINT = r"^[0-9a-fA-F]{64}$"  # a sealing key's, as sealingKeyFingerprints shows it

# What a value that does not match a pattern is not: `'<value>' is not <words>`.
WORDS = {
    DNS_LABEL: "a DNS label",
    DNS_SUBDOMAIN: "a valid Kubernetes name",
    DNS_NAME: "a DNS name",
    STACK_REF: "<organization>/<project>/<stack>",
    DURATION: "a duration",
    RENEW_PERIOD: "a duration",
    HTTP_URL: "an http or https URL",
    HTTPS_URL: "an https URL",
    ACME_SERVER: "letsencrypt, letsencrypt-staging or an https URL",
    EMAIL: "an email address",
    AWS_REGION: "an AWS region",
    AWS_ROLE: "an IAM role ARN",
    GIT_URL: "an https://, http://, ssh:// or git@host:path URL",
    BRANCH: "a branch name",
    FLUX_VERSION_RANGE: "a Flux 2 version or semver range",
    EXACT_VERSION: "an exact chart version",
    REPOSITORY: "an https://, oci:// or http:// address",
    REGISTRY: "a registry host with an optional path",
    FINGERPRINT: "a key fingerprint",
}
DURATION_TODO = "write a duration such as 1m, 10m or 1h30m"


def seconds(duration: str) -> float:
    """A Go duration (one DURATION matches) in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)",
                                                                          duration))


def mismatch(pattern: str, value: str) -> str | None:
    """The problem of a value that does not match `pattern`, in the table's words; None if it matches."""
    return None if re.fullmatch(pattern, value) else f"'{value}' is not {WORDS[pattern]}"


# Namespaces every cluster already has: belen never creates (and so never deletes) them.
BUILT_IN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
ISSUER_KINDS = ("selfSigned", "ca", "acme")
TLS_MODES = ("stack", "continuous")
SERVICE_TYPES = ("LoadBalancer", "NodePort")
DEFAULT_INGRESS_CLASS = "traefik"
ESO_NAMESPACE = "external-secrets"
# The Flux release the FluxInstance asks for by default: belen's pin (its CRD API versions are the
# ones belen creates and tools.preflight checks against).
FLUX_VERSION = "2.9.6"
# The keys of SecretStoreProvider in external-secrets apis/externalsecrets/v1/secretstore_types.go@02f97fc2.
ESO_PROVIDERS = frozenset({
    "akeyless", "aws", "azurekv", "barbican", "beyondtrust", "beyondtrustworkloadcredentials",
    "bitwardensecretsmanager", "chef", "cloudrusm", "conjur", "delinea", "doppler", "dvls", "fake", "fortanix",
    "gcpsm", "github", "gitlab", "ibm", "infisical", "keepersecurity", "kubernetes", "nebiusmysterybox", "ngrok",
    "onboardbase", "onepassword", "onepasswordSDK", "oracle", "ovh", "passbolt", "passworddepot", "previder",
    "pulumi", "scaleway", "secretserver", "senhasegura", "vault", "volcengine", "webhook",
    "yandexcertificatemanager", "yandexlockbox",
})
