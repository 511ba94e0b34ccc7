"""The settings loader: typed results, every error path, one error listing all problems."""

import pytest

from components.errors import SettingsError
from components.settings import StackConfig, load_settings


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


def test_all_problems_are_reported_at_once_with_a_suggestion_for_typos():
    lines = errors({"belen:cluster": {"name": "ok", "enviroment": "dev", "context": 3}, "belen:clustr": {}})
    assert lines == [
        "belen:clustr: unknown setting — known settings are " + lines[0].split("known settings are ")[1],
        "belen:cluster.context: must be a string, got a number — set it to a context name from your kubeconfig",
        "belen:cluster.enviroment: unknown setting — did you mean 'environment'?",
    ]


def test_settings_object_must_be_a_mapping():
    assert errors({"belen:cluster": '["x"]'})[0] == (
        "belen:cluster: must be an object, got a list — write it as a YAML mapping of settings"
    )


def test_secret_setting_in_plain_text_is_refused():
    lines = errors({"belen:cluster": {"name": "x"}, "belen:kubeconfig": "apiVersion: v1"})
    assert lines == [
        "belen:kubeconfig: is stored in plain text — remove it from the stack file and set it with "
        "`pulumi config set --secret --path 'belen:kubeconfig...'`"
    ]


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
