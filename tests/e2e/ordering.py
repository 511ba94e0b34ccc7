"""belen's order, read from the real engine's event log (`pulumi up --event-log`), not from mocks."""

from __future__ import annotations

from tests.e2e.checks import EventLog

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"


def type_chain(urn: str) -> list[str]:
    """`urn:pulumi:stack::project::parent$…$type::name` → [parent, …, type]."""
    return urn.split("::")[2].split("$")


def resources(log: EventLog, type_: str, component: str | None = None) -> list[str]:
    """URNs of `type_` resources the update created or changed, under `component` if given."""
    return [urn for urn in log.started if type_chain(urn)[-1] == type_
            and (component is None or f"belen:index:{component}" in type_chain(urn))]


def assert_platform_order(log: EventLog) -> None:
    """Each sealing-key Secret exists before the sealed-secrets release starts; each ClusterSecretStore
    starts after the ESO release is ready; each Flux Kustomization starts after every other resource
    of the platform is done (created, and ready where belen awaits it)."""
    (sealed_secrets,) = resources(log, RELEASE, "SealedSecrets")
    keys = resources(log, SECRET, "SealedSecrets")
    assert keys, f"no sealing-key Secret was created in {log.path}"
    for key in keys:
        log.assert_before(key, sealed_secrets)
    stores = resources(log, STORE)
    if stores:
        (operator,) = resources(log, RELEASE, "ExternalSecrets")
        for store in stores:
            log.assert_before(operator, store)
    kustomizations = resources(log, KUSTOMIZATION)
    assert kustomizations, f"no Flux Kustomization was created in {log.path}"
    platform = [urn for urn in log.started if urn not in kustomizations and not bookkeeping(urn)]
    for kustomization in kustomizations:
        for piece in platform:
            log.assert_before(piece, kustomization)


def bookkeeping(urn: str) -> bool:
    """The stack, components and providers: no step of their own in the cluster."""
    type_ = type_chain(urn)[-1]
    return type_.startswith(("pulumi:pulumi:", "pulumi:providers:", "belen:index:"))
