"""A generated sealing key can never be lost: protected in the state, and settings that would drop one
(a lowered keyGeneration, a renamed cluster, a primary turned replica, restored keys over generated
ones) refused by belen before any resource registers (issue 29)."""

from __future__ import annotations

import pytest

from components.crypto import sealing
from components.errors import SettingsError
from components.kept_keys import GENERATED_KEY_TYPE, dropped_key_lines, registered_key_names
from components.settings import StackConfig, load_settings
from tests import keyfactory as kf
from tests.graph import render_inputs, render_stack
from tools import mockrun, render

GEN = [kf.pair(f"kept-gen{g}", age_days=30 - g) for g in (1, 2, 3)]
BASE = "homelab-sealed-secrets-generated-key"


def fp(pair) -> str:
    return sealing.certificate_facts(pair["cert"])[0]


def sealed_secrets(cluster="homelab", **sealed):
    config = {"belen:cluster": {"name": cluster}, "belen:sealedSecrets": sealed}
    return load_settings(StackConfig(config, frozenset()), cluster).sealed_secrets


def held(*generations: int, base: str = BASE) -> dict[str, str]:
    """The state's generated keys: name → certificate."""
    return {base + ("" if g == 1 else f"-{g}"): GEN[g - 1]["cert"] for g in generations}


# --- the rule, pure -------------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "generation"), [({}, 1), ({}, 3), (held(1), 1), (held(1), 2), (held(1, 2), 2)])
def test_a_first_up_the_same_or_a_higher_generation_goes_on(state, generation):
    assert dropped_key_lines(state, "homelab", sealed_secrets(keyGeneration=generation)) == []


def test_a_lowered_generation_is_refused_naming_the_setting_the_keys_and_what_to_do():
    lines = dropped_key_lines(held(1, 2, 3), "homelab", sealed_secrets(keyGeneration=1))
    assert lines == [
        "belen:sealedSecrets.keyGeneration: is 1, lower than this stack's generation 3: it would drop the private key "
        f"of generations 2, 3 from the state (fingerprint {fp(GEN[1])[:16]}, {fp(GEN[2])[:16]}), and every "
        "SealedSecret sealed with it — set it back to 3 (to stop using a key, list its fingerprint in "
        "belen:sealedSecrets.retireKeys)"]


def test_a_renamed_cluster_is_refused_naming_the_old_name():
    lines = dropped_key_lines(held(1), "lab", sealed_secrets("lab"))
    assert len(lines) == 1 and lines[0].startswith("belen:cluster.name: is lab, but this stack's sealing keys were "
                                                   "generated under homelab")
    assert lines[0].endswith("— set it back to homelab") and fp(GEN[0])[:16] in lines[0]


def test_a_primary_turned_replica_is_refused():
    replica = sealed_secrets(keysFromStack="organization/belen/other")
    assert registered_key_names("homelab", replica) == []
    [line] = dropped_key_lines(held(1), "homelab", replica)
    assert line.startswith("belen:sealedSecrets.keysFromStack: is set, but this stack holds 1 sealing key(s) it generated")


def test_restored_keys_over_a_generated_first_generation_are_refused():
    config = {"belen:cluster": {"name": "homelab"}, "belen:sealingKeys": [kf.pair("kept-restored")],
              "belen:sealedSecrets": {"keyGeneration": 2}}
    restored = load_settings(StackConfig(config, frozenset({"belen:sealingKeys"})), "homelab").sealed_secrets
    [line] = dropped_key_lines(held(1, 2), "homelab", restored)
    assert line.startswith("belen:sealingKeys: restoring keys into a stack that generated its own would drop generation 1")


def test_the_names_the_rule_expects_are_the_names_the_program_registers():
    for generation in (1, 3):
        graph = render_stack("homelab", {"belen:sealedSecrets": {"keyGeneration": generation}})
        assert sorted(r.name for r in graph.find("GeneratedSealingKey")) == sorted(
            registered_key_names("homelab", sealed_secrets(keyGeneration=generation)))
        assert {r.type for r in graph.find("GeneratedSealingKey")} == {GENERATED_KEY_TYPE}


# --- Pulumi's own guard ---------------------------------------------------------------------------

def test_every_generated_key_is_protected_and_its_secret_retained_not_protected():
    graph = render_stack("homelab", {"belen:sealedSecrets": {"keyGeneration": 3}})
    keys = graph.find("GeneratedSealingKey")
    assert len(keys) == 3 and all(k.protect for k in keys)
    secrets = [s for s in graph.objects("Secret") if s.name.startswith(BASE)]
    # A key Secret is made again from the state on a new cluster: protecting it would tie the state to the old one.
    assert len(secrets) == 3 and all(s.retain_on_delete and not s.protect for s in secrets)


