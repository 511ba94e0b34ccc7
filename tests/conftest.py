import sys
from pathlib import Path

import pytest

# Tests import the program's packages (components, tools) from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_addoption(parser):
    group = parser.getgroup("belen drill (tests/e2e, run by ./bin/e2e)")
    group.addoption("--drill", action="store_true", help="collect the replica drill in tests/e2e")
    group.addoption("--keep", action="store_true", help="drill: leave the clusters and controllers running")


def pytest_ignore_collect(collection_path, config):
    # The drill needs the test-bed toolchain and two local clusters: only ./bin/e2e runs it.
    if collection_path.name == "e2e" and collection_path.parent == Path(__file__).parent:
        return not config.getoption("--drill")
    return None


@pytest.fixture(autouse=True)
def schema_refuses_what_belen_refuses(monkeypatch):
    """Every stack a test sees belen refuse for a reason the catalog states, stacks/belen.schema.json refuses too."""
    import components.settings
    from tests import stack_schema

    accepted: list[list[str]] = []
    monkeypatch.setattr(components.settings, "_parse", stack_schema.watch(components.settings, accepted))
    yield
    assert not accepted, f"stacks/belen.schema.json accepts a stack file that belen refuses: {accepted[0]}"
