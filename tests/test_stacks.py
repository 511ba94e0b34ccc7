"""Every shipped stack renders with its render inputs and the stack outputs it references; every
Kubernetes resource uses the stack's one explicit provider; render inputs hold exactly what is needed."""

import json

import pytest
import yaml

from components.settings import NAMESPACE, SECRET_KEYS
from tests.graph import PROJECT_DIR, RENDER_INPUTS, render_stack, run_cli, run_main
from tools import mockrun, render

STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))
STACK_OUTPUTS = PROJECT_DIR / "tests" / "stack-outputs"
# Files are named after the stack they stand for: organization~belen~ops.json.
OUTPUT_FILES = sorted(STACK_OUTPUTS.glob("*.json"))
ALL_OUTPUTS = {p.stem.replace("~", "/"): json.loads(p.read_text()) for p in OUTPUT_FILES}


def test_all_seven_stacks_ship():
    assert STACKS == ["cloud", "dev", "homelab", "local", "ops", "prd", "rct"]


def render_args(stack):
    args = []
    if (RENDER_INPUTS / f"{stack}.yaml").exists():
        args += ["--config-file", str(RENDER_INPUTS / f"{stack}.yaml")]
    stack_file = (PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    for path in OUTPUT_FILES:
        ref = path.stem.replace("~", "/")
        if ref in stack_file:  # only the stacks it reads: another one is warned about
            args += ["--stack-outputs", f"{ref}={path}"]
    return args


@pytest.mark.parametrize("stack", STACKS)
def test_stack_renders(stack, tmp_path):
    result = run_main(render.main, stack, "--out", str(tmp_path / stack), *render_args(stack))
    assert result.code == 0, result.stderr
    assert result.stderr == "", "a shipped stack renders without warnings"
    outputs = json.loads((tmp_path / stack / "outputs.json").read_text())
    assert outputs["clusterName"] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_resource_uses_the_stacks_explicit_provider(stack):
    graph = render_stack(stack, stack_outputs=ALL_OUTPUTS)
    [provider] = graph.find("pulumi:providers:kubernetes")
    kube = [r for r in graph.resources if r.custom and r.type.startswith("kubernetes:")]
    assert kube
    for resource in kube:
        assert resource.provider == provider.urn, f"{resource.urn} does not use the stack's provider"
    # Secrets apps use by name are updated in place, never replaced (the drill's renewal found it).
    assert provider.inputs()["enableSecretMutable"] in (True, "true")
    # The cluster is its name, whatever kubeconfig reaches it: a cluster started anew (new CA, new
    # address) updates the provider in place instead of replacing everything on it (bin/up-local twice).
    assert provider.inputs()["clusterIdentifier"] == graph.output("clusterName").value


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_hold_no_secure_or_secret_values(stack):
    config = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert not [k for k, v in config.items() if isinstance(v, dict) and "secure" in v]
    assert not [k for k in config if k.split(":", 1)[1] in SECRET_KEYS]


@pytest.mark.parametrize("path", sorted(RENDER_INPUTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_render_inputs_hold_exactly_the_secrets_a_stack_needs(path):
    inputs = yaml.safe_load(path.read_text())
    assert set(inputs) <= {f"{NAMESPACE}:{key}" for key in SECRET_KEYS}, "render inputs hold secret keys only"
    if path.stem == "homelab":
        assert "belen:sealingKeys" not in inputs, "a primary that generates its key holds none"
    for key in inputs:
        reduced = {k: v for k, v in inputs.items() if k != key}
        config, secret_keys = render.load_config(path.stem, [reduced])
        with pytest.raises(Exception) as caught:
            mockrun.run_main(stack=path.stem, config=config, secret_keys=secret_keys, stack_outputs=ALL_OUTPUTS)
        assert f"belen:{key.split(':')[1]}" in str(caught.value), f"{key} is not needed by {path.stem}"


def test_the_benchmark_script_runs():
    result = run_cli("-m", "tools.bench", "--quick")
    assert result.code == 0, result.stderr
    for figure in ("render vs bare-SDK floor, whole-process CPU", "longest dependency chain",
                   "single-core RSA-OAEP decrypt", "of the limit", "kubesealpy:"):
        assert figure in result.stdout
