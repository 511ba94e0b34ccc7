"""Flux's build of one path of a checkout: kustomize where a folder has a kustomization file (kubectl's
when installed, else read here), otherwise every YAML file below it, as kustomize-controller generates."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tools.preflight.apis import CLUSTER_SCOPED
from tools.preflight.model import Applied, Finding

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_TIMEOUT_SECONDS = 120


def in_namespace(doc: dict[str, Any], namespace: str) -> str | None:
    """Put a namespaced object into `namespace`, as kustomize's namespace transformer does; its old one."""
    if doc.get("kind") in CLUSTER_SCOPED:
        return None
    meta = doc.setdefault("metadata", {})
    previous = meta.get("namespace")
    meta["namespace"] = namespace
    return previous


def _kustomization_file(folder: Path) -> Path | None:
    return next((folder / name for name in KUSTOMIZATION_FILES if (folder / name).is_file()), None)


class PathBuilder:
    """Builds folders of one checkout into (file, object) pairs; what stops Flux's build goes into `applied`."""

    def __init__(self, repo: Path, kubectl: str | None, applied: Applied):
        self.repo = repo
        self.kubectl = kubectl
        self.applied = applied

    def build(self, folder: Path) -> list[tuple[str, dict[str, Any]]]:
        return self._kustomize(folder) if _kustomization_file(folder) else self._scan(folder)

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.repo))

    def _problem(self, path: Path, problem: str, todo: str) -> None:
        self.applied.findings.append(Finding("build", self._rel(path), "", "", "", problem, todo))

    def _scan(self, folder: Path) -> list[tuple[str, dict[str, Any]]]:
        """Flux's generated kustomization: every YAML file below, a folder with its own kustomization as one."""
        pieces = []
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and entry.name != ".git":
                pieces += self._kustomize(entry) if _kustomization_file(entry) else self._scan(entry)
            elif entry.is_file() and entry.suffix in (".yaml", ".yml"):
                pieces += self._manifests(entry)
        return pieces

    def _manifests(self, path: Path) -> list[tuple[str, dict[str, Any]]]:
        docs = self._documents(path)
        if docs is None:
            return []
        objects = []
        for doc in docs:
            items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else [doc]
            objects += [(self._rel(path), item) for item in items or [] if isinstance(item, dict)]
        if any(not (isinstance(d, dict) and d.get("apiVersion") and d.get("kind")) for _, d in objects):
            self._problem(path, "holds a document without apiVersion and kind, so Flux cannot build its folder",
                          "move it out of the Kustomization's path, or add a kustomization.yaml that lists the manifests")
            return []
        return objects

    def _documents(self, path: Path) -> list[dict[str, Any]] | None:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (yaml.YAMLError, UnicodeDecodeError):
            self._problem(path, "is not valid YAML, so Flux cannot build its folder", "fix the YAML")
            return None
        if not all(isinstance(d, dict) for d in docs):
            self._problem(path, "holds a YAML document that is not a mapping", "make every document a Kubernetes object")
            return None
        return docs

    def _kustomize(self, folder: Path) -> list[tuple[str, dict[str, Any]]]:
        kfile = _kustomization_file(folder)
        return self._kubectl_build(folder, kfile) if self.kubectl else self._read_kustomization(folder, kfile)

    def _kubectl_build(self, folder: Path, kfile: Path) -> list[tuple[str, dict[str, Any]]]:
        command = [self.kubectl, "kustomize", "--load-restrictor=LoadRestrictionsNone", str(folder)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=KUSTOMIZE_TIMEOUT_SECONDS)
        if proc.returncode != 0:
            first = next((line.strip() for line in proc.stderr.splitlines() if line.strip()), "no message")
            self._problem(kfile, f"kustomize cannot build it: {first[:200]}",
                          f"fix it until `kubectl kustomize {self._rel(folder)}` builds")
            return []
        origins = self._origins(folder)
        built = [d for d in yaml.safe_load_all(proc.stdout) if isinstance(d, dict)]
        return [(origins.get(_identity(doc), self._rel(kfile)), doc) for doc in built]

    def _origins(self, folder: Path) -> dict[tuple[str, str], str]:
        """The file each object kustomize built comes from, where its kind and name appear in one file only."""
        seen: dict[tuple[str, str], list[str]] = {}
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".yaml", ".yml") and path.is_file() and ".git" not in path.parts:
                try:
                    docs = list(yaml.safe_load_all(path.read_text()))
                except (yaml.YAMLError, UnicodeDecodeError):
                    continue
                for doc in docs:
                    if isinstance(doc, dict):
                        seen.setdefault(_identity(doc), []).append(self._rel(path))
        return {identity: files[0] for identity, files in seen.items() if len(set(files)) == 1}

    def _read_kustomization(self, folder: Path, kfile: Path) -> list[tuple[str, dict[str, Any]]]:
        """Without kubectl: resources, components and namespace; patches, generators and the rest are not applied."""
        self.applied.read_without_kubectl.append(self._rel(kfile))
        docs = self._documents(kfile)
        spec = docs[0] if docs else {}
        pieces = []
        for entry in [*(spec.get("resources") or []), *(spec.get("bases") or []), *(spec.get("components") or [])]:
            target = (folder / str(entry)).resolve()
            if "://" in str(entry) or str(entry).startswith(("github.com/", "git@")):
                self.applied.notes.append(f"{self._rel(kfile)}: remote resource {entry} not read")
            elif not target.is_relative_to(self.repo):
                self._problem(kfile, f"resource {entry} is outside the repository", "keep resources inside it")
            elif target.is_dir() and _kustomization_file(target):
                pieces += self._kustomize(target)
            elif target.is_file():
                pieces += self._manifests(target)
            else:
                self._problem(kfile, f"resource {entry} is neither a manifest nor a folder with a kustomization file",
                              "fix the resources list")
        if spec.get("namespace"):
            for _, doc in pieces:
                in_namespace(doc, str(spec["namespace"]))
        return pieces


def _identity(doc: dict[str, Any]) -> tuple[str, str]:
    return str(doc.get("kind")), str((doc.get("metadata") or {}).get("name"))
