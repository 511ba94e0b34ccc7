"""GeneratedSealingKey: a sealing key made once by Pulumi and kept in state as a secret.

A dynamic resource, so the key is generated at create time only: later runs read it back from
state unchanged (a key that changed would orphan every SealedSecret sealed with it).
"""

from __future__ import annotations

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider


class _SealingKeyProvider(ResourceProvider):
    def create(self, props):
        # Imported here: this method runs in Pulumi's dynamic provider process, not the program.
        import datetime as dt

        from components.crypto import pem, sealing

        after = dt.datetime.fromisoformat(props["after"]) if props.get("after") else None
        cert, key = sealing.generate_key_pair(after=after)
        fingerprint = pem.public_key_fingerprint(pem.load_certificate(cert).public_key())
        return CreateResult(id_=fingerprint, outs={**props, "cert": cert, "key": key})

    def diff(self, _id, _olds, _news):
        # Nothing about the key may ever change once it exists (nor does `after`, read at creation only).
        return DiffResult(changes=False)


class GeneratedSealingKey(pulumi.dynamic.Resource, module="belen", name="GeneratedSealingKey"):
    cert: pulumi.Output[str]
    key: pulumi.Output[str]

    def __init__(self, name: str, after: pulumi.Input[str] | None = None, opts: pulumi.ResourceOptions | None = None):
        """`after`: an ISO 8601 moment (the newest NotBefore of the keys before it) that the new key's
        certificate NotBefore must follow, so the controller seals with it."""
        props = {"cert": None, "key": None, **({"after": after} if after is not None else {})}
        super().__init__(
            _SealingKeyProvider(),
            name,
            props,
            # protect: the engine refuses any plan that deletes or replaces the key (`pulumi destroy`, a
            # rename); `pulumi destroy --exclude-protected` keeps it for the next cluster.
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["key"], protect=True)),
        )
