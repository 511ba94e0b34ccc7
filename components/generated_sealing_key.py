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
        from components.crypto import pem, sealing

        cert, key = sealing.generate_key_pair()
        fingerprint = pem.public_key_fingerprint(pem.load_certificate(cert).public_key())
        return CreateResult(id_=fingerprint, outs={**props, "cert": cert, "key": key})

    def diff(self, _id, _olds, _news):
        # Nothing about the key may ever change once it exists.
        return DiffResult(changes=False)


class GeneratedSealingKey(pulumi.dynamic.Resource, module="belen", name="GeneratedSealingKey"):
    cert: pulumi.Output[str]
    key: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            _SealingKeyProvider(),
            name,
            {"cert": None, "key": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["key"])),
        )
