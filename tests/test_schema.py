"""stacks/belen.schema.json: generated from the settings catalog, true to every stack file, strict on typos;
and the catalog itself, which the parsers cannot read past."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from components.errors import SettingsError
from components.settings import StackConfig, load_settings
from components.settings.catalog import SETTINGS
from components.settings.constants import WORDS
from components.settings.reader import CatalogError, Node, Problems
from tests.graph import PROJECT_DIR, RENDER_INPUTS, run_main
from tools import schema

STACK_FILES = sorted((PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))
# --config-file layers: full keys over a stack file's.
CONFIG_FILES = [PROJECT_DIR / "docs" / "examples" / "dev-continuous.yaml", *sorted(RENDER_INPUTS.glob("*.yaml"))]
MODELINE = "# yaml-language-server: $schema=./belen.schema.json"
KNOWN = [f"belen:{key}" for key in SETTINGS.fields]  # an unknown belen: key is refused as none of these


@pytest.fixture(scope="module")
def validator():
    committed = json.loads(schema.SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(committed)
    return jsonschema.Draft7Validator(committed)


def problems(validator, document):
    return sorted(error.message for error in validator.iter_errors(document))


def test_the_committed_schema_is_what_the_catalog_gives():
    result = run_main(schema.main, "--check")
    assert (result.code, result.stderr) == (0, ""), "run python -m tools.schema and commit stacks/belen.schema.json"


def test_check_exits_1_when_the_schema_is_stale(tmp_path, monkeypatch):
    stale = tmp_path / "belen.schema.json"
    stale.write_text(schema.render_schema().replace("Traefik replicas", "replicas"))
    monkeypatch.setattr(schema, "SCHEMA_FILE", stale)
    assert run_main(schema.main, "--check").code == 1
    assert run_main(schema.main).code == 0 and run_main(schema.main, "--check").code == 0


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_file_names_the_schema_and_follows_it(validator, path):
    assert path.read_text().splitlines()[0] == MODELINE
    assert problems(validator, yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_every_config_file_follows_the_schema(validator, path):
    layer = jsonschema.Draft7Validator({**validator.schema, "$ref": "#/definitions/configFile"})
    assert problems(layer, yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("config, message", [
    ({"belen:ingress": {"instal": True}}, "Additional properties are not allowed ('instal' was unexpected)"),
    ({"belen:certManger": {}}, f"'belen:certManger' is not one of {KNOWN}"),
    ({"belen:cluster.environment": "dev"}, f"'belen:cluster.environment' is not one of {KNOWN}"),
    ({"cluster": {}}, "'cluster' does not match '^[^:]+:'"),
    ({"belen:ingress": {"serviceType": "nodeport"}}, "'nodeport' is not one of ['LoadBalancer', 'NodePort']"),
    ({"belen:ingress": {"replicas": 21}}, "21 is greater than the maximum of 20"),
])
def test_typos_and_bad_values_are_refused(validator, config, message):
    document = {"config": {"belen:cluster": {"name": "homelab"}, **config}}
    assert problems(validator, document) == [message]


def test_secure_values_are_allowed_wherever_a_secret_setting_holds_them_and_nowhere_else(validator):
    secure = {"secure": "v1:AAE="}
    secret = {"belen:cluster": {"name": "x"}, "belen:kubeconfig": secure, "belen:gitAuth": {"identity": secure},
              "belen:sealingKeys": [{"cert": secure, "key": secure}],
              "belen:storeCredentials": {"vault": {"token": secure}}, "kubernetes:context": "x"}
    assert problems(validator, {"config": secret, "encryptionsalt": "v1:x"}) == []
    assert problems(validator, {"config": {"belen:cluster": {"name": secure}}}) == [
        "{'secure': 'v1:AAE='} is not of type 'string'"]


def test_other_namespaces_and_pulumis_own_keys_pass_but_not_other_top_level_keys(validator):
    assert problems(validator, {"config": {"belen:cluster": {"name": "x"}, "pulumi:tags": {}},
                                "secretsprovider": "passphrase"}) == []
    assert problems(validator, {"confg": {}}) == ["Additional properties are not allowed ('confg' was unexpected)"]


def test_reading_a_setting_the_catalog_does_not_declare_is_a_bug_in_belen():
    with pytest.raises(CatalogError, match="belen:ingress.colour is read by the settings code but not declared"):
        Node({}, "ingress", Problems()).str("colour")


def test_a_read_takes_default_choices_bounds_pattern_and_coercion_from_the_catalog():
    problems = Problems()
    absent = Node({}, "ingress", problems)
    assert (absent.bool("install"), absent.str("className"), absent.str("serviceType"), absent.int("replicas")) == (
        False, "traefik", "LoadBalancer", 2)
    given = Node({"className": "Traefik", "serviceType": "ClusterIP", "replicas": 21}, "ingress", problems)
    assert (given.str("className"), given.str("serviceType"), given.int("replicas")) == ("traefik", "LoadBalancer", 2)
    assert Node({"keyRenewPeriod": 0}, "sealedSecrets", problems).str("keyRenewPeriod") == "0"
    assert problems.lines == [
        "belen:ingress.className: 'Traefik' is not a valid Kubernetes name — set it to a string",
        "belen:ingress.serviceType: 'ClusterIP' is not one of LoadBalancer, NodePort — use one of LoadBalancer, NodePort",
        "belen:ingress.replicas: 21 is out of range — use a number from 1 to 20",
    ]
    assert problems.declared == problems.lines


@pytest.mark.parametrize("config", [
    {"belen:kubeconfig": "apiVersion: v1"},
    {"belen:flux": {"git": {"url": "https://git.example.org/r"}}, "belen:gitAuth": {"username": "u", "password": "p"}},
    {"belen:flux": {"git": {"url": "github.com/x"}}},
    {"belen:tls": {"apiServer": {"url": "http//host:6443", "caBundle": "x"}, "readers": {"dev": ["web"]}}},
    {"belen:certManager": {"issuers": [{"name": "le", "acme": {"email": "not-an-email", "server": "letsencrypt",
                                                                "http01": {}}}]}},
    {"belen:sealingKeys": [], "belen:sealedSecrets": {"generateKey": False}},
    {"belen:sealedSecrets": {"keyRenewPeriod": "monthly"}},
    {"belen:certManger": {}},
], ids=["plain-kubeconfig", "plain-gitAuth", "url-without-scheme", "url-without-colon", "email", "no-sealing-keys",
        "renew-period", "unknown-key"])
def test_the_schema_refuses_what_belen_refuses(validator, config):
    """The inputs issue 34 saw the schema accept on 8532845 (tests/conftest.py checks every settings test's)."""
    config = {"belen:cluster": {"name": "x"}, **config}
    with pytest.raises(SettingsError):
        load_settings(StackConfig(config, frozenset({"belen:sealingKeys"})), "x")
    assert problems(validator, {"config": config}) != []


def test_every_pattern_the_catalog_declares_has_its_words():
    def patterns(setting):
        yield setting.pattern
        for child in [*setting.fields.values(), *([setting.item] if setting.item else [])]:
            yield from patterns(child)

    assert {pattern for pattern in patterns(SETTINGS) if pattern} <= set(WORDS)
