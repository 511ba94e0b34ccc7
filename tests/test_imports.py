"""No module under components/ imports itself back, directly or through others (imports inside functions count;
those under `if TYPE_CHECKING:` never run and do not)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.graph import PROJECT_DIR

COMPONENTS = PROJECT_DIR / "components"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, known: set[str]) -> set[str]:
    """The modules of `known` that a module's code imports."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= set().union(*(imported(other, known) for other in node.orelse))
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                      for alias in node.names}
        else:
            found |= imported(node, known)
    return found & known


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in COMPONENTS.rglob("*.py")}
    return {name: imported(ast.parse(path.read_text()), set(paths)) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        stack.append(name)
        for other in sorted(graph[name]):
            if other in stack:
                return stack[stack.index(other):] + [other]
            if other not in done and (cycle := visit(other)):
                return cycle
        stack.pop()
        done.add(name)
        return None

    return next((cycle for name in sorted(graph) if name not in done and (cycle := visit(name))), None)


def test_no_import_cycle_under_components():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    import y\n")
    assert imported(tree, {"x", "y"}) == {"y"}


def test_the_shared_constants_import_nothing_of_belens():
    graph = import_graph()
    assert graph["components.settings.constants"] == set()
    assert "components.settings.catalog" in graph["components.settings.reader"]
