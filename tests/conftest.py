import sys
from pathlib import Path

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
