"""The settings loader: typed results, every error path, one error listing all problems."""

import contextvars
import json

import pytest

from components.errors import SettingsError
from components.settings import StackConfig, load_settings
from tests import keyfactory as kf
from tests.graph import render_cli, write_yaml


def load(values, secret_keys=()):
    return load_settings(StackConfig.from_strings(values, frozenset(secret_keys)), "test")


def errors(values, secret_keys=()):
    with pytest.raises(SettingsError) as caught:
        load(values, secret_keys)
    return caught.value.lines


def test_cluster_defaults_environment_to_name():
    settings = load({"belen:cluster": '{"name": "homelab"}'})
    assert settings.cluster.name == "homelab"
    assert settings.cluster.environment == "homelab"
    assert settings.cluster.context is None


def test_cluster_reads_every_field_and_the_secret_kubeconfig():
    settings = load(
        {"belen:cluster": {"name": "cloud", "environment": "prd", "context": "aks"}, "belen:kubeconfig": "apiVersion: v1"},
        secret_keys={"belen:kubeconfig"},
    )
    assert (settings.cluster.name, settings.cluster.environment, settings.cluster.context) == ("cloud", "prd", "aks")
    assert settings.cluster.kubeconfig == "apiVersion: v1"
    assert "apiVersion" not in repr(settings), "secret values must not show in reprs or logs"


def test_missing_cluster_name_is_required():
    assert errors({}) == ["belen:cluster.name: is required — set belen:cluster.name to a DNS label such as homelab"]


@pytest.mark.parametrize("name", ["Homelab", "-x", "a" * 64, "a_b"])
def test_cluster_name_must_be_a_dns_label(name):
    assert errors({"belen:cluster": {"name": name}}) == [
        f"belen:cluster.name: '{name}' is not a DNS label — set belen:cluster.name to a DNS label such as homelab"
    ]


def test_all_problems_are_reported_at_once_root_causes_first_with_a_suggestion_for_typos():
    lines = errors({"belen:cluster": {"name": "ok", "enviroment": "dev", "context": 3}, "belen:clustr": {},
                    "belen:wibble": {}})
    assert lines == [
        "belen:clustr: unknown setting — did you mean 'cluster'?",
        "belen:wibble: unknown setting — known settings are belen:" + lines[1].split("known settings are belen:")[1],
        "belen:cluster.enviroment: unknown setting — did you mean 'environment'?",
        "belen:cluster.context: must be a string, got a number — set it to a context name from your kubeconfig",
    ]


def test_a_top_level_typo_gets_a_suggestion():
    assert errors({"belen:cluster": {"name": "x"}, "belen:certManger": {}}) == [
        "belen:certManger: unknown setting — did you mean 'certManager'?"]


def test_an_unknown_key_comes_before_the_problems_it_causes():
    lines = errors({"belen:cluster": {"name": "x"}, "belen:ingress": {"instal": True, "serviceType": "NodePort"}})
    assert lines == [
        "belen:ingress.instal: unknown setting — did you mean 'install'?",
        "belen:ingress.serviceType: only applies when belen installs the controller — set belen:ingress.install: "
        "true, or remove it (k3s configures its own Traefik)",
    ]


def test_the_consequences_of_a_reported_problem_are_not_reported():
    assert errors({"belen:cluster": {"name": "x"}, "belen:ingress": {"install": "yes", "replicas": "two"}}) == [
        "belen:ingress.install: must be true or false, got a string — set it to true or false",
        "belen:ingress.replicas: must be a whole number, got a string — set it to a whole number",
    ]
    mirror = {"fromStack": "o/belen/ops", "certificates": {"web": {"namespaces": ["web"]}}, "mode": "continous",
              "refreshInterval": "1m"}
    assert errors({"belen:cluster": {"name": "x"}, "belen:tls": {"mirror": mirror}}) == [
        "belen:tls.mirror.mode: 'continous' is not one of stack, continuous — did you mean 'continuous'?"]


@pytest.mark.parametrize("written, hint", [("nodeport", "did you mean 'NodePort'?"),
                                           ("LoadBalancr", "did you mean 'LoadBalancer'?"),
                                           ("ClusterIP", "use one of LoadBalancer, NodePort")])
def test_a_value_not_among_the_choices_gets_the_one_meant(written, hint):
    lines = errors({"belen:cluster": {"name": "x"}, "belen:ingress": {"install": True, "serviceType": written}})
    assert lines == [f"belen:ingress.serviceType: '{written}' is not one of LoadBalancer, NodePort — {hint}"]


def test_a_dotted_key_set_without_path_is_one_line_saying_what_to_run():
    assert errors({"belen:cluster.name": "homelab"}) == [
        'belen:cluster.name: set as a literal key named "cluster.name" — run pulumi config rm belen:cluster.name, '
        "then pulumi config set --path 'belen:cluster.name' homelab (or write it nested in the stack file)"]


def test_a_dotted_secret_key_set_without_path_never_shows_its_value():
    values = {"belen:cluster": {"name": "x"}, "belen:flux": {"git": {"url": "https://git.example.org/r"}},
              "belen:gitAuth.username": "hunter2", "belen:gitAuth.password": "hunter3"}
    lines = errors(values, {"belen:gitAuth.password"})
    assert lines == [
        f'belen:gitAuth.{key}: set as a literal key named "gitAuth.{key}" — run pulumi config rm belen:gitAuth.{key}, '
        f"then pulumi config set --secret --path 'belen:gitAuth.{key}' < FILE (or write it nested in the stack file)"
        for key in ("username", "password")]
    assert "hunter" not in "\n".join(lines)


