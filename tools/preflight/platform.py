"""What the platform a stack builds will hold, read from its program run under the mock runtime."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from components.crypto import pem, sealing
from tools import mockrun, render
from tools.preflight.model import Obj

FLUX_KUSTOMIZE = "kustomize.toolkit.fluxcd.io"


@dataclass(frozen=True)
class Platform:
    stack: str
    objects: tuple[Obj, ...]  # every Kubernetes object belen creates, as `pulumi up` would apply it
    sealing_keys: tuple[rsa.RSAPrivateKey, ...]  # restored or taken from another stack
    generated_key: bool  # the stack generates its key: unknown offline
    ingress_class: str  # served, and the default class, whether belen installs Traefik or the cluster ships it
    ingress_installed: bool
    retired: frozenset[str] = frozenset()  # fingerprints of the keys the stack's next up deletes (retireKeys)

    @property
    def kustomizations(self) -> list[Obj]:
        return [o for o in self.objects if is_flux_kustomization(o)]


def is_flux_kustomization(obj: Obj) -> bool:
    return obj.kind == "Kustomization" and obj.group == FLUX_KUSTOMIZE


def platform_of(run: mockrun.Run, stack: str) -> Platform:
    stack_file = f"stacks/Pulumi.{stack}.yaml"
    objects, keys, generated = [], [], False
    for resource in run.resources:
        if not render.is_manifest(resource):
            continue
        obj = Obj(resource.inputs(), stack_file)
        objects.append(obj)
        if obj.kind == "Secret" and sealing.KEY_LABEL in (obj.meta.get("labels") or {}):
            key = _private_key(resource.inputs(show_secrets=True).get("data"))
            generated = generated or key is None
            keys.extend([key] if key is not None else [])
    return Platform(
        stack=stack,
        objects=tuple(objects),
        sealing_keys=tuple(keys),
        generated_key=generated,
        ingress_class=str(run.outputs["ingressClass"].value),
        ingress_installed=bool(run.outputs["ingressInstalled"].value),
        retired=frozenset(run.outputs["retiredSealingKeyFingerprints"].value or ()),
    )


def _private_key(data: Any) -> rsa.RSAPrivateKey | None:
    """The key in a key Secret's data; None when only a deployment knows it (a generated key)."""
    value = data.get("tls.key") if isinstance(data, dict) else None
    if not isinstance(value, str) or value == mockrun.UNKNOWN:
        return None
    try:
        key = pem.load_private_key(base64.b64decode(value, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, pem.PemError):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None
