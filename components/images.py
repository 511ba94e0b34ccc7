"""Every container image of belen's charts from one mirror, with one pull secret (`belen:images`).

Each chart names its images its own way; the keys below were read from each pinned chart's
values.yaml and templates. An image `<upstream registry>/<path>` is pulled as `<mirror>/<path>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.charts import deep_merge
from components.settings.charts import ImagesSettings

ESO_IMAGE = "ghcr.io/external-secrets/external-secrets"
FLUX_OPERATOR_IMAGE = "ghcr.io/controlplaneio-fluxcd/flux-operator"

# Chart key → the values that move every image of the chart to the mirror.
MIRRORED: dict[str, Callable[[str], dict[str, Any]]] = {
    # docker.io/bitnami/sealed-secrets-controller: image.registry + image.repository.
    "sealedSecrets": lambda mirror: {"image": {"registry": mirror}},
    # One image (docker.io/traefik) for the Deployment; Hub and marketplace images stay off.
    "traefik": lambda mirror: {"image": {"registry": mirror}},
    # The controller, webhook and cert-controller run the same image, each with its own key
    # (bitwarden-sdk-server, a subchart, is off).
    "externalSecrets": lambda mirror: {
        "image": {"repository": mirrored(ESO_IMAGE, mirror)},
        "webhook": {"image": {"repository": mirrored(ESO_IMAGE, mirror)}},
        "certController": {"image": {"repository": mirrored(ESO_IMAGE, mirror)}},
    },
    # quay.io + imageNamespace jetstack: the controller, webhook, cainjector, acmesolver (the
    # controller's --acme-http01-solver-image) and the startupapicheck hook Job.
    "certManager": lambda mirror: {"imageRegistry": mirror},
    "fluxOperator": lambda mirror: {"image": {"repository": mirrored(FLUX_OPERATOR_IMAGE, mirror)}},
}

# Chart key → the values that reference the pull Secret from every pod the chart runs.
PULL_SECRETS: dict[str, Callable[[str], dict[str, Any]]] = {
    "sealedSecrets": lambda name: {"image": {"pullSecrets": [name]}},  # names, not objects
    "traefik": lambda name: {"deployment": {"imagePullSecrets": [{"name": name}]}},
    "externalSecrets": lambda name: {"global": {"imagePullSecrets": [{"name": name}]}},
    "certManager": lambda name: {"global": {"imagePullSecrets": [{"name": name}]}},
    "fluxOperator": lambda name: {"image": {"pullSecrets": [{"name": name}]}},
}


def mirrored(upstream: str, mirror: str) -> str:
    """`ghcr.io/fluxcd` → `<mirror>/fluxcd`: the upstream path below the mirror's prefix."""
    return f"{mirror}/{upstream.split('/', 1)[1]}"


def image_values(key: str, images: ImagesSettings) -> dict[str, Any]:
    """Chart values for `belen:images`: nothing when neither a mirror nor a pull secret is set."""
    values: dict[str, Any] = {}
    if images.registry:
        values = deep_merge(values, MIRRORED[key](images.registry))
    if images.pull_secret:
        values = deep_merge(values, PULL_SECRETS[key](images.pull_secret))
    return values

