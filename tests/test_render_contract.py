"""`python -m tools.render`: files, redaction, determinism, exit codes.

One real render process makes the files the module reads; the other cases call the tool's entry
point (test_cli_contract.py runs every failure path as a process).
"""

import json

import pytest
import yaml

from tests import keyfactory as kf
from tests.graph import render_cli, render_inputs, render_stack, run_cli, run_main, write_yaml
from tools import render


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("contract") / "out"
    result = run_cli("-m", "tools.render", "local", "--out", str(out))
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout.startswith("rendered ") and str(out) in result.stdout
    return out


def render_local(*args):
    return run_main(render.main, "local", *[str(arg) for arg in args])


def test_render_writes_the_documented_files(rendered):
    resources = json.loads((rendered / "resources.json").read_text())
    keys = {"type", "name", "urn", "parent", "dependencies", "custom", "read", "provider", "protect",
            "retainOnDelete", "inputs", "secretPaths"}
    assert resources and all(set(r) == keys for r in resources)
    assert (rendered / "manifests").is_dir() and (rendered / "helm").is_dir()
    outputs = json.loads((rendered / "outputs.json").read_text())
    assert outputs["clusterName"] == "local"


def test_resources_are_in_topological_order(rendered):
    resources = json.loads((rendered / "resources.json").read_text())
    position = {r["urn"]: i for i, r in enumerate(resources)}
    for index, resource in enumerate(resources):
        for before in [resource["parent"], resource["provider"], *resource["dependencies"]]:
            if before in position:
                assert position[before] < index, f"{resource['urn']} listed before {before}"


def test_two_renders_are_byte_identical(rendered, tmp_path):
    """The process's render and one in this process (another hash seed, another event loop)."""
    again = tmp_path / "again"
    assert render_local("--out", again).code == 0
    outs = [{p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} for out in (rendered, again)]
    assert outs[0] == outs[1]


def test_invalid_settings_exit_2_with_key_paths_no_traceback_and_no_render(tmp_path):
    out = tmp_path / "out"
    bad = write_yaml(tmp_path / "bad.yaml", {"belen:cluster": {"name": "Not A Label", "colour": "red"}})
    result = render_local("--out", out, "--config-file", bad)
    assert result.code == 2
    assert "belen:cluster.name: 'Not A Label' is not a DNS label" in result.stderr
    assert "belen:cluster.colour: unknown setting" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_failed_render_removes_the_previous_one(tmp_path):
    out = tmp_path / "out"
    assert render_local("--out", out).code == 0
    bad = write_yaml(tmp_path / "bad.yaml", {"belen:cluster": {}})
    assert render_local("--out", out, "--config-file", bad).code == 2
    assert not out.exists()


