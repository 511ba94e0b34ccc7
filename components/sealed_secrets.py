"""SealedSecrets: the controller, started only after its keys exist — restored, generated generation by
generation, or a primary's — and after the Secrets of retired keys are gone."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.crypto import sealing
from components.errors import ValueCheckError
from components.generated_sealing_key import GeneratedSealingKey
from components.helm import ChartInstaller
from components.kept_keys import key_name
from components.metadata import MANAGED_BY
from components.retired_sealing_key import RetiredSealingKey
from components.settings.cluster import ClusterSettings
from components.settings.sealed_secrets import RETIRE, SealedSecretsSettings, retirement_problems

CONTROLLER_NAME = "sealed-secrets-controller"  # kubeseal's default --controller-name
# On the controller's pod template once keys rotate: the active keys. The controller loads key
# Secrets only at start-up (its --watch-for-secrets is off, and it never forgets a deleted one), so
# a new or retired key must restart it: a changed pod template rolls the Deployment.
ROLLOUT_ANNOTATION = "belen.io/sealing-keys"


@dataclass(frozen=True)
class SealedSecretsArgs:
    settings: SealedSecretsSettings
    charts: ChartInstaller
    cluster: ClusterSettings  # a retired key's Secret is deleted with the stack's kubeconfig and context


@dataclass
class _Keys:
    """The keys the controller gets, and what waits for them; plain where settings give them."""

    resources: Any  # key Secrets and deletions of retired ones: list or Output of a list
    pairs: pulumi.Output[list[dict[str, str]]]  # every active key, {cert, key}
    fingerprints: pulumi.Output[list[str]]
    certificate: pulumi.Output[str]  # the newest key's: the controller seals with it
    generation: pulumi.Output[int]
    retired: pulumi.Output[list[str]]
    rotates: pulumi.Output[bool]  # keys were added or retired since generation 1


class SealedSecrets(pulumi.ComponentResource):
    """Key Secrets first (labelled active, typed kubernetes.io/tls, retained on delete), then the
    controller release, which depends on every one of them: the controller reads keys once at
    start-up and mints its own if it finds none."""

    def __init__(self, name: str, args: SealedSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:SealedSecrets", name, None, opts)
        self._name = name
        self._cluster = args.cluster
        settings = args.settings
        self.namespace = settings.namespace
        self._namespace_deps: list[pulumi.Resource] = []
        if settings.namespace != "kube-system":
            self._namespace_deps.append(k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": settings.namespace},
                # Deleting the namespace would delete the keys in it (retained like them, not protected).
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            ))
        keys = self._replica_keys(settings.keys_from_stack) if settings.keys_from_stack else self._own_keys(settings)
        self.sealing_keys = pulumi.Output.secret(keys.pairs)
        self.sealing_certificate = keys.certificate
        self.fingerprints = keys.fingerprints

        base = {"fullnameOverride": CONTROLLER_NAME, "namespace": settings.namespace,
                "keyrenewperiod": settings.key_renew_period}
        # Without rotation the values stay as they were before keyGeneration existed: no restart on upgrade.
        values: Any = base
        if settings.keys_from_stack:  # a replica rotates when its primary does
            values = pulumi.Output.all(keys.rotates, keys.fingerprints).apply(
                lambda args: with_rollout(base, rollout_value(args[1])) if args[0] else base)
        elif settings.rotates:
            values = with_rollout(base, keys.fingerprints.apply(rollout_value))
        self.release = args.charts.release(
            f"{name}-controller",
            "sealedSecrets",
            release_name="sealed-secrets",
            namespace=settings.namespace,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=keys.resources),
            namespace_deps=self._namespace_deps,
        )
        for warning in settings.warnings:
            pulumi.log.warn(warning, resource=self.release)
        self.ready: list[pulumi.Resource] = [self.release]
        self.exports = {
            "sealingCertificate": self.sealing_certificate,
            "sealingKeyFingerprints": self.fingerprints,
            "sealingKeys": self.sealing_keys,
            "sealingKeyGeneration": keys.generation,
            "retiredSealingKeyFingerprints": keys.retired,
        }
        self.register_outputs(self.exports)

    # --- a primary: restored keys (generation 1) and generated ones -------------------------------

    def _own_keys(self, settings: SealedSecretsSettings) -> _Keys:
        retire = set(settings.retire_keys)
        resources: list[pulumi.Resource] = []
        deferred: list[pulumi.Output[list[pulumi.Resource]]] = []  # decided once generated fingerprints are read
        pairs: list[Any] = []
        fingerprints: list[Any] = []
        for key in settings.keys:
            if key.fingerprint in retire:
                resources.append(self._retired(key.fingerprint))
                continue
            resources.append(self._key_secret(key.secret_name, key.cert_pem, key.key_pem))
            pairs.append([key.as_config()])
            fingerprints.append([key.fingerprint])

        generated = self._generated_keys(settings)
        retirable = max(len(generated) - 1, 0) if retire else 0  # the newest key is never retired
        every = [fp for _, _, fp in generated]
        # Keys that exist are known in a preview; the newest, when this up makes it, is not: it is
        # waited for only when a retireKeys entry names none of the others (then it is an error).
        checked = (pulumi.Output.all(*every[:retirable]).apply(
            lambda older: older if set(settings.retire_keys) <= {*older, *(k.fingerprint for k in settings.keys)}
            else pulumi.Output.all(*every).apply(lambda fps: check_generated_retirement(settings, fps)))
            if retirable else None)
        for index, (generation, key, fingerprint) in enumerate(generated):
            secret_name = f"{key_name(self._name, generation)}-secret"
            if index < retirable:
                deferred.append(pulumi.Output.all(checked, key.cert, key.key).apply(
                    lambda args, index=index, key=key, secret_name=secret_name:
                    self._retired_or_kept(args[0][index], args[1], args[2], key, secret_name, retire)))
                pairs.append(pulumi.Output.all(fingerprint, key.cert, key.key).apply(
                    lambda args: [] if args[0] in retire else [{"cert": args[1], "key": args[2]}]))
                fingerprints.append(fingerprint.apply(lambda fp: [] if fp in retire else [fp]))
                continue
            resources.append(self._key_secret(fingerprint.apply(sealing.secret_name_of), key.cert, key.key,
                                              resource_name=secret_name))
            pairs.append([{"cert": key.cert, "key": key.key}])
            fingerprints.append(fingerprint.apply(lambda fp: [fp]))

        certificate = (generated[-1][1].cert if generated
                       else pulumi.Output.from_input(sealing.newest_key(list(settings.keys)).cert_pem))
        return _Keys(
            resources=resources if not deferred else pulumi.Output.all(*deferred).apply(
                lambda parts: [*resources, *itertools.chain.from_iterable(parts)]),
            pairs=pulumi.Output.all(*pairs).apply(_flatten),
            fingerprints=pulumi.Output.all(*fingerprints).apply(_flatten),
            certificate=certificate,
            generation=pulumi.Output.from_input(settings.key_generation),
            retired=pulumi.Output.from_input(sorted(retire)),
            rotates=pulumi.Output.from_input(settings.rotates),
        )

    def _generated_keys(self, settings: SealedSecretsSettings) -> list[tuple[int, GeneratedSealingKey, pulumi.Output[str]]]:
        """Generation 1 (generateKey's, unchanged since before generations) or 2 (the first over restored
        keys) up to keyGeneration, each created once, its NotBefore after every key before it."""
        after: Any = max((k.not_before for k in settings.keys), default=None)
        after = after.isoformat() if after else None
        generated = []
        for generation in range(settings.first_generated, settings.key_generation + 1):
            key = GeneratedSealingKey(key_name(self._name, generation), after=after,
                                      opts=pulumi.ResourceOptions(parent=self))
            facts = key.cert.apply(sealing.certificate_facts)
            generated.append((generation, key, facts.apply(lambda f: f[0])))
            after = facts.apply(lambda f: f[1].isoformat())
        return generated

    def _retired_or_kept(self, fingerprint: str, cert: str, key_pem: str, key: GeneratedSealingKey, secret_name: str,
                         retire: set[str]) -> list[pulumi.Resource]:
        if fingerprint in retire:
            return [self._retired(fingerprint)]
        return [self._key_secret(sealing.secret_name_of(fingerprint), cert, key_pem, resource_name=secret_name,
                                 after=[key])]

    # --- a replica: exactly its primary's keys ------------------------------------------------------

    def _replica_keys(self, stack: str) -> _Keys:
        source = pulumi.StackReference(f"{self._name}-keys-source", stack_name=stack,
                                       opts=pulumi.ResourceOptions(parent=self))
        checked = source.get_output("sealingKeys").apply(lambda raw: check_stack_keys(raw, stack))
        retired = source.get_output("retiredSealingKeyFingerprints").apply(lambda raw: check_stack_retired(raw, stack))
        # A number crosses the engine as a float; a primary older than generations publishes none.
        generation = source.get_output("sealingKeyGeneration").apply(
            lambda raw: int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 1)
        # The number of keys is only known once the source's outputs arrive.
        resources = pulumi.Output.all(checked, retired).apply(lambda args: [
            *(self._key_secret(k.secret_name, k.cert_pem, k.key_pem) for k in args[0]),
            *(self._retired(fp) for fp in args[1])])
        return _Keys(
            resources=resources,
            pairs=checked.apply(lambda keys: [k.as_config() for k in keys]),
            # Public material: un-secret it so `pulumi stack output sealingCertificate` works on a replica.
            certificate=pulumi.Output.unsecret(checked.apply(lambda keys: sealing.newest_key(keys).cert_pem)),
            fingerprints=pulumi.Output.unsecret(checked.apply(lambda keys: [k.fingerprint for k in keys])),
            generation=generation,
            retired=retired,
            rotates=pulumi.Output.all(generation, retired).apply(lambda args: args[0] > 1 or bool(args[1])),
        )

    # --- the objects ------------------------------------------------------------------------------

    def _key_secret(
        self,
        secret_name: pulumi.Input[str],
        cert: pulumi.Input[str],
        key: pulumi.Input[str],
        resource_name: str | None = None,
        after: list[pulumi.Resource] | None = None,
    ) -> k8s.core.v1.Secret:
        def b64(value: pulumi.Input[str]) -> pulumi.Output[str]:
            return pulumi.Output.from_input(value).apply(lambda text: base64.b64encode(text.encode()).decode())

        return k8s.core.v1.Secret(
            resource_name or f"{self._name}-{secret_name}",
            metadata={
                "name": secret_name,
                "namespace": self.namespace,
                "labels": {sealing.KEY_LABEL: "active", **MANAGED_BY},
            },
            type="kubernetes.io/tls",
            data=pulumi.Output.secret({"tls.crt": b64(cert), "tls.key": b64(key)}),
            # Losing a sealing key loses every secret sealed with it: never delete one from a cluster
            # (retiring one is explicit: RetiredSealingKey). Retained, not protected: its key is in the
            # state (GeneratedSealingKey, protected) or the config, and the next cluster gets it again;
            # protecting it would tie the state to a cluster that a rebuild replaces.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True,
                                        depends_on=[*self._namespace_deps, *(after or [])]),
        )

    def _retired(self, fingerprint: str) -> RetiredSealingKey:
        return RetiredSealingKey(
            f"{self._name}-retired-{fingerprint[:16]}", self.namespace, sealing.secret_name_of(fingerprint),
            self._cluster.kubeconfig, self._cluster.context,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._namespace_deps))


def rollout_value(fingerprints: list[str]) -> str:
    return ",".join(sorted(fp[:16] for fp in fingerprints))


def with_rollout(values: dict[str, Any], keys: pulumi.Input[str]) -> dict[str, Any]:
    return {**values, "podAnnotations": {ROLLOUT_ANNOTATION: keys}}


def _flatten(parts: list[list[Any]]) -> list[Any]:
    return list(itertools.chain.from_iterable(parts))


def check_generated_retirement(settings: SealedSecretsSettings, generated: list[str]) -> list[str]:
    """retireKeys against every key, once the generated keys' fingerprints are read back (before any is used)."""
    known = [k.fingerprint for k in settings.keys] + generated
    problems = retirement_problems(settings.retire_keys, known, generated[-1])
    if problems:
        raise ValueCheckError([f"belen:{RETIRE}[{index}]: {what} — {todo}" for index, what, todo in problems])
    return generated


def check_stack_keys(raw: Any, stack: str, now: dt.datetime | None = None) -> list[sealing.SealingKey]:
    """The same checks as for belen:sealingKeys, on the values another stack published."""
    prefix = f"belen:sealedSecrets.keysFromStack ({stack})"
    if raw is None:
        raise ValueCheckError([f"{prefix}: the stack has no sealingKeys output — run `pulumi up` on {stack} "
                               f"first (it must be a belen stack with Sealed Secrets)"])
    keys, problems = sealing.check_key_list(raw, now or dt.datetime.now(dt.timezone.utc))
    if problems:
        raise ValueCheckError([f"{prefix}: {p.path('sealingKeys')}: {p.what} — {p.todo}"
                               for p in problems])
    return keys


def check_stack_retired(raw: Any, stack: str) -> list[str]:
    """The fingerprints a primary retired (absent before belen had retirement: none)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(fp, str) and sealing.FINGERPRINT.match(fp) for fp in raw):
        raise ValueCheckError([f"belen:sealedSecrets.keysFromStack ({stack}): retiredSealingKeyFingerprints is not a "
                               f"list of key fingerprints — run `pulumi up` on {stack} with this version of belen"])
    return list(raw)
