"""SealedSecrets: the controller, started only after its restored (or generated) keys exist."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.crypto import pem, sealing
from components.errors import ValueCheckError
from components.generated_sealing_key import GeneratedSealingKey
from components.helm import ChartInstaller
from components.metadata import MANAGED_BY
from components.settings.sealed_secrets import SealedSecretsSettings

CONTROLLER_NAME = "sealed-secrets-controller"  # kubeseal's default --controller-name


@dataclass(frozen=True)
class SealedSecretsArgs:
    settings: SealedSecretsSettings
    charts: ChartInstaller


class SealedSecrets(pulumi.ComponentResource):
    """Key Secrets first (labelled active, typed kubernetes.io/tls, retained on delete), then the
    controller release, which depends on every one of them: the controller reads keys once at
    start-up and mints its own if it finds none."""

    def __init__(self, name: str, args: SealedSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("belen:index:SealedSecrets", name, None, opts)
        self._name = name
        settings = args.settings
        self.namespace = settings.namespace
        self._namespace_deps: list[pulumi.Resource] = []
        if settings.namespace != "kube-system":
            self._namespace_deps.append(k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": settings.namespace},
                # Deleting the namespace would delete the keys in it.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            ))

        if settings.keys:
            keys = list(settings.keys)
            key_secrets: Any = [self._key_secret(k.secret_name, k.cert_pem, k.key_pem) for k in keys]
            self.sealing_keys = pulumi.Output.secret([k.as_config() for k in keys])
            self.sealing_certificate: pulumi.Output[str] = pulumi.Output.from_input(sealing.newest_key(keys).cert_pem)
            self.fingerprints: pulumi.Output[list[str]] = pulumi.Output.from_input([k.fingerprint for k in keys])
        elif settings.keys_from_stack:
            source = pulumi.StackReference(f"{name}-keys-source", stack_name=settings.keys_from_stack,
                                           opts=pulumi.ResourceOptions(parent=self))
            stack = settings.keys_from_stack
            checked = source.get_output("sealingKeys").apply(lambda raw: check_stack_keys(raw, stack))
            # The number of keys is only known once the source's outputs arrive.
            key_secrets = checked.apply(
                lambda keys: [self._key_secret(k.secret_name, k.cert_pem, k.key_pem) for k in keys])
            self.sealing_keys = pulumi.Output.secret(checked.apply(lambda keys: [k.as_config() for k in keys]))
            # Public material: un-secret it so `pulumi stack output sealingCertificate` works on a replica.
            self.sealing_certificate = pulumi.Output.unsecret(checked.apply(lambda keys: sealing.newest_key(keys).cert_pem))
            self.fingerprints = pulumi.Output.unsecret(checked.apply(lambda keys: [k.fingerprint for k in keys]))
        else:
            generated = GeneratedSealingKey(f"{name}-generated-key", opts=pulumi.ResourceOptions(parent=self))
            fingerprint = generated.cert.apply(lambda cert: pem.public_key_fingerprint(pem.load_certificate(cert).public_key()))
            key_secrets = [self._key_secret(
                fingerprint.apply(lambda fp: sealing.SECRET_NAME_PREFIX + fp[:16]),
                generated.cert, generated.key, resource_name=f"{name}-generated-key-secret")]
            self.sealing_keys = pulumi.Output.secret([{"cert": generated.cert, "key": generated.key}])
            self.sealing_certificate = generated.cert
            self.fingerprints = fingerprint.apply(lambda fp: [fp])

        self.release = args.charts.release(
            f"{name}-controller",
            "sealedSecrets",
            release_name="sealed-secrets",
            namespace=settings.namespace,
            values={
                "fullnameOverride": CONTROLLER_NAME,
                "namespace": settings.namespace,
                "keyrenewperiod": settings.key_renew_period,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=key_secrets),
            namespace_deps=self._namespace_deps,
        )
        self.ready: list[pulumi.Resource] = [self.release]
        self.exports = {
            "sealingCertificate": self.sealing_certificate,
            "sealingKeyFingerprints": self.fingerprints,
            "sealingKeys": self.sealing_keys,
        }
        self.register_outputs(self.exports)

    def _key_secret(
        self,
        secret_name: pulumi.Input[str],
        cert: pulumi.Input[str],
        key: pulumi.Input[str],
        resource_name: str | None = None,
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
            # Losing a sealing key loses every secret sealed with it: never delete one from a cluster.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=self._namespace_deps),
        )


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
