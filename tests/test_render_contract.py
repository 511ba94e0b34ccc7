"""`python -m tools.render`: files, redaction, determinism, exit codes."""

import json

import pytest
import yaml

from tests.graph import render_cli, render_stack, run_cli, write_yaml


@pytest.fixture
def rendered(tmp_path):
    out = tmp_path / "out"
    result = run_cli("-m", "tools.render", "local", "--out", str(out))
    assert result.code == 0, result.stderr
    return out


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


def test_two_renders_are_byte_identical(tmp_path):
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert run_cli("-m", "tools.render", "local", "--out", str(out)).code == 0
        outs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outs[0] == outs[1]


def test_invalid_settings_exit_2_with_key_paths_no_traceback_and_no_render(tmp_path):
    out = tmp_path / "out"
    bad = write_yaml(tmp_path / "bad.yaml", {"belen:cluster": {"name": "Not A Label", "colour": "red"}})
    result = run_cli("-m", "tools.render", "local", "--out", str(out), "--config-file", str(bad))
    assert result.code == 2
    assert "belen:cluster.name: 'Not A Label' is not a DNS label" in result.stderr
    assert "belen:cluster.colour: unknown setting" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_failed_render_removes_the_previous_one(tmp_path):
    out = tmp_path / "out"
    assert run_cli("-m", "tools.render", "local", "--out", str(out)).code == 0
    bad = write_yaml(tmp_path / "bad.yaml", {"belen:cluster": {}})
    assert run_cli("-m", "tools.render", "local", "--out", str(out), "--config-file", str(bad)).code == 2
    assert not out.exists()


def test_render_refuses_to_replace_a_folder_that_is_not_a_render(tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("data")
    result = run_cli("-m", "tools.render", "local", "--out", str(tmp_path))
    assert result.code == 2 and "is not a belen render" in result.stderr
    assert keep.read_text() == "data"


def test_unknown_stack_names_the_known_ones():
    result = run_cli("-m", "tools.render", "nosuchstack")
    assert result.code == 2
    assert "no stack file stacks/Pulumi.nosuchstack.yaml" in result.stderr and "local" in result.stderr


def test_secure_value_without_config_file_is_an_error(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    write_yaml(stacks / "Pulumi.s.yaml", {"config": {"belen:cluster": {"name": "s"}, "belen:kubeconfig": {"secure": "AAE="}}})
    monkeypatch.setattr("tools.render.STACKS_DIR", stacks)
    from tools import render
    with pytest.raises(render.UsageError, match="belen:kubeconfig is a secure value in Pulumi.s.yaml that no --config-file supplies"):
        render.load_config("s", [])
    config, secret_keys = render.load_config("s", [{"belen:kubeconfig": "apiVersion: v1"}])
    assert secret_keys == {"belen:kubeconfig"}


def test_secrets_are_redacted_unless_asked(tmp_path):
    kubeconfig = "apiVersion: v1\nkind: Config\n# dummy-kubeconfig-marker\n"
    inputs = write_yaml(tmp_path / "in.yaml", {"belen:kubeconfig": kubeconfig})
    out = tmp_path / "out"
    assert run_cli("-m", "tools.render", "local", "--out", str(out), "--config-file", str(inputs)).code == 0
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "dummy-kubeconfig-marker" not in everything
    provider = next(r for r in json.loads((out / "resources.json").read_text()) if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]" and provider["secretPaths"] == ["kubeconfig"]

    shown = tmp_path / "shown"
    assert run_cli("-m", "tools.render", "local", "--out", str(shown), "--config-file", str(inputs), "--show-secrets").code == 0
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
    assert result.code == 2
    assert "organization/belen/homelab" in result.stderr and "--stack-outputs" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


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
