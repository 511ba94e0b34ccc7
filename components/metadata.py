"""Metadata belen puts on the Kubernetes objects it creates."""

from __future__ import annotations

MANAGED_BY = {"app.kubernetes.io/managed-by": "belen"}


def await_ready(timeout_seconds: int) -> dict[str, str]:
    """Annotations that make `pulumi up` wait until the object reports Ready.

    Pulumi does not wait on custom resources otherwise, so dependents would start too early.
    """
    return {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": str(timeout_seconds)}
