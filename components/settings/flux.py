"""`belen:flux` and the secret `belen:gitAuth`: the GitOps repository and how Flux syncs it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization

from components.settings.constants import DURATION_TODO, FLUX_VERSION, SCP_LIKE
from components.settings.reader import Node

VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAIN_KUSTOMIZATION = "flux-system"
RESERVED_VARIABLES = ("cluster_name", "environment")


@dataclass(frozen=True)
class GitAuth:
    """Exactly one of SSH (identity + known_hosts) or HTTPS (username + password) credentials."""

    identity: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def secret_data(self) -> dict[str, str]:
        """The keys Flux's source-controller reads from a GitRepository's secretRef."""
        if self.identity:
            return {"identity": self.identity, "known_hosts": self.known_hosts or ""}
        return {"username": self.username or "", "password": self.password or ""}


@dataclass(frozen=True)
class ExtraKustomization:
    name: str
    path: str
    depends_on: tuple[str, ...]
    prune: bool


@dataclass(frozen=True)
class FluxSettings:
    url: str  # normalised: scp-like git@host:path becomes ssh://git@host/path
    branch: str
    git_interval: str
    path: str
    interval: str
    version: str  # the Flux version (or semver range) the FluxInstance asks for
    substitute: dict[str, str]
    kustomizations: tuple[ExtraKustomization, ...]
    receiver: bool
    auth: GitAuth | None
    warnings: tuple[str, ...] = ()  # logged when Flux is installed


def parse_flux(node: Node, git_auth: Any, cluster_name: str) -> FluxSettings:
    problems = node.problems
    git = node.node("git")
    url = git.str("url", todo="set it to https://host/org/repo, ssh://git@host/org/repo or git@host:org/repo")
    branch = git.str("branch", todo="set it to a branch name")
    git_interval = git.str("interval", todo=DURATION_TODO)
    git.done()
    path = node.str("path", todo="set it to a folder of the repository such as ./clusters/homelab",
                    check=_path_problem) or f"./clusters/{cluster_name}"
    interval = node.str("interval", todo=DURATION_TODO)
    version = node.str("version", todo=f"set it to a Flux 2 version such as {FLUX_VERSION} or a range such as 2.9.x")
    substitute = _substitutions(node)
    kustomizations = _kustomizations(node)
    receiver = node.node("receiver")
    receiver_on = node.has("receiver") and receiver.bool("enabled")
    receiver.done()
    node.done()

    url = _normalise(url) if url else ""
    auth = _git_auth(git_auth, problems)
    has_identity = isinstance(git_auth, dict) and git_auth.get("identity") is not None
    if url.startswith("ssh://") and not has_identity:
        problems.require("gitAuth", "an SSH repository URL needs SSH credentials",
                         "set belen:gitAuth.identity (a private key) and belen:gitAuth.knownHosts, or use an https:// URL",
                         where="gitAuth.identity")
    if url.startswith("http") and has_identity:
        problems.add("gitAuth.identity", f"is an SSH key but belen:flux.git.url is {url.split(':')[0]}://",
                     "use an ssh:// URL, or give username and password for HTTPS")
    warnings = []
    if url.startswith("http://"):
        if auth is not None and auth.password is not None:
            problems.add("gitAuth.password", "would be sent in plain text: belen:flux.git.url is http://",
                         "use an https:// or ssh:// URL")
        warnings.append(f"belen:flux.git.url: {url} is unauthenticated plain text — anyone on the way can change "
                        "what Flux applies; prefer https:// or ssh://")
    return FluxSettings(url, branch, git_interval, path, interval, version, substitute, kustomizations, receiver_on,
                        auth, tuple(warnings))


def _normalise(url: str) -> str:
    """Flux does not understand scp-like addresses: git@host:org/repo → ssh://git@host/org/repo."""
    match = re.match(SCP_LIKE, url)
    return f"ssh://{match['user']}@{match['host']}/{match['path']}" if match else url


def _path_problem(path: str) -> str | None:
    if path.startswith("/") or ".." in path.split("/"):
        return f"'{path}' leaves the repository"
    return None


def _substitutions(node: Node) -> dict[str, str]:
    result = {}
    for key, value in node.entries("substitute"):
        path = f"flux.substitute.{key}"
        if not VARIABLE.match(key):
            node.problems.add(path, "is not a variable name", "use letters, digits and underscores, not starting with a digit")
        elif key in RESERVED_VARIABLES:
            node.problems.add(path, "is set by belen from belen:cluster", "remove it (belen substitutes cluster_name and environment)")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            node.problems.add(path, "must be a string", "quote the value")
        else:
            result[key] = str(value)
    return result


def _kustomizations(node: Node) -> tuple[ExtraKustomization, ...]:
    found: list[tuple[str, ExtraKustomization]] = []
    for item in node.nodes("kustomizations"):
        name = item.str("name", todo="give it a Kubernetes name")
        path = item.str("path", todo="set it to a folder of the repository", check=_path_problem)
        depends_on = tuple(item.strings("dependsOn", todo="list names of other belen:flux.kustomizations"))
        prune = item.bool("prune")
        item.done()
        if name and path:
            found.append((item.path, ExtraKustomization(name, path, depends_on, prune)))
    names = [k.name for _, k in found]
    for path, kustomization in found:
        if kustomization.name == MAIN_KUSTOMIZATION or names.count(kustomization.name) > 1:
            node.problems.add(f"{path}.name", f"'{kustomization.name}' is used twice", "give every Kustomization its own name")
        for dep in kustomization.depends_on:
            if dep not in names:
                node.problems.add(f"{path}.dependsOn", f"names unknown Kustomization '{dep}'",
                                  f"use one of: {', '.join(sorted(set(names)))}")
    cycle = _find_cycle({k.name: k.depends_on for _, k in found})
    if cycle:
        node.problems.add("flux.kustomizations", f"dependsOn forms a cycle: {' → '.join(cycle)}", "remove one of these dependencies")
    return tuple(k for _, k in found)


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in graph.get(name, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep in graph and dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def _git_auth(raw: Any, problems) -> GitAuth | None:
    if raw is None:
        return None
    node = Node(raw, "gitAuth", problems)
    identity = node.str("identity", todo="paste the deploy key's private key (OpenSSH or PEM)", check=_identity_problem)
    known_hosts = node.str("knownHosts", todo="paste the output of `ssh-keyscan <git host>`")
    username = node.str("username", todo="set the HTTPS user name")
    password = node.str("password", todo="set the HTTPS password or token")
    node.done()
    if node.has("identity") and (username or password):
        problems.add("gitAuth", "mixes SSH and HTTPS credentials", "keep either identity + knownHosts, or username + password")
    elif node.has("identity"):
        if not known_hosts:
            problems.require("gitAuth.knownHosts", "is required with an SSH identity",
                         "set it to the output of `ssh-keyscan <git host>`")
    elif username or password:
        if not (username and password):
            missing = "password" if username else "username"
            problems.require(f"gitAuth.{missing}", "is required for HTTPS credentials", f"set belen:gitAuth.{missing}")
    else:
        problems.add("gitAuth", "holds no credentials", "set identity + knownHosts (SSH) or username + password (HTTPS), or remove it")
    return GitAuth(identity, known_hosts, username, password)


def _identity_problem(text: str) -> str | None:
    data = text.encode()
    for load in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
        try:
            load(data, password=None)
            return None
        except TypeError:
            return "is an encrypted private key (Flux cannot use a passphrase here)"
        except (ValueError, Exception):  # noqa: BLE001 - each loader raises its own errors on other formats
            continue
    return "is not a private key in OpenSSH or PEM form"