# --- before any resource registers ----------------------------------------------------------------

def state_of(keys: dict[str, str], outputs: bool = True) -> dict[str, dict]:
    """The previous update's resources: the root Stack (with outputs unless `outputs` is false) and the keys."""
    root = {"urn:pulumi:homelab::belen::pulumi:pulumi:Stack::belen-homelab":
            {"type": "pulumi:pulumi:Stack", "outputs": {"sealingKeyGeneration": len(keys)} if outputs else {}}}
    prefix = f"urn:pulumi:homelab::belen::belen:index:BelenCluster$belen:index:SealedSecrets${GENERATED_KEY_TYPE}::"
    return {**root, **{prefix + name: {"type": GENERATED_KEY_TYPE, "outputs": {"cert": cert, "key": "[secret]"}}
                       for name, cert in keys.items()}}


def run_homelab(monkeypatch, state: dict, generation: int):
    """The real program under mocks with a previous state: (its Run or the SettingsError, the monitor)."""
    monitors: list[mockrun.RecordingMonitor] = []

    class Capturing(mockrun.RecordingMonitor):
        def __init__(self, mock):
            super().__init__(mock)
            monitors.append(self)

    monkeypatch.setattr(mockrun, "RecordingMonitor", Capturing)
    config, secret_keys = render.load_config("homelab", [*render_inputs("homelab"),
                                                          {"belen:sealedSecrets": {"keyGeneration": generation}}])
    try:
        return mockrun.run_main(stack="homelab", config=config, secret_keys=secret_keys, state=state), monitors[0]
    except SettingsError as exc:
        return exc, monitors[0]


def test_a_lowered_generation_stops_before_any_resource_registers(monkeypatch):
    refused, monitor = run_homelab(monkeypatch, state_of(held(1, 2)), generation=1)
    assert isinstance(refused, SettingsError)
    assert refused.lines[0].startswith("belen:sealedSecrets.keyGeneration: is 1, lower than this stack's generation 2")
    assert [r.type for r in monitor.recorded if r.type != "pulumi:pulumi:Stack"] == []


def test_the_same_generation_over_the_state_goes_on(monkeypatch):
    run, _ = run_homelab(monkeypatch, state_of(held(1, 2)), generation=2)
    assert isinstance(run, mockrun.Run) and len([r for r in run.resources if r.type == GENERATED_KEY_TYPE]) == 2


def test_a_stack_whose_updates_never_finished_is_not_read_further(monkeypatch):
    run, _ = run_homelab(monkeypatch, state_of(held(1, 2), outputs=False), generation=1)
    assert isinstance(run, mockrun.Run), "no outputs: the engine's resource read is not asked (it fails on no state)"


def test_a_backend_that_cannot_be_read_is_one_line(monkeypatch):
    import pulumi

    from components.errors import ValueCheckError
    from components.kept_keys import held_generated_keys

    def refused(*_args, **_kwargs):
        raise Exception("invoke of pulumi:pulumi:readStackOutputs failed: unauthorized")

    monkeypatch.setattr(pulumi.runtime, "invoke", refused)
    monkeypatch.setattr(pulumi, "get_organization", lambda: "organization")
    monkeypatch.setattr(pulumi, "get_project", lambda: "belen")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "homelab")
    with pytest.raises(ValueCheckError) as caught:
        held_generated_keys()
    [line] = caught.value.lines
    assert line.startswith("belen could not read stack organization/belen/homelab's state from its backend")
    assert "unauthorized" in line and line.endswith("then run the command again")


def test_a_checkpoint_met_half_written_is_read_again(monkeypatch):
    """The file backend rewrites the checkpoint's metadata in place while an update saves a step."""
    import pulumi

    from components import kept_keys

    half_written = Exception("invoke of pulumi:pulumi:readStackOutputs failed: failed to load checkpoint: EOF")
    calls: list[str] = []

    class Result:
        def __init__(self, value):
            self.value = value

    def invoke(function, _args):
        calls.append(function)
        if len(calls) == 1:
            raise half_written
        return Result({"outputs": {}} if function == kept_keys.READ_STACK_OUTPUTS else {})

    monkeypatch.setattr(pulumi.runtime, "invoke", invoke)
    monkeypatch.setattr(kept_keys.time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(pulumi, "get_organization", lambda: "organization")
    monkeypatch.setattr(pulumi, "get_project", lambda: "belen")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "homelab")
    assert kept_keys.held_generated_keys() == {}
    assert calls == [kept_keys.READ_STACK_OUTPUTS, kept_keys.READ_STACK_OUTPUTS]
