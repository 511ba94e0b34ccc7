"""belen refuses an update that would generate a sealing key without the engine's checkpoints
(PULUMI_SKIP_CHECKPOINTS): a dying `up` would lose the key (issue 23)."""

from __future__ import annotations

import datetime as dt

import pytest

from components.crypto import sealing
from components.errors import SettingsError
from components.settings.sealed_secrets import SealedSecretsSettings
from components.settings.source import refuse_lost_checkpoints
from tests import keyfactory as kf


def sealed_secrets(**kwargs) -> SealedSecretsSettings:
    fields = {"namespace": "kube-system", "key_renew_period": "0", "keys": (), "keys_from_stack": None,
              "generate_key": True}
    return SealedSecretsSettings(**{**fields, **kwargs})


GENERATES = sealed_secrets()
REPLICA = sealed_secrets(keys_from_stack="organization/belen/homelab", generate_key=False)


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_an_update_that_generates_a_key_is_refused(value):
    with pytest.raises(SettingsError) as caught:
        refuse_lost_checkpoints(GENERATES, {"PULUMI_SKIP_CHECKPOINTS": value}, dry_run=False)
    assert caught.value.lines == [
        f"PULUMI_SKIP_CHECKPOINTS: is {value}, so the engine saves the state only when `pulumi up` ends and an `up` "
        "that dies would lose the sealing key belen generates — unset it"]


@pytest.mark.parametrize(("settings", "environ", "dry_run"), [
    (GENERATES, {}, False),                                    # checkpoints on
    (GENERATES, {"PULUMI_SKIP_CHECKPOINTS": "false"}, False),  # the engine reads false
    (GENERATES, {"PULUMI_SKIP_CHECKPOINTS": "true"}, True),    # a preview saves nothing
    (REPLICA, {"PULUMI_SKIP_CHECKPOINTS": "true"}, False),     # a replica generates no key
])
def test_otherwise_it_goes_on(settings, environ, dry_run):
    refuse_lost_checkpoints(settings, environ, dry_run)


def test_restored_keys_go_on_until_a_generation_is_added():
    keys, problems = sealing.check_key_list([kf.pair("restored")], dt.datetime.now(dt.timezone.utc))
    assert not problems
    restored = sealed_secrets(keys=tuple(keys), generate_key=False)
    refuse_lost_checkpoints(restored, {"PULUMI_SKIP_CHECKPOINTS": "1"}, dry_run=False)
    with pytest.raises(SettingsError):
        refuse_lost_checkpoints(sealed_secrets(keys=restored.keys, generate_key=False, key_generation=2),
                                {"PULUMI_SKIP_CHECKPOINTS": "1"}, dry_run=False)
