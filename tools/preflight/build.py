"""What Flux applies from a repository checkout.

Starting from the Kustomizations belen creates: each path is built as kustomize-controller builds it
(`paths.PathBuilder`), moved by `targetNamespace`, substituted by `postBuild`; the Flux
Kustomizations found there are followed the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.preflight.envsubst import substitute
from tools.preflight.model import Applied, Finding, Obj
from tools.preflight.paths import PathBuilder, in_namespace
from tools.preflight.platform import Platform, is_flux_kustomization

SUBSTITUTE_SWITCH = "kustomize.toolkit.fluxcd.io/substitute"  # "disabled" on an object: Flux leaves it as is


def follow(repo: Path, platform: Platform, kubectl: str | None) -> Applied:
    """Every object Flux applies from `repo`, following Kustomizations from belen's own."""
    repo = repo.resolve()
    applied = Applied()
    builder = PathBuilder(repo, kubectl, applied)
    source = next((o for o in platform.objects if o.kind == "GitRepository"), None)
    pending = platform.kustomizations
    done: set[str] = set()
    deferred: dict[str, int] = {}  # Kustomization → objects applied when it was put back to wait for a source
    while pending:
        kustomization = pending.pop(0)
        if kustomization.ref in done:
            continue
        variables, absent = _variables_of(kustomization, [*platform.objects, *applied.objects])
        if absent and pending and deferred.get(kustomization.ref) != len(applied.objects):
            # Its substituteFrom source may come from a Kustomization not built yet, as Flux retries.
            deferred[kustomization.ref] = len(applied.objects)
            pending.append(kustomization)
            continue
        done.add(kustomization.ref)
        applied.findings.extend(_absent_source(kustomization, ref) for ref in absent)
        if absent:
            continue  # Flux stops the Kustomization there: it applies nothing
        if not _reads(kustomization, source):
            applied.notes.append(f"{kustomization.file}: {kustomization.label}: not followed — its sourceRef is not "
                                 f"belen's GitRepository, so its path is in another repository")
            continue
        folder = _folder(repo, kustomization, applied.findings)
        if folder is None:
            continue
        applied.followed.append(kustomization)
        for file, doc in builder.build(folder):
            obj = _as_applied(file, doc, kustomization, variables, applied.findings)
            if obj is not None:
                applied.objects.append(obj)
                pending.extend([obj] if is_flux_kustomization(obj) else [])
    return applied


def _variables_of(kustomization: Obj, known: list[Obj]) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
    """The Kustomization's postBuild variables, and its substituteFrom references nothing provides."""
    post_build = kustomization.spec.get("postBuild") or {}
    values: dict[str, str | None] = {}
    absent = []
    for ref in post_build.get("substituteFrom") or []:
        source = _substitute_source(ref, kustomization.namespace, known)
        if source is None:
            absent.extend([] if ref.get("optional") else [ref])
            continue
        values.update(_source_values(source))
    for name, value in (post_build.get("substitute") or {}).items():
        values[name] = str(value).replace("\n", "")
    return values, absent


def _substitute_source(ref: dict[str, Any], namespace: str, known: list[Obj]) -> Obj | None:
    # A Secret may come as a SealedSecret of the same name.
    kinds = ("Secret", "SealedSecret") if ref.get("kind") == "Secret" else (ref.get("kind"),)
    return next((o for o in known if o.kind in kinds and o.namespace == namespace and o.name == ref.get("name")), None)


def _source_values(source: Obj) -> dict[str, str | None]:
    """A ConfigMap's values; a Secret's names only (its values stay unknown, so they are never printed)."""
    if source.kind == "ConfigMap":
        return {name: str(value).replace("\n", "") for name, value in (source.doc.get("data") or {}).items()}
    sealed = source.spec.get("encryptedData") if source.kind == "SealedSecret" else None
    names = sealed or {**(source.doc.get("data") or {}), **(source.doc.get("stringData") or {})}
    return {name: None for name in names}


def _absent_source(kustomization: Obj, ref: dict[str, Any]) -> Finding:
    where = f"{ref.get('kind')} {kustomization.namespace}/{ref.get('name')}"
    return Finding.of("substitutions", kustomization, f"substituteFrom names {where}, which nothing creates",
                      f"add it to the repository (applied before this Kustomization), or mark it optional: true")


def _reads(kustomization: Obj, source: Obj | None) -> bool:
    """Whether the Kustomization applies a path of this repository (belen's GitRepository)."""
    ref = kustomization.spec.get("sourceRef") or {}
    return source is not None and ref.get("kind") == "GitRepository" and ref.get("name") == source.name and (
        ref.get("namespace") or kustomization.namespace) == source.namespace


def _folder(repo: Path, kustomization: Obj, findings: list[Finding]) -> Path | None:
    path = str(kustomization.spec.get("path") or "./")
    folder = (repo / path).resolve()
    if folder.is_relative_to(repo) and folder.is_dir():
        return folder
    todo = "set belen:flux.path (or the path in belen:flux.kustomizations)" if kustomization.applied_by is None \
        else "fix spec.path"
    findings.append(Finding.of("flux-references", kustomization, f"path {path} is not a folder of the repository",
                               f"create it, or {todo}"))
    return None


def _as_applied(file: str, doc: dict[str, Any], kustomization: Obj, variables: dict[str, str | None],
               findings: list[Finding]) -> Obj | None:
    """The object as the Kustomization applies it: in its targetNamespace, with variables substituted."""
    target = kustomization.spec.get("targetNamespace")
    moved_from = None
    if target:
        previous = in_namespace(doc, str(target))
        moved_from = previous if previous and previous != target else None
    meta = doc.get("metadata") or {}
    switches = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    missing: list[str] = []
    if variables and switches.get(SUBSTITUTE_SWITCH) != "disabled":
        text, missing = substitute(yaml.safe_dump(doc, sort_keys=False, width=float("inf")), variables)
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            findings.append(Finding("build", file, str(doc.get("kind")), "", str(meta.get("name") or ""),
                                    "substituting its variables makes invalid YAML",
                                    "quote the values, or escape the variable as $${...}"))
            return None
    return Obj(doc, file, kustomization, moved_from, tuple(dict.fromkeys(missing)))