def test_render_refuses_to_replace_a_folder_that_is_not_a_render(tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("data")
    result = render_local("--out", tmp_path)
    assert result.code == 2 and "is not a belen render" in result.stderr
    assert keep.read_text() == "data"


def test_unknown_stack_names_the_known_ones():
    result = run_main(render.main, "nosuchstack")
    assert result.code == 2
    assert "no stack file stacks/Pulumi.nosuchstack.yaml" in result.stderr and "local" in result.stderr


def test_secure_value_without_config_file_is_an_error(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    write_yaml(stacks / "Pulumi.s.yaml", {"config": {"belen:cluster": {"name": "s"}, "belen:kubeconfig": {"secure": "AAE="}}})
    monkeypatch.setattr("tools.render.STACKS_DIR", stacks)
    with pytest.raises(render.UsageError, match="belen:kubeconfig is a secure value in Pulumi.s.yaml that no --config-file supplies"):
        render.load_config("s", [])
    config, secret_keys = render.load_config("s", [{"belen:kubeconfig": "apiVersion: v1"}])
    assert secret_keys == {"belen:kubeconfig"}


NESTED = {"config": {
    "belen:cluster": {"name": "s"},
    "belen:flux": {"git": {"url": "ssh://git@git.example.org/r.git"}},
    # What `pulumi config set --secret --path 'belen:gitAuth.identity'` (and .knownHosts) writes.
    "belen:gitAuth": {"identity": {"secure": "v1:AAE="}, "knownHosts": {"secure": "v1:AAI="}},
    "belen:sealingKeys": [{"cert": {"secure": "v1:AAM="}, "key": {"secure": "v1:AAQ="}}],
}}


@pytest.fixture
def nested_stack(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    write_yaml(stacks / "Pulumi.s.yaml", NESTED)
    monkeypatch.setattr("tools.render.STACKS_DIR", stacks)


def test_every_nested_secure_value_must_be_supplied_naming_its_full_path(nested_stack):
    with pytest.raises(render.UsageError) as caught:
        render.load_config("s", [{"belen:gitAuth.knownHosts": "github.com ssh-ed25519 AAAA"}])
    assert caught.value.lines == [
        f"{path} is a secure value in Pulumi.s.yaml that no --config-file supplies — add it to a --config-file"
        for path in ("belen:gitAuth.identity", "belen:sealingKeys[0].cert", "belen:sealingKeys[0].key")]


@pytest.mark.parametrize("layers", [
    [{"belen:gitAuth.identity": "K", "belen:gitAuth.knownHosts": "H", "belen:sealingKeys[0].cert": "C",
      "belen:sealingKeys[0].key": "P"}],  # the paths, as `pulumi config set --path` names them
    [{"belen:gitAuth": {"identity": "K", "knownHosts": "H"}}, {"belen:sealingKeys": [{"cert": "C", "key": "P"}]}],
])
def test_a_config_file_supplies_nested_secure_values_by_path_or_whole(nested_stack, layers):
    config, secret_keys = render.load_config("s", layers)
    assert json.loads(config["belen:gitAuth"]) == {"identity": "K", "knownHosts": "H"}
    assert json.loads(config["belen:sealingKeys"]) == [{"cert": "C", "key": "P"}]
    # As under the engine: a key holding a secure value anywhere is secret as a whole.
    assert secret_keys == {"belen:gitAuth", "belen:sealingKeys"}


def test_a_config_file_path_through_a_plain_value_is_refused(nested_stack):
    with pytest.raises(render.UsageError, match="--config-file key belen:cluster.name.first runs through a value of "
                                                "belen:cluster that is not an object or list holding it"):
        render.load_config("s", [{"belen:cluster.name.first": "x"}])


def test_nested_secrets_render_without_a_plain_text_complaint(tmp_path, nested_stack):
    pair = kf.pair("nested")
    inputs = write_yaml(tmp_path / "in.yaml", {"belen:sealingKeys[0].cert": pair["cert"],
                                               "belen:sealingKeys[0].key": pair["key"],
                                               "belen:gitAuth": render_inputs("cloud")[0]["belen:gitAuth"]})
    result = run_main(render.main, "s", "--out", tmp_path / "out", "--config-file", inputs)
    assert (result.code, result.stderr) == (0, "")


def test_secrets_are_redacted_unless_asked(tmp_path):
    kubeconfig = "apiVersion: v1\nkind: Config\n# dummy-kubeconfig-marker\n"
    inputs = write_yaml(tmp_path / "in.yaml", {"belen:kubeconfig": kubeconfig})
    out = tmp_path / "out"
    assert render_local("--out", out, "--config-file", inputs).code == 0
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "dummy-kubeconfig-marker" not in everything
    provider = next(r for r in json.loads((out / "resources.json").read_text()) if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]" and provider["secretPaths"] == ["kubeconfig"]

    shown = tmp_path / "shown"
    assert render_local("--out", shown, "--config-file", inputs, "--show-secrets").code == 0
    provider = next(r for r in json.loads((shown / "resources.json").read_text()) if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == kubeconfig


def test_stack_reference_outputs_are_served_with_their_secrecy():
    import pulumi
    from tools import mockrun

    served = mockrun.run(lambda: pulumi.export("x", pulumi.StackReference("org/belen/ops").get_output("y")),
                         stack="t", config={}, stack_outputs={"org/belen/ops": {"y": 1, "__secret__": ["y"]}})
    assert (served.outputs["x"].value, served.outputs["x"].secret) == (1, True)


def test_stack_reference_without_outputs_file_is_exit_2_naming_the_ref(tmp_path):
    result = render_cli("cloud", "--out", str(tmp_path / "out"))
    assert result.code == 2 and not (tmp_path / "out").exists()
    assert result.stderr.splitlines() == [
        "error: the program reads the outputs of stack 'organization/belen/homelab' — "
        "pass them with --stack-outputs organization/belen/homelab=FILE"]


def test_every_stack_read_without_outputs_is_named_after_the_program_ran_to_its_end():
    import pulumi
    from tools import mockrun

    ran_to_the_end = []

    def program():
        for ref in ("org/p/a", "org/p/b", "org/p/a"):
            pulumi.export(ref, pulumi.StackReference(ref).get_output("x").apply(lambda x: x + 1))
        ran_to_the_end.append(True)

    with pytest.raises(mockrun.MissingStackOutputs) as caught:
        mockrun.run(program, stack="t", config={})
    assert caught.value.refs == ["org/p/a", "org/p/b"] and ran_to_the_end


def test_every_kubernetes_resource_uses_the_stacks_explicit_provider():
    graph = render_stack("local")
    provider = graph.one("pulumi:providers:kubernetes")
    kube = [r for r in graph.resources if r.custom and r.type.startswith("kubernetes:")]
    for resource in kube:
        assert resource.provider == provider.urn, f"{resource.urn} does not use the stack's provider"


def test_manifest_files_hold_the_objects(rendered):
    for path in (rendered / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]
