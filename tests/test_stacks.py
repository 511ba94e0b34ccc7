"""Every shipped stack renders, with its render inputs and the stack outputs it references."""

import json

import pytest
import yaml

from tests.graph import PROJECT_DIR, RENDER_INPUTS, run_cli

STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))
STACK_OUTPUTS = PROJECT_DIR / "tests" / "stack-outputs"


def test_all_seven_stacks_ship():
    assert STACKS == ["cloud", "dev", "homelab", "local", "ops", "prd", "rct"]


def render_args(stack):
    args = []
    if (RENDER_INPUTS / f"{stack}.yaml").exists():
        args += ["--config-file", str(RENDER_INPUTS / f"{stack}.yaml")]
    # Files are named after the stack they stand for: organization~belen~ops.json.
    for path in sorted(STACK_OUTPUTS.glob("*.json")):
        args += ["--stack-outputs", f"{path.stem.replace('~', '/')}={path}"]
    return args


@pytest.mark.parametrize("stack", STACKS)
def test_stack_renders(stack, tmp_path):
    result = run_cli("-m", "tools.render", stack, "--out", str(tmp_path / stack), *render_args(stack))
    assert result.code == 0, result.stderr
    outputs = json.loads((tmp_path / stack / "outputs.json").read_text())
    assert outputs["clusterName"] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_hold_no_secure_values(stack):
    config = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert not [k for k, v in config.items() if isinstance(v, dict) and "secure" in v]
