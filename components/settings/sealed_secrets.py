"""`belen:sealedSecrets` and the secret `belen:sealingKeys`: where the controller's keys come from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from components.crypto.sealing import FINGERPRINT, SealingKey, check_key_list, newest_key
from components.settings.reader import Node, Problems

RETIRE = "sealedSecrets.retireKeys"
RAISE_FIRST = ("raise belen:sealedSecrets.keyGeneration and re-seal the repository to the new sealingCertificate "
               "(python -m tools.keys reseal) first; retire the key after that")


@dataclass(frozen=True)
class SealedSecretsSettings:
    namespace: str
    key_renew_period: str  # always a string: the chart drops a numeric 0 and renews every 30 days
    keys: tuple[SealingKey, ...]  # restored from belen:sealingKeys, checked
    keys_from_stack: str | None
    generate_key: bool
    key_generation: int = 1  # generated keys: 1 (generateKey's) or 2 (the first over restored keys) up to this
    retire_keys: tuple[str, ...] = ()  # fingerprints of keys dropped from the cluster and the outputs
    warnings: tuple[str, ...] = ()  # logged when the controller is installed

    @property
    def first_generated(self) -> int:
        """The generation of the first key belen generates: restored keys are generation 1."""
        return 2 if self.keys else 1

    @property
    def rotates(self) -> bool:
        """Keys were added or retired since generation 1: the controller restarts on each change."""
        return self.key_generation > 1 or bool(self.retire_keys)


def parse_sealed_secrets(node: Node, sealing_keys: Any, now: dt.datetime) -> SealedSecretsSettings:
    problems = node.problems
    namespace = node.str("namespace", todo="set it to a namespace name (kubeseal expects kube-system)")
    keys_from_stack = node.str("keysFromStack",
                               todo="write it as <organization>/<project>/<stack>, e.g. organization/belen/homelab")
    renew = node.str("keyRenewPeriod", todo="write a duration such as 720h, or 0 to turn renewal off")
    explicit_generate = node.raw("generateKey") is not None
    generate = node.bool("generateKey")
    if generate is None:
        generate = keys_from_stack is None and sealing_keys is None
    generation = node.int("keyGeneration")
    retire = _retire_keys(node)
    node.done()

    keys = _restored_keys(sealing_keys, now, problems)
    warnings = []
    if sealing_keys is not None and keys_from_stack:
        problems.add("sealedSecrets.keysFromStack", "cannot be combined with belen:sealingKeys",
                     "choose one source of keys: remove belen:sealingKeys or keysFromStack")
    if explicit_generate and generate and (sealing_keys is not None or keys_from_stack):
        problems.add("sealedSecrets.generateKey", "is true but keys are restored from "
                     + ("belen:sealingKeys" if sealing_keys is not None else "keysFromStack"),
                     "remove generateKey: a cluster with restored keys must not mint its own")
    if sealing_keys is None and not keys_from_stack and not generate:
        problems.add("sealedSecrets.generateKey", "is false and no keys are configured",
                     "set belen:sealingKeys (restore a backup), belen:sealedSecrets.keysFromStack, or generateKey: true")
    if keys_from_stack:
        _replica_rules(keys_from_stack, renew, generation, retire, problems)
    elif renew != "0":
        warnings.append(f"belen:sealedSecrets.keyRenewPeriod: is {renew} — the keys the controller mints are not in "
                        f"the state, so a replica (keysFromStack) cannot open what they seal; set it to 0 and rotate "
                        f"with belen:sealedSecrets.keyGeneration")
    settings = SealedSecretsSettings(
        namespace=namespace,
        key_renew_period=renew,
        keys=tuple(keys),
        keys_from_stack=keys_from_stack,
        generate_key=generate and sealing_keys is None and not keys_from_stack,
        key_generation=generation,
        retire_keys=tuple(retire),
        warnings=tuple(warnings),
    )
    if not keys_from_stack and (keys or settings.generate_key):
        _check_retirement_offline(settings, problems)
    return settings


def _retire_keys(node: Node) -> list[str]:
    found: list[str] = []
    for path, item in node.items("retireKeys"):
        if not isinstance(item, str) or not FINGERPRINT.match(item.lower()):
            node.problems.add(path, "is not a key fingerprint (64 hexadecimal digits)",
                              "copy it from `pulumi stack output sealingKeyFingerprints`")
        elif item.lower() in found:
            node.problems.add(path, f"is listed twice (item {found.index(item.lower())})", "list each key once")
        else:
            found.append(item.lower())
    return found


def _replica_rules(source: str, renew: str | None, generation: int, retire: list[str], problems: Problems) -> None:
    """A replica holds exactly its primary's keys: it neither mints, generates nor retires any."""
    if renew != "0":
        problems.add("sealedSecrets.keyRenewPeriod", f"is {renew} on a replica (keys come from {source})",
                     "set it to 0: a replica must not mint keys that its primary never backed up")
    if generation != 1:
        problems.add("sealedSecrets.keyGeneration", f"is {generation} on a replica (keys come from {source})",
                     f"remove it: raise keyGeneration on {source}; the replica follows its keys at its next up")
    if retire:
        problems.add(RETIRE, f"is set on a replica (keys come from {source})",
                     f"remove it: retire keys on {source}; the replica drops them at its next up")


def _check_retirement_offline(settings: SealedSecretsSettings, problems: Problems) -> None:
    """What can be known before any key is generated: the restored keys, and that the newest is never retired.

    The fingerprint of a key belen generates is known only once it exists (in the state): while a
    generated key other than the newest may be named, `retirement_problems` checks the list again
    when the keys are read back, before anything is deployed.
    """
    restored = {k.fingerprint for k in settings.keys}
    generation = settings.key_generation
    if generation < settings.first_generated:  # nothing generated: every key is known
        found = retirement_problems(settings.retire_keys, restored, newest_key(list(settings.keys)).fingerprint)
    elif generation == settings.first_generated:  # the one generated key is the newest
        where = "none of the restored keys, and" if restored else "not retirable:"
        found = [(index, f"{fingerprint[:16]}… is {where} the one key belen generates (generation {generation}) "
                         f"is the newest, the one the controller seals with", RAISE_FIRST)
                 for index, fingerprint in enumerate(settings.retire_keys) if fingerprint not in restored]
    else:
        return
    for index, what, todo in found:
        problems.add(f"{RETIRE}[{index}]", what, todo)


def retirement_problems(retire: Sequence[str], known: Collection[str], newest: str) -> list[tuple[int, str, str]]:
    """(index, what, todo) for each retireKeys entry that names the newest key or none of the stack's keys."""
    found = []
    for index, fingerprint in enumerate(retire):
        if fingerprint == newest:
            found.append((index, f"{fingerprint[:16]}… is the newest key, the one the controller seals with",
                          RAISE_FIRST))
        elif fingerprint not in known:
            found.append((index, f"{fingerprint[:16]}… is none of the stack's keys",
                          "copy the fingerprint from `pulumi stack output sealingKeyFingerprints`, or remove it"))
    return found


def _restored_keys(sealing_keys: Any, now: dt.datetime, problems: Problems) -> list[SealingKey]:
    if sealing_keys is None:
        return []
    keys, found = check_key_list(sealing_keys, now)
    for problem in found:
        problems.add(problem.path("sealingKeys"), problem.what, problem.todo)
    return keys
