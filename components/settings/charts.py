"""`belen:charts`, `belen:images` and the secret `belen:imagePullSecret`: where charts and images come from."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.charts import CHARTS, PROTECTED
from components.settings.reader import Node, Problems, describe

# Relative chart paths are read from the directory holding Pulumi.yaml, whatever the working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ChartSource:
    """Where one of belen's charts comes from, which version, and the user's values over belen's."""

    key: str
    chart: str  # the chart's name (for a path: from its Chart.yaml)
    version: str  # the pin, the override, or the path's Chart.yaml version
    repository: str | None = None  # a chart repository URL or an oci:// registry path
    path: str | None = None  # an absolute path to a chart directory or .tgz
    values: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # logged once, when the chart is installed

    @property
    def source(self) -> str:
        return self.path or self.repository or ""


@dataclass(frozen=True)
class ImagesSettings:
    registry: str | None = None  # host[:port][/prefix]; upstream repository paths go below it
    pull_secret: str | None = None  # the pull Secret's name, when belen:imagePullSecret is set
    docker_config: str | None = field(default=None, repr=False)  # the .dockerconfigjson text (secret)


def pinned(key: str) -> ChartSource:
    chart = CHARTS[key]
    return ChartSource(key, chart.name, chart.version, repository=chart.repository)


def parse_charts(node: Node) -> dict[str, ChartSource]:
    sources = {key: _chart_source(node.node(key), key) for key in CHARTS}
    node.done()
    return sources


def _chart_source(node: Node, key: str) -> ChartSource:
    pin = CHARTS[key]
    repository = node.str("repository", todo="write an https:// chart repository or an oci:// registry path")
    path_text = node.str("path", todo="write the path of a chart directory or .tgz")
    version = node.str("version", todo="write an exact chart version such as 1.2.3 (quote it)")
    values = _values(node, key)
    node.done()
    warnings = []
    if repository and path_text:
        node.problems.add(node.child_path("path"), "cannot be combined with repository",
                          "choose one source: remove repository or path")
    if repository and repository.startswith("http://"):
        warnings.append(f"belen:{node.child_path('repository')}: {repository} is unauthenticated plain text — "
                        f"anyone on the way can change the chart; prefer https:// or oci://")
    name, path = pin.name, None
    if path_text:
        path, found = _local_chart(node, path_text, pin.name)
        if found:
            name, chart_version = found
            if version and version != chart_version:
                node.problems.add(node.child_path("version"), f"is {version} but the chart at {path} is {chart_version}",
                                  "remove version (a path's Chart.yaml says it) or make them equal")
            version = chart_version
    if version and version != pin.version:
        where = (f"{node.child_path('path')}: the chart at {path} is version {version}, not" if path
                 else f"{node.child_path('version')}: {version} replaces")
        warnings.append(f"belen:{where} {pin.version}, the version belen was tested with")
    return ChartSource(key, name, version or pin.version, repository=None if path else repository or pin.repository,
                       path=path, values=values, warnings=tuple(warnings))


def _values(node: Node, key: str) -> dict[str, Any]:
    values = node.raw("values")
    if values is None:
        return {}
    if not isinstance(values, dict):
        node.problems.add(node.child_path("values"), f"must be an object, got {describe(values)}",
                          "write the chart values as a YAML mapping")
        return {}
    for path, guard in PROTECTED[key].items():
        if _overrides(values, path.split(".")):
            node.problems.add(f"{node.child_path('values')}.{path}", f"is refused: it protects {guard.protects}",
                              guard.todo)
    return values


def _overrides(values: Any, path: list[str]) -> bool:
    """True if `values`, merged over belen's, would set `path` or replace a mapping holding it."""
    head, *rest = path
    if not isinstance(values, dict) or head not in values:
        return False
    return not rest or not isinstance(values[head], dict) or _overrides(values[head], rest)


def _local_chart(node: Node, text: str, expected: str) -> tuple[str, tuple[str, str] | None]:
    """The absolute path and (name, version) of a local chart, or a problem recorded."""
    path = Path(text).expanduser()
    path = path if path.is_absolute() else (PROJECT_ROOT / path).resolve()
    shown = str(path)
    try:
        name, version = read_chart(path)
    except ChartError as exc:
        node.problems.add(node.child_path("path"), f"{shown} {exc}",
                          "point it at an unpacked chart directory or a .tgz (relative paths start at the project root)")
        return shown, None
    if name != expected:
        node.problems.add(node.child_path("path"), f"{shown} holds chart '{name}', not '{expected}'",
                          f"point it at the {expected} chart")
        return shown, None
    return shown, (name, version)


class ChartError(Exception):
    """A local chart that cannot be read; the message completes `<path> …`."""


def read_chart(path: Path) -> tuple[str, str]:
    """(name, version) from the Chart.yaml of a chart directory or a packaged chart (.tgz)."""
    if path.is_dir():
        if not (path / "Chart.yaml").is_file():
            raise ChartError("has no Chart.yaml")
        try:
            text = (path / "Chart.yaml").read_text()
        except (OSError, UnicodeDecodeError):
            raise ChartError("has a Chart.yaml that cannot be read") from None
    elif path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        text = _packaged_chart_yaml(path)
    elif path.exists():
        raise ChartError("is neither a directory nor a .tgz")
    else:
        raise ChartError("does not exist")
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ChartError("has a Chart.yaml that is not valid YAML") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("version"):
        raise ChartError("has a Chart.yaml without name and version")
    return meta["name"], str(meta["version"])


def _packaged_chart_yaml(path: Path) -> str:
    """A packaged chart holds `<chart>/Chart.yaml` (and its subcharts' deeper down)."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                parts = member.name.strip("./").split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == "Chart.yaml":
                    return archive.extractfile(member).read().decode()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, UnicodeDecodeError):
        raise ChartError("is not a readable .tgz") from None
    raise ChartError("is a .tgz without <chart>/Chart.yaml")


def parse_images(node: Node, image_pull_secret: Any) -> ImagesSettings:
    problems = node.problems
    registry = node.str("registry", todo="write a registry host with an optional path, e.g. harbor.home.arpa/mirror",
                        check=_registry_problem)
    name = node.str("pullSecret", todo="write a Secret name such as belen-image-pull")
    node.done()
    docker_config = _docker_config(image_pull_secret, problems)
    if node.has("pullSecret") and node.valid("pullSecret") and image_pull_secret is None:
        problems.require(node.child_path("pullSecret"), "names a pull Secret but belen:imagePullSecret is not set",
                         "set the registry credentials with `pulumi config set --secret belen:imagePullSecret "
                         "< ~/.docker/config.json`, or remove pullSecret", where="imagePullSecret")
    return ImagesSettings(registry=registry.rstrip("/") if registry else None,
                          pull_secret=name if docker_config else None,
                          docker_config=docker_config)


def _registry_problem(value: str) -> str | None:
    return f"'{value}' has a scheme; images are pulled by host, not URL" if "://" in value else None


def _docker_config(value: Any, problems: Problems) -> str | None:
    """The `.dockerconfigjson` text; never quoted in a problem (it holds credentials)."""
    if value is None:
        return None
    todo = 'set it to the text of a Docker config.json: {"auths": {"<registry>": {"auth": "…"}}}'
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else None
    try:
        parsed = json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        parsed = None
    auths = parsed.get("auths") if isinstance(parsed, dict) else None
    if not isinstance(auths, dict) or not auths or not all(isinstance(a, dict) for a in auths.values()):
        problems.add("imagePullSecret", "is not a Docker config.json with credentials under auths", todo)
        return None
    return text
