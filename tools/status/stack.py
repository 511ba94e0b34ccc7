"""What a status compares the cluster with: the stack's kubeconfig and context, read as its provider
reads them (belen:kubeconfig, else the ambient kubeconfig; belen:cluster.context, else the current
context), its Flux version, and its outputs (what the state says the cluster holds)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.settings.flux import FLUX_VERSION
from tools import mockrun, render


class StackError(Exception):
    """The stack's settings or outputs cannot be read: a usage error, one line."""


@dataclass(frozen=True)
class Expected:
    """The stack's outputs that say what the cluster should hold."""

    fingerprints: tuple[str, ...]  # the active sealing keys
    retired: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()  # ClusterSecretStores belen created
    issuers: tuple[str, ...] = ()  # ClusterIssuers
    certificates: dict[str, dict[str, str]] = field(default_factory=dict)  # name → {namespace, secretName}
    mirrored: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → {fingerprint, notAfter, namespaces}
    kustomizations: tuple[str, ...] = ()  # in flux-system
    flux_version: str | None = None  # what the FluxInstance asks for; None: the stack has no Flux


@dataclass(frozen=True)
class StackInputs:
    stack: str
    kubeconfig: str | None  # a file; None: the ambient one (KUBECONFIG, ~/.kube/config)
    kubeconfig_text: str | None = field(default=None, repr=False)  # the stack's secret belen:kubeconfig
    context: str | None = None
    expected: Expected = field(default_factory=lambda: Expected(()))


def read_inputs(stack: str, kubeconfig: str | None, context: str | None, outputs_file: str | None,
                cwd: Path | None = None) -> StackInputs:
    project = project_dir(cwd or Path.cwd())
    config = stack_config(project, stack)
    kubeconfig_text = None
    if kubeconfig is None and "belen:kubeconfig" in config:
        value = config["belen:kubeconfig"]
        kubeconfig_text = pulumi(project, "config", "get", "belen:kubeconfig", "--stack", stack,
                                 what="the stack's secret belen:kubeconfig", instead="--kubeconfig FILE") \
            if _is_secure(value) else str(value)
        if _is_path(kubeconfig_text):  # the provider takes a path as well as the text
            kubeconfig, kubeconfig_text = kubeconfig_text.strip(), None
    cluster = config.get("belen:cluster") if isinstance(config.get("belen:cluster"), dict) else {}
    outputs = read_outputs_file(outputs_file) if outputs_file else json.loads(pulumi(
        project, "stack", "output", "--json", "--stack", stack, what="the stack's outputs",
        instead="--stack-outputs FILE (written by `pulumi stack output --json`)") or "{}")
    flux = config.get("belen:flux")
    flux_version = str(flux.get("version") or FLUX_VERSION) if isinstance(flux, dict) else None
    return StackInputs(stack, kubeconfig, kubeconfig_text, context or cluster.get("context"),
                       expected_from(outputs, flux_version))


def project_dir(cwd: Path) -> Path:
    """The Pulumi project pulumi itself would use from `cwd` (the nearest Pulumi.yaml up), else belen's."""
    for folder in (cwd, *cwd.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return mockrun.PROJECT_DIR


def stack_config(project: Path, stack: str) -> dict[str, Any]:
    """The stack file's `config:` as written (secure values stay encrypted)."""
    settings = yaml.safe_load((project / "Pulumi.yaml").read_text()) or {}
    stacks = project / str(settings.get("stackConfigDir") or ".")
    short = stack.rsplit("/", 1)[-1]
    path = stacks / f"Pulumi.{short}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks.glob("Pulumi.*.yaml"))
        raise StackError(f"no stack file {path} — known stacks: {', '.join(known) or 'none'}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackError(f"{path} is not valid YAML: {' '.join(str(exc).split())} — correct the file") from None
    return dict(data.get("config") or {}) if isinstance(data, dict) else {}


def pulumi(project: Path, *args: str, what: str, instead: str) -> str:
    """A read-only pulumi command's output (its own error, on one line, when it fails)."""
    if shutil.which("pulumi") is None:
        raise StackError(f"reading {what} needs the Pulumi CLI, which is not installed — install it, or pass {instead}")
    result = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=project, capture_output=True, text=True)
    if result.returncode != 0:
        error = " ".join((result.stderr or result.stdout).split()) or f"exit {result.returncode}"
        raise StackError(f"cannot read {what}: `pulumi {' '.join(args)}` failed: {error[-400:]} — check "
                         f"PULUMI_BACKEND_URL and the passphrase, or pass {instead}")
    return result.stdout


def read_outputs_file(path: str) -> dict[str, Any]:
    try:
        return render.read_stack_outputs(path)
    except render.UsageError as exc:
        raise StackError(str(exc)) from None


def expected_from(outputs: dict[str, Any], flux_version: str | None) -> Expected:
    fingerprints = outputs.get("sealingKeyFingerprints")
    if fingerprints == "[secret]":
        raise StackError("the stack's sealingKeyFingerprints output is [secret] — run `pulumi up` with this version "
                         "of belen, which publishes the fingerprints (public facts) in plain text")
    if not isinstance(fingerprints, list) or not all(isinstance(fp, str) for fp in fingerprints):
        raise StackError("the stack's outputs have no sealingKeyFingerprints list — run `pulumi up` with this version "
                         "of belen first (or pass the outputs of a belen stack with --stack-outputs)")
    return Expected(
        fingerprints=tuple(fingerprints),
        retired=tuple(outputs.get("retiredSealingKeyFingerprints") or ()),
        stores=tuple(outputs.get("secretStores") or {}),
        issuers=tuple(outputs.get("clusterIssuers") or ()),
        certificates=dict(outputs.get("certificates") or {}),
        mirrored=dict(outputs.get("tlsMirrored") or {}),
        kustomizations=tuple(outputs.get("fluxKustomizations") or ()),
        flux_version=flux_version,
    )


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and "secure" in value


def _is_path(value: str) -> bool:
    text = value.strip()
    return "\n" not in text and not text.startswith(("{", "apiVersion")) and Path(text).expanduser().is_file()
