"""The sealing keys a stack generated are kept: settings that would drop one from the state are refused.

A generated key exists only in the Pulumi state (and in the clusters it was given to): whatever the
program stops registering, the engine deletes from the state, and every SealedSecret sealed with that
key is lost with it. `protect` makes the engine refuse such a delete: in a preview, or, under
`up --skip-preview` (the recovery runbook's), only when it reaches the delete, after the rest of the plan
(a renamed key's new key included) was carried out. belen's line comes first: before any resource registers, the keys in the previous state are compared with the ones these
settings register. Pure but for `held_generated_keys`, which asks the engine for the previous state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.crypto import sealing
from components.errors import SettingsError, ValueCheckError
from components.settings import Settings
from components.settings.sealed_secrets import RETIRE, SealedSecretsSettings

# The type the engine records for GeneratedSealingKey (a dynamic resource, module belen).
GENERATED_KEY_TYPE = "pulumi-python:dynamic/belen:GeneratedSealingKey"
_KEY_NAME = re.compile(r"^(?P<component>.+)-generated-key(?:-(?P<generation>\d+))?$")
_COMPONENT_SUFFIX = "-sealed-secrets"
# The engine's built-in functions that read a stack's outputs and resources from the backend.
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
READ_STACK_RESOURCES = "pulumi:pulumi:readStackResourceOutputs"


def sealed_secrets_name(cluster_name: str) -> str:
    """The SealedSecrets component's name, which every generated key's name starts with."""
    return f"{cluster_name}{_COMPONENT_SUFFIX}"


def key_name(component: str, generation: int) -> str:
    """Generation 1 keeps the name it had before generations existed, so existing stacks keep their key."""
    return f"{component}-generated-key" + ("" if generation == 1 else f"-{generation}")


def registered_key_names(cluster_name: str, settings: SealedSecretsSettings) -> list[str]:
    """The GeneratedSealingKey names these settings register (a replica registers none)."""
    if settings.keys_from_stack:
        return []
    component = sealed_secrets_name(cluster_name)
    return [key_name(component, g) for g in range(settings.first_generated, settings.key_generation + 1)]


@dataclass(frozen=True)
class HeldKey:
    """A generated key in the previous state: its resource name, generation and fingerprint."""

    name: str
    cluster_name: str | None  # None: a name belen does not derive
    generation: int
    fingerprint: str

    @classmethod
    def of(cls, name: str, cert: object) -> HeldKey:
        match = _KEY_NAME.match(name)
        component = match["component"] if match else ""
        cluster = component.removesuffix(_COMPONENT_SUFFIX) if component.endswith(_COMPONENT_SUFFIX) else None
        fingerprint = sealing.certificate_facts(cert)[0] if isinstance(cert, str) and cert else "?"
        return cls(name, cluster, int(match["generation"] or 1) if match else 0, fingerprint)


def dropped_key_lines(held: Mapping[str, object], cluster_name: str, settings: SealedSecretsSettings) -> list[str]:
    """One line per cause for the held keys (name → certificate PEM) these settings would not register."""
    kept = set(registered_key_names(cluster_name, settings))
    dropped = [HeldKey.of(name, cert) for name, cert in sorted(held.items()) if name not in kept]
    if not dropped:
        return []
    renamed = sorted({k.cluster_name for k in dropped if k.cluster_name not in (None, cluster_name)})
    if renamed:
        return [f"belen:cluster.name: is {cluster_name}, but this stack's sealing keys were generated under "
                f"{' and '.join(renamed)} (their names in the state derive from it), and a new name would drop them "
                f"from the state ({_fingerprints(dropped)}) — set it back to {renamed[0]}"]
    if settings.keys_from_stack:
        return [f"belen:sealedSecrets.keysFromStack: is set, but this stack holds {len(dropped)} sealing key(s) it "
                f"generated ({_fingerprints(dropped)}), which a replica would drop from its state — remove "
                f"keysFromStack: a replica is a stack of its own"]
    lines = []
    higher = [k for k in dropped if k.generation > settings.key_generation]
    if higher:
        top = max(k.generation for k in higher)
        lines.append(f"belen:sealedSecrets.keyGeneration: is {settings.key_generation}, lower than this stack's "
                     f"generation {top}: it would drop the private key of {_generations(higher)} from the state "
                     f"({_fingerprints(higher)}), and every SealedSecret sealed with it — set it back to {top} (to "
                     f"stop using a key, list its fingerprint in belen:{RETIRE})")
    below = [k for k in dropped if k not in higher]
    if below:
        lines.append(f"belen:sealingKeys: restoring keys into a stack that generated its own would drop "
                     f"{_generations(below)} from the state ({_fingerprints(below)}) — remove belen:sealingKeys: "
                     f"this stack's own keys are in its state (add keys with belen:sealedSecrets.keyGeneration)")
    return lines


def _fingerprints(keys: list[HeldKey]) -> str:
    return "fingerprint " + ", ".join(k.fingerprint[:16] for k in keys)


def _generations(keys: list[HeldKey]) -> str:
    numbers = sorted(k.generation for k in keys)
    return ("generation " if len(numbers) == 1 else "generations ") + ", ".join(map(str, numbers))


def held_generated_keys() -> dict[str, object]:
    """The generated sealing keys in this stack's state as the previous update left it: name → certificate.

    Read before anything registers, from the backend through the engine. A stack whose updates never
    finished (a first `up`) has none that count: its key, if any, was never given to a controller.
    """
    stack = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    # A stack that never finished an update has no outputs, and maybe no state at all, which the engine's
    # resource read does not survive (v3.274 dereferences the missing snapshot): outputs first.
    if not (_read_state(READ_STACK_OUTPUTS, {"name": stack}, stack) or {}).get("outputs"):
        return {}
    resources = _read_state(READ_STACK_RESOURCES, {"stackName": stack}, stack) or {}
    return {urn.rsplit("::", 1)[-1]: (entry.get("outputs") or {}).get("cert")
            for urn, entry in (resources.get("outputs") or {}).items()
            if isinstance(entry, dict) and entry.get("type") == GENERATED_KEY_TYPE}


def _read_state(function: str, args: dict[str, str], stack: str, attempts: int = 10) -> dict | None:
    """One of the engine's stack reads. The file backend rewrites the checkpoint's metadata in place while
    the update saves its first step (gocloud fileblob), and a read that meets it half-written fails with
    "failed to load checkpoint: EOF": read again. Anything else, or a read that keeps failing, is one line."""
    attempt = 1
    while True:
        try:
            return pulumi.runtime.invoke(function, args).value
        except Exception as exc:  # noqa: BLE001 - whatever the backend answered, one line and nothing registered
            if "failed to load checkpoint" not in str(exc) or attempt == attempts:
                raise ValueCheckError([f"belen could not read stack {stack}'s state from its backend, which it "
                                       f"checks before anything registers so that no sealing key is dropped ({exc}) "
                                       "— check `pulumi stack export` works, then run the command again"]) from None
        time.sleep(0.1 * attempt)
        attempt += 1


def refuse_dropped_keys(settings: Settings, held: dict[str, object]) -> None:
    """Settings that would drop a generated sealing key from the state stop here, before any resource
    registers (components.kept_keys says why the engine's `protect` alone comes too late)."""
    lines = dropped_key_lines(held, settings.cluster.name, settings.sealed_secrets)
    if lines:
        raise SettingsError(lines)