def test_a_dotted_key_beside_its_area_keeps_the_areas_value():
    config = StackConfig({"belen:cluster": {"name": "x"}, "belen:cluster.name": "y"})
    with pytest.raises(SettingsError) as caught:
        load_settings(config, "test")
    assert len(caught.value.lines) == 1 and config.values["belen:cluster"] == {"name": "x"}


def test_a_nested_secret_is_secret_when_its_top_level_key_is():
    """The engine marks `belen:gitAuth` secret when any value inside it is (config.Map.SecureKeys)."""
    values = {"belen:cluster": {"name": "x"}, "belen:flux": {"git": {"url": "https://git.example.org/r"}},
              "belen:gitAuth": {"username": "u", "password": "p"}}
    assert load(values, {"belen:gitAuth"}).flux.auth.password == "p"


def test_settings_object_must_be_a_mapping():
    assert errors({"belen:cluster": '["x"]'})[0] == (
        "belen:cluster: must be an object, got a list — write it as a YAML mapping of settings"
    )


def test_secret_setting_in_plain_text_is_refused():
    lines = errors({"belen:cluster": {"name": "x"}, "belen:kubeconfig": "apiVersion: v1"})
    assert lines == [
        "belen:kubeconfig: is stored in plain text — remove it from the stack file and set it with "
        "`pulumi config set --secret --path 'belen:kubeconfig'`"
    ]


def test_a_structured_secret_in_plain_text_is_told_the_whole_path_of_each_value():
    lines = errors({"belen:cluster": {"name": "x"}, "belen:flux": {"git": {"url": "https://git.example.org/r"}},
                    "belen:gitAuth": {"username": "u", "password": "hunter2"},
                    "belen:sealingKeys": [kf.pair("restored")]})
    command = "`pulumi config set --secret --path 'belen:{}'`".format
    assert lines == [
        "belen:sealingKeys: is stored in plain text — remove it from the stack file and set it with "
        f"{command('sealingKeys[0].cert')} and {command('sealingKeys[0].key')}",
        "belen:gitAuth: is stored in plain text — remove it from the stack file and set it with "
        f"{command('gitAuth.username')} and {command('gitAuth.password')}",
    ]
    assert "hunter2" not in "\n".join(lines)


def test_a_key_without_the_belen_prefix_is_named_and_read_as_meant():
    assert errors({"cluster": {"name": "x"}}) == [
        'belen:cluster: is written "cluster", without the belen: prefix — name it belen:cluster in the stack '
        "file's config"]


def test_a_stack_files_key_without_the_belen_prefix_reaches_the_program(tmp_path):
    result = render_cli("local", "--out", str(tmp_path / "out"), "--config-file",
                        str(write_yaml(tmp_path / "in.yaml", {"ingress": {"install": True}})))
    assert (result.code, result.stderr) == (2, 'belen:ingress: is written "ingress", without the belen: prefix — '
                                               "name it belen:ingress in the stack file's config\n")


def test_other_namespaces_are_ignored():
    assert load({"belen:cluster": {"name": "x"}, "kubernetes:context": "y"}).cluster.name == "x"


def test_error_message_never_contains_secret_values():
    lines = errors({"belen:cluster": {"name": "x"}, "belen:kubeconfig": {"token": "hunter2"}}, {"belen:kubeconfig"})
    assert lines == ["belen:kubeconfig: must be a string, got an object — set it to the file's text"]
    assert "hunter2" not in "\n".join(lines)


@pytest.mark.parametrize("secret, area, value", [
    ("gitAuth", "flux", {"username": "u", "password": "p"}),
    ("storeCredentials", "externalSecrets", {"vault": {"token": "t"}}),
    ("acmeCredentials", "certManager", {"le": {"apiToken": "t"}}),
    ("caKeyPair", "certManager", {"ca": {"cert": "c", "key": "k"}}),
])
def test_secret_settings_need_their_area(secret, area, value):
    lines = errors({"belen:cluster": {"name": "x"}, f"belen:{secret}": value}, {f"belen:{secret}"})
    assert lines == [f"belen:{secret}: is set but belen:{area} is not — configure belen:{area} or remove belen:{secret}"]


def test_a_kubeconfig_written_as_json_stays_text():
    kubeconfig = '{"apiVersion": "v1", "kind": "Config"}'
    settings = load({"belen:cluster": {"name": "x"}, "belen:kubeconfig": kubeconfig}, {"belen:kubeconfig"})
    assert settings.cluster.kubeconfig == kubeconfig


@pytest.mark.parametrize("passed_by", ["environment", "run request"])
def test_the_engine_passes_a_nested_secret_as_its_whole_top_level_key_secret(monkeypatch, passed_by):
    """For `belen:gitAuth: {password: {secure: …}}` the engine passes the object decrypted, as JSON text, and
    names the top-level key secret (pulumi/pulumi config.Map.SecureKeys: an object holding a secure value is
    secure): belen reads it as secret, with no "stored in plain text"."""
    from pulumi.runtime import config as runtime_config

    from components.settings.source import read_stack_config

    config = {"belen:cluster": '{"name": "x"}', "belen:flux": '{"git": {"url": "https://git.example.org/r"}}',
              "belen:gitAuth": json.dumps({"username": "u", "password": "p"})}

    def read():
        if passed_by == "environment":
            monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
            monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["belen:gitAuth"]))
            runtime_config.set_all_config({}, [])
        else:
            runtime_config.set_all_config(config, ["belen:gitAuth"])
        return read_stack_config()

    stack_config = contextvars.copy_context().run(read)
    assert stack_config.secret_keys == {"belen:gitAuth"}
    assert load_settings(stack_config, "test").flux.auth.password == "p"
