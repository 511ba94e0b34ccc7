"""Every failure path README documents, as a user meets it: a real process whose standard error holds
exactly belen's lines — no traceback, no RuntimeWarning, no "Task exception" from the SDK — and the
exit code README gives (`tools.render`: 2 inputs or settings, 3 a check on values; `tools.keys`: 2).
The program itself, run in-process, fails just as quietly."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from kubesealpy import Sealer

from components.errors import SettingsError, ValueCheckError
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, RENDER_INPUTS, render_inputs, run_cli, run_main, write_json, write_yaml
from tools import mockrun, render
from tools.preflight import cli as preflight

OPS, HOMELAB = "organization/belen/ops", "organization/belen/homelab"
STACKS = "cloud, dev, homelab, local, ops, prd, rct"


def missing(ref: str) -> str:
    return f"error: the program reads the outputs of stack '{ref}' — pass them with --stack-outputs {ref}=FILE"


def render_case(tmp: Path, name: str) -> tuple[list[str], int, list[str]]:
    """(arguments after `python`, exit code, stderr lines) of one documented render failure."""
    out = tmp / "out"
    cloud_inputs = ["--config-file", str(RENDER_INPUTS / "cloud.yaml")]
    if name in ("dev", "rct", "prd"):
        return [name, "--out", str(out)], 2, [missing(OPS)]
    if name == "cloud":
        return ["cloud", *cloud_inputs, "--out", str(out)], 2, [missing(HOMELAB)]
    if name == "unknown-stack":
        return ["nosuchstack"], 2, [f"error: no stack file stacks/Pulumi.nosuchstack.yaml — known stacks: {STACKS}"]
    if name == "out-not-a-render":
        (tmp / "precious.txt").write_text("data")
        return ["local", "--out", str(tmp)], 2, [
            f"error: --out {tmp} exists and is not a belen render — choose an empty or new folder"]
    if name == "config-file-unreadable":
        return ["local", "--out", str(out), "--config-file", str(tmp / "nope.yaml")], 2, [
            f"error: cannot read {tmp / 'nope.yaml'}: No such file or directory"]
    if name == "config-file-not-yaml":
        (tmp / "bad.yaml").write_text("a: [unclosed\n")
        return ["local", "--out", str(out), "--config-file", str(tmp / "bad.yaml")], 2, [
            f"error: {tmp / 'bad.yaml'} is not valid YAML: expected ',' or ']', but got '<stream end>' at line 2, "
            "column 1 — correct the file"]
    if name == "config-file-a-list":
        write_yaml(tmp / "list.yaml", [{"belen:cluster.name": "x"}])
        return ["local", "--out", str(out), "--config-file", str(tmp / "list.yaml")], 2, [
            f"error: {tmp / 'list.yaml'} must hold a YAML mapping, not a list — write one full key a line, "
            '`belen:gitAuth.identity: "…"`, as tests/render-inputs/cloud.yaml does']
    if name == "stack-outputs-not-ref-file":
        return ["local", "--out", str(out), "--stack-outputs", "ops.json"], 2, [
            "error: --stack-outputs takes REF=FILE, got 'ops.json'"]
    if name == "stack-outputs-not-json":
        (tmp / "ops.json").write_text("{")
        return ["dev", "--out", str(out), "--stack-outputs", f"{OPS}={tmp / 'ops.json'}"], 2, [
            f"error: {tmp / 'ops.json'} is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)"]
    if name == "reads-not-objects":
        write_yaml(tmp / "reads.yaml", ["not an object"])
        return ["ops", "--out", str(out), "--reads", str(tmp / "reads.yaml")], 2, [
            f"error: {tmp / 'reads.yaml'}: item 0 is not a Kubernetes object with kind and metadata.name"]
    if name == "invalid-settings":
        write_yaml(tmp / "in.yaml", {"belen:cluster": {"name": "Not A Label", "colour": "red"}})
        return ["local", "--out", str(out), "--config-file", str(tmp / "in.yaml")], 2, [
            "belen:cluster.colour: unknown setting — known settings here: context, environment, name",
            "belen:cluster.name: 'Not A Label' is not a DNS label — set belen:cluster.name to a DNS label such as homelab"]
    if name == "secrets-offline":
        return ["homelab", "--out", str(out)], 2, HOMELAB_SECRETS_OFFLINE
    if name == "requirements-missing":
        return ["local"], 2, [
            f"error: belen's requirements are not installed in this Python ({sys.executable} has no module 'yaml') — "
            "run ./bin/test once (it creates ./venv) and use venv/bin/python -m tools.render local"]
    if name == "mirrored-certificate-broken":
        write_json(tmp / "ops.json", {"tlsCertificates": {"homarr-dev": {**kf.issued("homarr.dev.example.org"),
                                                                        "tls.key": kf.issued("other")["tls.key"]}},
                                      "__secret__": ["tlsCertificates"]})
        return ["dev", "--out", str(out), "--stack-outputs", f"{OPS}={tmp / 'ops.json'}"], 3, [
            f"belen:tls.mirror.certificates.homarr-dev: the copy published by {OPS} is unusable: tls.key does not "
            f"match the certificate in tls.crt — check the Certificate in {OPS}",
            f"belen:tls.mirror.certificates.headlamp-dev: not published by {OPS} — add it to belen:tls.publish there "
            f"and run `pulumi up` on {OPS}; the mirrors already in the cluster are left as they are"]
    if name == "replica-source-without-keys":
        write_json(tmp / "homelab.json", {"sealingCertificate": "x"})
        return ["cloud", *cloud_inputs, "--out", str(out), "--stack-outputs", f"{HOMELAB}={tmp / 'homelab.json'}"], 3, [
            f"belen:sealedSecrets.keysFromStack ({HOMELAB}): the stack has no sealingKeys output — run `pulumi up` "
            f"on {HOMELAB} first (it must be a belen stack with Sealed Secrets)"]
    if name == "issued-secret-without-data":
        reads = [kf.issued_secret(cert, {} if cert == "homarr-dev" else kf.issued(f"{cert}.example.org"))
                 for cert in ("homarr-dev", "headlamp-dev", "homarr-rct", "headlamp-rct", "homarr-prd", "headlamp-prd")]
        write_yaml(tmp / "reads.yaml", reads)
        inputs = ["--config-file", str(RENDER_INPUTS / "ops.yaml")]
        return ["ops", *inputs, "--out", str(out), "--reads", str(tmp / "reads.yaml")], 3, [
            "belen:tls.publish: homarr-dev: Secret certificates-ops/homarr-dev-tls: the issued Secret has no "
            "tls.crt/tls.key yet (is the Certificate Ready?) — check the Certificate with "
            "`kubectl describe certificate -n certificates-ops homarr-dev`"]
    raise AssertionError(name)


HOMELAB_SECRETS_OFFLINE = [
    "belen:storeCredentials.vault.token: is required — store 'vault' uses vault token auth: set it with `pulumi config "
    "set --secret --path 'belen:storeCredentials.vault.token'`",
    "belen:gitAuth: an SSH repository URL needs SSH credentials — set belen:gitAuth.identity (a private key) and "
    "belen:gitAuth.knownHosts, or use an https:// URL",
    "offline, secret settings (belen:gitAuth, belen:storeCredentials) come from a --config-file, not from the Pulumi "
    "backend — add --config-file tests/render-inputs/homelab.yaml, which holds dummy values for them",
]


RENDER_CASES = ["secrets-offline", "config-file-a-list", "dev", "rct", "prd", "cloud", "unknown-stack", "out-not-a-render", "config-file-unreadable",
                "config-file-not-yaml", "stack-outputs-not-ref-file", "stack-outputs-not-json", "reads-not-objects",
                "invalid-settings", "mirrored-certificate-broken", "replica-source-without-keys",
                "issued-secret-without-data", "requirements-missing"]


@pytest.mark.parametrize("name", RENDER_CASES)
def test_every_render_failure_prints_only_belens_lines(tmp_path, name):
    args, code, lines = render_case(tmp_path, name)
    # -S: no site-packages, as in a Python where belen's requirements were never installed.
    python = ["-S"] if name == "requirements-missing" else []
    result = run_cli(*python, "-m", "tools.render", *args)
    assert (result.code, result.stderr.splitlines()) == (code, lines)
    assert result.stdout == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("stack, given, reads", [
    ("local", HOMELAB, "it reads no other stack"),
    ("cloud", "organization/belen/homlab", f"it reads {HOMELAB}"),
])
def test_stack_outputs_of_a_stack_the_program_does_not_read_are_named_in_one_line(tmp_path, stack, given, reads):
    outputs = str(PROJECT_DIR / "tests" / "stack-outputs" / "organization~belen~homelab.json")
    inputs = ["--config-file", str(RENDER_INPUTS / "cloud.yaml"), "--stack-outputs", f"{HOMELAB}={outputs}"] \
        if stack == "cloud" else []
    result = run_cli("-m", "tools.render", stack, *inputs, "--stack-outputs", f"{given}={outputs}",
                     "--out", str(tmp_path / "out"))
    assert (result.code, result.stderr.splitlines()) == (0, [
        f"warning: --stack-outputs {given}: stack '{stack}' does not read that stack ({reads}) — check the name"])


def keys_case(tmp: Path, name: str) -> tuple[list[str], int, list[str]]:
    backup = tmp / "backup.yaml"
    backup.write_text(kf.backup_yaml([kf.pair("contract")]))
    if name == "check-not-keys":
        write_yaml(tmp / "cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        return ["check", str(tmp / "cm.yaml")], 2, [
            f"error: {tmp / 'cm.yaml'}: holds something other than Secrets — pass the kubectl backup of the key Secrets"]
    if name == "check-unreadable":
        return ["check", str(tmp / "nope.pem")], 2, [f"error: cannot read {tmp / 'nope.pem'}: No such file or directory"]
    if name == "verify-with-an-ec-key":
        backup.write_text(kf.backup_yaml([kf.ec_pair()]))
        (tmp / "repo").mkdir()
        return ["verify", "--keys", str(backup), str(tmp / "repo")], 2, [
            f"error: {backup} (sealed-secrets-key00000): is an EC (secp256r1) key, not RSA — the controller only loads "
            "RSA keys (any other key crash-loops it): restore the RSA key"]
    if name == "verify-not-a-folder":
        return ["verify", "--keys", str(backup), str(tmp / "nope")], 2, [
            f"error: {tmp / 'nope'} is not a folder — pass a checkout of your GitOps repository"]
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["check-not-keys", "check-unreadable", "verify-with-an-ec-key", "verify-not-a-folder"])
def test_every_keys_failure_prints_only_belens_lines(tmp_path, name):
    args, code, lines = keys_case(tmp_path, name)
    result = run_cli("-m", "tools.keys", *args, env={"PATH": str(tmp_path / "no-programs-here")})
    assert (result.code, result.stderr.splitlines()) == (code, lines)


NO_PULUMI = ("error: pulumi is not installed (not on PATH) — install the Pulumi CLI (README, Prerequisites) and run "
             "this command again")


@pytest.mark.parametrize("tool", ["keys import", "resume"])
def test_every_tool_says_a_missing_pulumi_alike(tmp_path, tool):
    backup = tmp_path / "backup.yaml"
    backup.write_text(kf.backup_yaml([kf.pair("contract")]))
    args = ["-m", "tools.keys", "import", str(backup), "--stack", "cloud"] if tool == "keys import" else \
        ["-m", "tools.resume", "cloud"]
    result = run_cli(*args, env={"PATH": str(tmp_path / "no-programs-here")})
    assert (result.code, result.stderr.splitlines()) == (2, [NO_PULUMI])


@pytest.fixture
def quiet_asyncio(caplog):
    """Everything asyncio reports (unretrieved exceptions, destroyed tasks) and every warning."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caplog, caught


