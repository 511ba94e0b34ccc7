"""RetiredSealingKey: deletes a retired key's Secret from the cluster, once, with kubectl.

Key Secrets are retained on delete (a key lost from a cluster loses every SealedSecret sealed with
it), and the Pulumi engine decides that from the state when it drops a resource (pkg/resource/deploy
step.go, DeleteStep: the old state's RetainOnDelete): a key Secret left out of the program stays
in the cluster, and un-retaining it first would take a second `up`. Retiring is the one time belen
wants a key gone, so this resource deletes its Secret when it is created — with kubectl, which
reads the kubeconfig and context exactly as the stack's Kubernetes provider does (client-go's rules).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

TIMEOUT_SECONDS = 120


class RetireError(Exception):
    pass


def delete_secret(namespace: str, name: str, kubeconfig: str | None, context: str | None,
                  kubectl: str = "kubectl") -> None:
    """`kubectl delete secret`, gone already is fine; the kubeconfig text goes in a private file, never an argument."""
    args = [kubectl, "delete", "secret", name, "--namespace", namespace, "--ignore-not-found", "--wait=true"]
    if context:
        args += ["--context", context]
    with tempfile.TemporaryDirectory(prefix="belen-retire-") as private:  # mode 0700
        if kubeconfig:
            path = Path(private) / "kubeconfig"
            path.touch(mode=0o600)
            path.write_text(kubeconfig)
            args += ["--kubeconfig", str(path)]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        except FileNotFoundError:
            raise RetireError(f"retiring sealing key Secret {namespace}/{name} needs kubectl on PATH — install it "
                              f"and run pulumi up again") from None
        except subprocess.TimeoutExpired:
            raise RetireError(f"kubectl delete secret {namespace}/{name} did not finish in {TIMEOUT_SECONDS}s — check "
                              f"the cluster and run pulumi up again") from None
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise RetireError(f"kubectl delete secret {namespace}/{name} failed: {reason}")


class _RetireProvider(ResourceProvider):
    def create(self, props):
        delete_secret(props["namespace"], props["name"], props.get("kubeconfig"), props.get("context"))
        return CreateResult(id_=f"{props['namespace']}/{props['name']}",
                            outs={"namespace": props["namespace"], "name": props["name"]})

    def diff(self, _id, _olds, _news):
        # Done once: a new kubeconfig or context later does not delete it again.
        return DiffResult(changes=False)


class RetiredSealingKey(pulumi.dynamic.Resource, module="belen", name="RetiredSealingKey"):
    def __init__(self, name: str, namespace: str, secret_name: str, kubeconfig: str | None, context: str | None,
                 opts: pulumi.ResourceOptions | None = None):
        props = {
            "namespace": namespace,
            "name": secret_name,
            "kubeconfig": pulumi.Output.secret(kubeconfig) if kubeconfig else None,
            "context": context,
        }
        super().__init__(_RetireProvider(), name, props, opts)
