"""Sealing-key rotation: keyGeneration adds a generated key over every key the stack has, retireKeys
deletes keys from the cluster and the outputs, and replicas follow their primary."""

import datetime as dt
import json
import stat
import sys

import pytest

from components import retired_sealing_key
from components.crypto import pem, sealing
from components.errors import SettingsError, ValueCheckError, find_in_chain
from components.generated_sealing_key import _SealingKeyProvider
from components.sealed_secrets import ROLLOUT_ANNOTATION, check_generated_retirement, rollout_value
from components.settings import StackConfig, load_settings
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, render_inputs, render_stack
from tools import mockrun, render

HOMELAB_OUTPUTS = json.loads((PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())
PRIMARY = "organization/belen/homelab"
CONTROLLER = "homelab-sealed-secrets-controller"
OLD, NEW = kf.pair("rotation-old", age_days=60), kf.pair("rotation-new", age_days=30)
GENERATED = [kf.pair(f"rotation-gen{g}", age_days=30 - g) for g in (1, 2, 3)]  # as a deployment reads them back


def fingerprint(pair):
    return pem.public_key_fingerprint(pem.load_certificate(pair["cert"]).public_key())


def settings_of(sealed_secrets=None, keys=None):
    config = {"belen:cluster": {"name": "x"}, "belen:sealedSecrets": sealed_secrets or {}}
    if keys is not None:
        config["belen:sealingKeys"] = keys
    return load_settings(StackConfig(config, frozenset({"belen:sealingKeys"})), "x").sealed_secrets


def problems_of(sealed_secrets=None, keys=None):
    with pytest.raises(SettingsError) as caught:
        settings_of(sealed_secrets, keys)
    return caught.value.lines


def names(graph, type_):
    return sorted(r.name for r in graph.find(type_))


def annotation(graph, release=CONTROLLER):
    return (graph.one("helm.sh/v3:Release", release).inputs()["values"].get("podAnnotations") or {}).get(ROLLOUT_ANNOTATION)


# --- settings -------------------------------------------------------------------------------------

def test_key_generation_and_retire_keys_are_parsed_and_normalised():
    settings = settings_of({"keyGeneration": "3", "retireKeys": [fingerprint(OLD).upper()]}, [OLD, NEW])
    assert settings.key_generation == 3 and settings.retire_keys == (fingerprint(OLD),)
    assert settings.first_generated == 2 and settings.rotates
    assert settings_of().key_generation == 1 and not settings_of().rotates


@pytest.mark.parametrize("sealed_secrets, keys, line", [
    ({"keyGeneration": 0}, None, "belen:sealedSecrets.keyGeneration: 0 is out of range — use a number from 1 up"),
    ({"keyGeneration": "two"}, None, "belen:sealedSecrets.keyGeneration: must be a whole number"),
    ({"retireKeys": ["abc"]}, None, "belen:sealedSecrets.retireKeys[0]: is not a key fingerprint (64 hexadecimal digits)"),
    ({"retireKeys": "a" * 64}, None, "belen:sealedSecrets.retireKeys: must be a list"),
    ({"keyGeneration": 2, "retireKeys": ["a" * 64, "A" * 64]}, None,
     "belen:sealedSecrets.retireKeys[1]: is listed twice (item 0) — list each key once"),
    # Generation 1 of a generated stack is its only key, so its newest.
    ({"retireKeys": ["a" * 64]}, None, "belen:sealedSecrets.retireKeys[0]: aaaaaaaaaaaaaaaa… is not retirable: the one "
                                       "key belen generates (generation 1) is the newest, the one the controller seals with"),
    # Restored keys at generation 1: every key is known before anything is deployed.
    ({"retireKeys": [fingerprint(NEW)]}, [OLD, NEW],
     f"belen:sealedSecrets.retireKeys[0]: {fingerprint(NEW)[:16]}… is the newest key, the one the controller seals with "
     f"— raise belen:sealedSecrets.keyGeneration and re-seal the repository to the new sealingCertificate "
     f"(python -m tools.keys reseal) first; retire the key after that"),
    ({"retireKeys": ["c" * 64]}, [OLD, NEW], "belen:sealedSecrets.retireKeys[0]: cccccccccccccccc… is none of the "
                                             "stack's keys — copy the fingerprint from `pulumi stack output sealingKeyFingerprints`"),
    ({"keyGeneration": 2, "retireKeys": ["c" * 64]}, [OLD, NEW],
     "belen:sealedSecrets.retireKeys[0]: cccccccccccccccc… is none of the restored keys, and the one key belen generates "
     "(generation 2) is the newest"),
    ({"keysFromStack": PRIMARY, "keyGeneration": 2}, None,
     f"belen:sealedSecrets.keyGeneration: is 2 on a replica (keys come from {PRIMARY}) — remove it: raise keyGeneration "
     f"on {PRIMARY}; the replica follows its keys at its next up"),
    ({"keysFromStack": PRIMARY, "retireKeys": ["a" * 64]}, None,
     f"belen:sealedSecrets.retireKeys: is set on a replica (keys come from {PRIMARY}) — remove it: retire keys on "
     f"{PRIMARY}; the replica drops them at its next up"),
])
def test_rotation_settings_errors_name_the_setting(sealed_secrets, keys, line):
    found = problems_of(sealed_secrets, keys)
    assert any(problem.startswith(line) for problem in found), found


def test_what_only_the_state_knows_is_left_to_the_deployment():
    # Generated keys below the newest: their fingerprints exist only once generated.
    assert settings_of({"keyGeneration": 2, "retireKeys": ["c" * 64]}).retire_keys == ("c" * 64,)
    assert settings_of({"keyGeneration": 3, "retireKeys": ["c" * 64]}, [OLD, NEW]).retire_keys == ("c" * 64,)
    # Every restored key is retirable once a generated key is the newest.
    assert settings_of({"keyGeneration": 2, "retireKeys": [fingerprint(OLD), fingerprint(NEW)]}, [OLD, NEW]).retire_keys


def test_generated_retirement_is_checked_when_the_keys_are_read_back():
    settings = settings_of({"keyGeneration": 3, "retireKeys": ["1" * 64, "3" * 64, "9" * 64]})
    with pytest.raises(ValueCheckError) as caught:
        check_generated_retirement(settings, ["1" * 64, "2" * 64, "3" * 64])
    assert caught.value.lines == [
        "belen:sealedSecrets.retireKeys[1]: 3333333333333333… is the newest key, the one the controller seals with — "
        "raise belen:sealedSecrets.keyGeneration and re-seal the repository to the new sealingCertificate "
        "(python -m tools.keys reseal) first; retire the key after that",
        "belen:sealedSecrets.retireKeys[2]: 9999999999999999… is none of the stack's keys — copy the fingerprint from "
        "`pulumi stack output sealingKeyFingerprints`, or remove it"]
    ok = settings_of({"keyGeneration": 3, "retireKeys": ["1" * 64]})
    assert check_generated_retirement(ok, ["1" * 64, "2" * 64, "3" * 64]) == ["1" * 64, "2" * 64, "3" * 64]


def test_key_renewal_on_a_primary_warns_in_one_line_and_names_key_generation():
    [warning] = settings_of({"keyRenewPeriod": "720h"}).warnings
    assert warning == ("belen:sealedSecrets.keyRenewPeriod: is 720h — the keys the controller mints are not in the state, "
                       "so a replica (keysFromStack) cannot open what they seal; set it to 0 and rotate with "
                       "belen:sealedSecrets.keyGeneration")
    graph = render_stack("homelab", {"belen:sealedSecrets": {"keyRenewPeriod": "720h"}})
    assert warning in graph.run.warnings
    assert not settings_of().warnings and not render_stack("homelab").run.warnings


# --- generations ----------------------------------------------------------------------------------

def test_generation_1_is_the_resource_it_always_was():
    default, explicit = render_stack("homelab"), render_stack("homelab", {"belen:sealedSecrets": {"keyGeneration": 1}})
    identity = lambda g: [(r.urn, r.dependencies, r.inputs()) for r in g.resources]  # noqa: E731
    assert identity(default) == identity(explicit)
    assert names(default, "GeneratedSealingKey") == ["homelab-sealed-secrets-generated-key"]
    assert set(default.one("GeneratedSealingKey").inputs()) == {"__provider"}, "no input that could replace it"
    assert annotation(default) is None, "no restart for stacks that never rotate"
    assert default.output("sealingKeyGeneration").value == 1 and default.output("retiredSealingKeyFingerprints").value == []


def test_raising_the_generation_adds_keys_each_after_the_one_before():
    graph = render_stack("homelab", {"belen:sealedSecrets": {"keyGeneration": 3}})
    base = "homelab-sealed-secrets-generated-key"
    assert names(graph, "GeneratedSealingKey") == [base, f"{base}-2", f"{base}-3"]
    first, second, third = (graph.one("GeneratedSealingKey", n) for n in (base, f"{base}-2", f"{base}-3"))
    assert "after" not in first.inputs()
    assert graph.depends_on(second, first) and graph.depends_on(third, second)
    secrets = {s.name: s for s in graph.objects("Secret") if s.name.startswith(base)}
    assert sorted(secrets) == [f"{base}-2-secret", f"{base}-3-secret", f"{base}-secret"]
    release = graph.one("helm.sh/v3:Release", CONTROLLER)
    for key in (first, second, third):
        secret = secrets[f"{key.name}-secret"]
        assert graph.depends_on(secret, key) and graph.depends_on(release, secret)
        assert secret.retain_on_delete and secret.is_secret("data")
    assert annotation(graph) == mockrun.UNKNOWN, "generated fingerprints are known only to a deployment"
    assert graph.output("sealingKeyGeneration").value == 3


def test_the_first_generation_over_restored_keys_is_2_and_follows_their_newest_not_before():
    graph = render_stack("homelab", {"belen:sealingKeys": [OLD, NEW], "belen:sealedSecrets": {"keyGeneration": 2}})
    key = graph.one("GeneratedSealingKey")
    assert key.name == "homelab-sealed-secrets-generated-key-2"
    newest = pem.load_certificate(NEW["cert"]).not_valid_before_utc
    assert dt.datetime.fromisoformat(key.inputs()["after"]) == newest
    restored = {f"sealed-secrets-key-{fingerprint(p)[:16]}" for p in (OLD, NEW)}
    assert restored <= {s.inputs()["metadata"]["name"] for s in graph.objects("Secret")}
    assert not graph.output("sealingCertificate").known, "the new key seals, not the newest restored one"


def test_a_new_key_is_created_after_the_newest_certificate_even_in_the_same_second():
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cert, _ = sealing.generate_key_pair(now=now, bits=2048, after=now)
    assert pem.load_certificate(cert).not_valid_before_utc == now + dt.timedelta(seconds=1)
    newest = pem.load_certificate(NEW["cert"]).not_valid_before_utc
    created = _SealingKeyProvider().create({"cert": None, "key": None, "after": newest.isoformat()})
    keys, problems = sealing.check_key_list([OLD, NEW, {"cert": created.outs["cert"], "key": created.outs["key"]}],
                                            dt.datetime.now(dt.timezone.utc))
    assert not problems and keys[2].bits == sealing.GENERATED_BITS
    assert sealing.newest_key(keys).fingerprint == created.id == keys[2].fingerprint
    assert keys[2].not_before > max(k.not_before for k in keys[:2]), "the controller orders by NotBefore"


def test_a_key_and_a_deletion_are_never_redone_whatever_their_inputs_become():
    olds, news = {"cert": "a", "key": "b", "after": "2020-01-01T00:00:00+00:00"}, {"cert": None, "key": None, "after": "x"}
    assert not _SealingKeyProvider().diff("id", olds, news).changes
    assert not retired_sealing_key._RetireProvider().diff("ns/n", {"namespace": "ns"}, {"namespace": "other"}).changes


# --- retirement -----------------------------------------------------------------------------------

def test_a_retired_restored_key_is_deleted_from_the_cluster_before_the_controller_restarts():
    graph = render_stack("homelab", {"belen:sealingKeys": [OLD, NEW], "belen:kubeconfig": "kubeconfig text",
                                     "belen:sealedSecrets": {"retireKeys": [fingerprint(OLD)]}})
    old_name, new_name = (f"sealed-secrets-key-{fingerprint(p)[:16]}" for p in (OLD, NEW))
    assert [s.inputs()["metadata"]["name"] for s in graph.objects("Secret") if "sealed-secrets-key" in s.name] == [new_name]
    retired = graph.one("RetiredSealingKey")
    assert retired.name == f"homelab-sealed-secrets-retired-{fingerprint(OLD)[:16]}"
    inputs = retired.inputs(show_secrets=True)
    assert (inputs["namespace"], inputs["name"], inputs["kubeconfig"]) == ("kube-system", old_name, "kubeconfig text")
    assert retired.is_secret("kubeconfig")
    release = graph.one("helm.sh/v3:Release", CONTROLLER)
    assert graph.depends_on(release, retired)
    assert annotation(graph) == rollout_value([fingerprint(NEW)])
    assert graph.output("sealingKeyFingerprints").value == [fingerprint(NEW)]
    assert [k["cert"] for k in graph.output("sealingKeys").value] == [NEW["cert"]]
    assert graph.output("retiredSealingKeyFingerprints").value == [fingerprint(OLD)]
    assert pem.load_certificate(graph.output("sealingCertificate").value) == pem.load_certificate(NEW["cert"])


class _KeysKnown(mockrun.BelenMocks):
    """Serves GeneratedSealingKey outputs as a deployment would (the mocks leave them unknown)."""

    PAIRS: dict = {}

    def new_resource(self, args):
        if args.typ.endswith("GeneratedSealingKey") and args.name in self.PAIRS:
            pair = self.PAIRS[args.name]
            return fingerprint(pair), {**args.inputs, "cert": pair["cert"], "key": pair["key"]}
        return super().new_resource(args)


def deployed(monkeypatch, overrides, generations=3):
    """The homelab program with keys generated (`generations` of them exist), as a deployment reads them back."""
    base = "homelab-sealed-secrets-generated-key"
    names = [base, f"{base}-2", f"{base}-3"][:generations]
    monkeypatch.setattr(_KeysKnown, "PAIRS", dict(zip(names, GENERATED)))
    monkeypatch.setattr(mockrun, "BelenMocks", _KeysKnown)
    config, secret_keys = render.load_config("homelab", [*render_inputs("homelab"), overrides])
    return mockrun.run_main(stack="homelab", config=config, secret_keys=secret_keys)


def test_a_retired_generated_key_is_deleted_and_the_others_stay(monkeypatch):
    fps = [fingerprint(p) for p in GENERATED]
    run = deployed(monkeypatch, {"belen:sealedSecrets": {"keyGeneration": 3, "retireKeys": [fps[0]]}})
    graph_names = {r.name: r for r in run.resources}
    assert "homelab-sealed-secrets-generated-key-secret" not in graph_names
    retired = graph_names[f"homelab-sealed-secrets-retired-{fps[0][:16]}"]
    assert retired.inputs()["name"] == f"sealed-secrets-key-{fps[0][:16]}"
    for generation, fp in ((2, fps[1]), (3, fps[2])):
        secret = graph_names[f"homelab-sealed-secrets-generated-key-{generation}-secret"]
        assert secret.inputs()["metadata"]["name"] == f"sealed-secrets-key-{fp[:16]}"
    release = graph_names[CONTROLLER]
    assert retired.urn in release.dependencies
    assert release.inputs()["values"]["podAnnotations"][ROLLOUT_ANNOTATION] == rollout_value(fps[1:])
    assert run.outputs["sealingKeyFingerprints"].value == fps[1:]
    assert [k["cert"] for k in run.outputs["sealingKeys"].value] == [p["cert"] for p in GENERATED[1:]]
    assert run.outputs["sealingCertificate"].value == GENERATED[2]["cert"]


def test_older_keys_are_retired_or_kept_in_a_preview_that_makes_the_newest(monkeypatch):
    fps = [fingerprint(p) for p in GENERATED]
    run = deployed(monkeypatch, {"belen:sealedSecrets": {"keyGeneration": 3, "retireKeys": [fps[0]]}}, generations=2)
    registered = {r.name for r in run.resources}
    assert f"homelab-sealed-secrets-retired-{fps[0][:16]}" in registered
    assert {"homelab-sealed-secrets-generated-key-2-secret", "homelab-sealed-secrets-generated-key-3-secret"} <= registered
    assert "homelab-sealed-secrets-generated-key-secret" not in registered


@pytest.mark.parametrize("which, message", [(2, "is the newest key"), (None, "is none of the stack's keys")])
def test_retiring_the_newest_generated_key_or_an_unknown_one_fails_before_deploying(monkeypatch, which, message):
    retire = fingerprint(GENERATED[which]) if which is not None else "d" * 64
    with pytest.raises(Exception) as caught:
        deployed(monkeypatch, {"belen:sealedSecrets": {"keyGeneration": 3, "retireKeys": [retire]}})
    error = find_in_chain(caught.value)
    assert isinstance(error, ValueCheckError) and message in error.lines[0]


# --- replicas -------------------------------------------------------------------------------------

def test_a_replica_takes_exactly_the_keys_its_primary_keeps_and_deletes_the_retired_ones():
    kept = HOMELAB_OUTPUTS["sealingKeys"][1:]
    gone = fingerprint(HOMELAB_OUTPUTS["sealingKeys"][0])
    outputs = {**HOMELAB_OUTPUTS, "sealingKeys": kept, "sealingKeyGeneration": 2, "retiredSealingKeyFingerprints": [gone]}
    graph = render_stack("cloud", stack_outputs={PRIMARY: outputs})
    assert {s.inputs()["metadata"]["name"] for s in graph.objects("Secret") if "sealed-secrets-key" in s.name} == {
        f"sealed-secrets-key-{fingerprint(p)[:16]}" for p in kept}
    retired = graph.one("RetiredSealingKey")
    assert retired.inputs()["name"] == f"sealed-secrets-key-{gone[:16]}"
    assert graph.depends_on(graph.one("helm.sh/v3:Release", "cloud-sealed-secrets-controller"), retired)
    assert annotation(graph, "cloud-sealed-secrets-controller") == rollout_value([fingerprint(p) for p in kept])
    assert graph.output("retiredSealingKeyFingerprints").value == [gone]
    assert graph.output("sealingKeyGeneration").value == 2


def test_a_replica_of_a_primary_that_never_rotated_does_not_restart_its_controller():
    graph = render_stack("cloud", stack_outputs={PRIMARY: HOMELAB_OUTPUTS})
    assert annotation(graph, "cloud-sealed-secrets-controller") is None
    assert not graph.find("RetiredSealingKey")
    assert graph.output("sealingKeyGeneration").value == 1


# --- deleting a retired key's Secret --------------------------------------------------------------

@pytest.fixture
def kubectl(tmp_path):
    """A stand-in for kubectl (the real one runs in the drill): records its arguments and the kubeconfig it got."""
    log = tmp_path / "kubectl.log"
    script = tmp_path / "kubectl"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
seen = {{"args": args}}
if "--kubeconfig" in args:
    path = args[args.index("--kubeconfig") + 1]
    seen["kubeconfig"] = open(path).read()
    seen["mode"] = oct(os.stat(path).st_mode & 0o777)
    seen["dir_mode"] = oct(os.stat(os.path.dirname(path)).st_mode & 0o777)
open({str(log)!r}, "w").write(json.dumps(seen))
if os.environ.get("FAKE_KUBECTL_FAIL"):
    print("warning: something", file=sys.stderr)
    print('Error from server (Forbidden): secrets "x" is forbidden', file=sys.stderr)
    sys.exit(1)
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def test_retiring_deletes_the_secret_with_the_stacks_kubeconfig_in_a_private_file(kubectl, monkeypatch):
    script, log = kubectl
    retired_sealing_key.delete_secret("kube-system", "sealed-secrets-key-0123", "apiVersion: v1", "homelab",
                                      kubectl=str(script))
    seen = json.loads(log.read_text())
    assert seen["args"][:6] == ["delete", "secret", "sealed-secrets-key-0123", "--namespace", "kube-system",
                                "--ignore-not-found"]
    assert "--context" in seen["args"] and "homelab" in seen["args"]
    assert seen["kubeconfig"] == "apiVersion: v1" and seen["mode"] == "0o600" and seen["dir_mode"] == "0o700"
    assert "apiVersion: v1" not in seen["args"], "the kubeconfig never goes on the command line"
    # Without belen:kubeconfig, kubectl reads the ambient one, as the stack's provider does.
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    created = retired_sealing_key._RetireProvider().create({"namespace": "ns", "name": "n", "kubeconfig": None,
                                                            "context": None})
    assert created.id == "ns/n" and created.outs == {"namespace": "ns", "name": "n"}
    assert "--kubeconfig" not in json.loads(log.read_text())["args"]


def test_a_failed_or_impossible_deletion_says_what_to_do(kubectl, monkeypatch, tmp_path):
    script, _ = kubectl
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "1")
    with pytest.raises(retired_sealing_key.RetireError) as caught:
        retired_sealing_key.delete_secret("kube-system", "k", None, None, kubectl=str(script))
    assert str(caught.value) == ('kubectl delete secret kube-system/k failed: Error from server (Forbidden): '
                                 'secrets "x" is forbidden')
    with pytest.raises(retired_sealing_key.RetireError) as caught:
        retired_sealing_key.delete_secret("kube-system", "k", None, None, kubectl=str(tmp_path / "absent"))
    assert "needs kubectl on PATH — install it and run pulumi up again" in str(caught.value)