@pytest.mark.parametrize("stack, outputs, error", [
    ("dev", {}, mockrun.MissingStackOutputs),
    ("dev", {OPS: {"tlsCertificates": {}, "__secret__": ["tlsCertificates"]}}, ValueCheckError),
    ("cloud", {HOMELAB: {"sealingKeys": [kf.ec_pair()]}}, ValueCheckError),
    ("local", {}, SettingsError),
])
def test_the_program_fails_in_process_without_a_sound(quiet_asyncio, capfd, stack, outputs, error):
    caplog, caught = quiet_asyncio
    overrides = [{"belen:cluster": {"name": "local", "colour": "red"}}] if error is SettingsError else []
    config, secret_keys = render.load_config(stack, render_inputs(stack) + overrides)
    for _ in range(2):  # a second run must not meet anything the first left behind
        with pytest.raises(error):
            mockrun.run_main(stack=stack, config=config, secret_keys=secret_keys, stack_outputs=outputs)
    gc.collect()  # futures that held the error report it when collected, if anything does
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr() == ("", "")


SECRETS_CLOUD = [
    "pulumi config set --secret --path 'belen:storeCredentials.vault.token' --stack cloud  # a credential a store's "
    "auth reads, e.g. a Vault token",
    "pulumi config set --secret --path 'belen:gitAuth.identity' --stack cloud  # the SSH deploy key's private key "
    "(OpenSSH or PEM, without a passphrase)",
    "pulumi config set --secret --path 'belen:gitAuth.knownHosts' --stack cloud  # the Git host's public keys (what "
    "ssh-keyscan <git host> prints)",
]


