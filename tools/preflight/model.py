"""What the pre-flight check works on: objects as Flux will apply them, and its findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The checks, in the order findings are counted; `build` is a path Flux cannot build at all.
CHECK_NAMES = ("sealed-secrets", "retired-keys", "secret-stores", "issuers", "ingress-classes", "substitutions",
          "flux-references", "api-versions", "namespaces", "build")


@dataclass(frozen=True, eq=False)
class Obj:
    """One Kubernetes object: built, moved by `targetNamespace` and substituted, as Flux applies it."""

    doc: dict[str, Any]
    file: str  # the repository file it comes from, or the stack file for what belen creates
    applied_by: Obj | None = None  # the Flux Kustomization that applies it; None: belen creates it
    moved_from: str | None = None  # its namespace in the file, when a targetNamespace changed it
    unsubstituted: tuple[str, ...] = ()  # `${var}`s that no value nor default replaces

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind") or "")

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.doc.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace") or "")

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.doc.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def ref(self) -> str:
        """`namespace/name`, or the name alone for an object without a namespace."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def label(self) -> str:
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True)
class Finding:
    check: str  # one of CHECK_NAMES
    file: str
    kind: str
    namespace: str
    name: str
    problem: str
    todo: str

    @staticmethod
    def of(check: str, obj: Obj, problem: str, todo: str) -> Finding:
        return Finding(check, obj.file, obj.kind, obj.namespace, obj.name, problem, todo)

    @property
    def line(self) -> str:
        ref = f"{self.namespace}/{self.name}" if self.namespace else self.name
        subject = f"{self.kind} {ref}: " if self.kind else ""
        return f"{self.file}: {subject}{self.problem} — {self.todo}"

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "file": self.file, "kind": self.kind, "namespace": self.namespace,
                "name": self.name, "problem": self.problem, "todo": self.todo, "line": self.line}


@dataclass
class Applied:
    """What Flux applies from the repository, and what stood in the way of building it."""

    objects: list[Obj] = field(default_factory=list)  # what the repository adds to the cluster
    followed: list[Obj] = field(default_factory=list)  # the Flux Kustomizations whose path was built
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read_without_kubectl: list[str] = field(default_factory=list)  # kustomization files kubectl did not build
