"""`belen:sealedSecrets` and the secret `belen:sealingKeys`: where the controller's keys come from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from components.crypto.sealing import SealingKey, check_key_list
from components.settings.reader import DURATION, Node, Problems, dns_label, stack_reference


@dataclass(frozen=True)
class SealedSecretsSettings:
    namespace: str
    key_renew_period: str  # always a string: the chart drops a numeric 0 and renews every 30 days
    keys: tuple[SealingKey, ...]  # restored from belen:sealingKeys, checked
    keys_from_stack: str | None
    generate_key: bool


def parse_sealed_secrets(node: Node, sealing_keys: Any, now: dt.datetime) -> SealedSecretsSettings:
    problems = node.problems
    namespace = node.str("namespace", "kube-system", todo="set it to a namespace name (kubeseal expects kube-system)",
                         check=dns_label)
    keys_from_stack = node.str(
        "keysFromStack",
        todo="write it as <organization>/<project>/<stack>, e.g. organization/belen/homelab",
        check=stack_reference,
    )
    renew = node.str(
        "keyRenewPeriod", "0", coerce_numbers=True,
        todo="write a duration such as 720h, or 0 to turn renewal off",
        check=lambda v: None if v == "0" or DURATION.match(v) else f"'{v}' is not a duration",
    )
    explicit_generate = node.raw("generateKey") is not None
    generate = node.bool("generateKey", keys_from_stack is None and sealing_keys is None)
    node.done()

    keys = _restored_keys(sealing_keys, now, problems)
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
    if keys_from_stack and renew != "0":
        problems.add("sealedSecrets.keyRenewPeriod", f"is {renew} on a replica (keys come from {keys_from_stack})",
                     "set it to 0: a replica must not mint keys that its primary never backed up")
    return SealedSecretsSettings(
        namespace=namespace or "kube-system",
        key_renew_period=renew or "0",
        keys=tuple(keys),
        keys_from_stack=keys_from_stack,
        generate_key=generate and sealing_keys is None and not keys_from_stack,
    )


def _restored_keys(sealing_keys: Any, now: dt.datetime, problems: Problems) -> list[SealingKey]:
    if sealing_keys is None:
        return []
    keys, found = check_key_list(sealing_keys, now)
    for problem in found:
        problems.add(problem.path("sealingKeys"), problem.what, problem.todo)
    return keys