@pytest.mark.parametrize("stack, code, lines", [
    ("cloud", 1, SECRETS_CLOUD),
    ("ops", 1, [f"pulumi config set --secret --path 'belen:acmeCredentials.{issuer}.apiToken' --stack ops  # the "
                "Cloudflare API token (Zone:DNS:Edit)" for issuer in ("letsencrypt-staging", "letsencrypt")]),
    ("local", 0, ["Pulumi.local.yaml holds every secret setting stack 'local' needs"]),
])
def test_preflight_secrets_prints_the_command_of_each_secret_the_stack_file_lacks(stack, code, lines):
    result = run_cli("-m", "tools.preflight", stack, "--secrets")
    assert (result.code, result.stdout.splitlines(), result.stderr) == (code, lines, "")


def test_preflight_secrets_counts_nested_secure_values_as_held(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    config = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.cloud.yaml").read_text())["config"]
    config["belen:gitAuth"] = {"identity": {"secure": "v1:AAE="}}  # set with --secret --path, knownHosts not yet
    write_yaml(stacks / "Pulumi.cloud.yaml", {"config": config})
    monkeypatch.setattr("tools.render.STACKS_DIR", stacks)
    result = run_main(preflight.main, "cloud", "--secrets")
    assert (result.code, result.stdout.splitlines()) == (1, [SECRETS_CLOUD[0], SECRETS_CLOUD[2]])


def test_preflight_names_the_config_file_for_secrets_it_was_not_given(tmp_path):
    result = run_cli("-m", "tools.preflight", "homelab", "--repo", str(tmp_path))
    assert (result.code, result.stderr.splitlines()) == (2, [f"error: {line}" for line in HOMELAB_SECRETS_OFFLINE])


def test_preflight_without_repo_or_secrets_is_a_usage_error():
    result = run_cli("-m", "tools.preflight", "cloud")
    assert result.code == 2 and result.stderr.splitlines()[-1].endswith(
        "error: the following arguments are required: --repo (or --secrets)")


def run_into_closed_pipe(*args: str) -> tuple[int, str]:
    """`python ARGS | head -1` when head has already gone: every write to standard output fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, *args], cwd=PROJECT_DIR, stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


def test_a_closed_pipe_ends_every_tool_quietly_with_its_own_exit_code(tmp_path):
    pair = kf.pair("pipe")
    (tmp_path / "backup.yaml").write_text(kf.backup_yaml([pair]))
    sealed = yaml.safe_load(Sealer.from_certificate_pem(pair["cert"]).seal("x", "apps", {"k": b"v"}).to_yaml())
    sealed["metadata"]["name"] = "moved"  # strict scope: fails to open, so verify alone would exit 1
    (tmp_path / "repo").mkdir()
    write_yaml(tmp_path / "repo" / "sealed.yaml", sealed)
    verify = ["-m", "tools.keys", "verify", "--keys", str(tmp_path / "backup.yaml"), str(tmp_path / "repo")]
    secrets = ["-m", "tools.preflight", "cloud", "--secrets"]
    # As `grep -q`: the verdict of the run that printed everything (verify and --secrets: 1, findings).
    assert run_into_closed_pipe(*verify) == run_into_closed_pipe(*secrets) == (1, "")
    for args in (["-m", "tools.render", "local", "--out", str(tmp_path / "out")], ["-m", "tools.bench", "recovery"]):
        unpiped = run_cli(*args)
        assert run_into_closed_pipe(*args) == (unpiped.code, unpiped.stderr), args


def test_bench_in_a_python_without_the_requirements_says_one_line():
    # -S: no site-packages, as in a Python where belen's requirements were never installed.
    result = run_cli("-S", "-m", "tools.bench", "recovery")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"error: belen's requirements are not installed in this Python ({sys.executable} has no module 'yaml') — "
        "run ./bin/test once (it creates ./venv) and use venv/bin/python -m tools.bench recovery"]


@pytest.mark.parametrize("sub, described", [
    ("check", ["FILE", "a kubectl backup of the key Secrets"]),
    ("verify", ["DIR", "a checkout of the GitOps repository", "repeat --keys for more files"]),
    ("reseal", ["--cert", "the PEM certificate to seal to", "repeat --keys for more files", "in place"]),
    ("import", ["FILE", "--stack", "belen:sealingKeys"]),
])
def test_keys_help_describes_each_argument(sub, described):
    result = run_cli("-m", "tools.keys", sub, "--help")
    text = " ".join(result.stdout.split())
    assert result.code == 0 and all(words in text for words in described), text
