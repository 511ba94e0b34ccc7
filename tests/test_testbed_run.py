"""The test bed's command runner: what reaches its logs."""

from __future__ import annotations

import sys

import pytest

from e2e import testbed

SECRET = "-----BEGIN RSA PRIVATE KEY-----not-a-real-key"
PRINT_SECRET = "import sys; print(sys.argv[-1]); sys.exit(int(sys.argv[-2]))"


def test_a_command_showing_secrets_keeps_its_stdout_out_of_the_log(tmp_path):
    log = tmp_path / "commands.log"
    result = testbed.run([sys.executable, "-c", PRINT_SECRET, "--show-secrets", 0, SECRET], log=log)
    assert result.stdout.strip() == SECRET, "the caller gets the output"
    logged = log.read_text()
    assert SECRET.split("---")[-1] not in logged.split("\n", 1)[1], logged
    assert "[stdout withheld: " in logged and "[exit 0]" in logged


def test_a_failing_command_showing_secrets_keeps_them_out_of_the_error(tmp_path):
    with pytest.raises(AssertionError) as failed:
        testbed.run([sys.executable, "-c", PRINT_SECRET, "--show-secrets", 3, SECRET], log=tmp_path / "commands.log")
    assert "exited 3" in str(failed.value) and "PRIVATE KEY" not in str(failed.value)


def test_any_other_command_is_logged_whole(tmp_path):
    log = tmp_path / "commands.log"
    testbed.run([sys.executable, "-c", PRINT_SECRET, 0, "plain output"], log=log)
    assert "plain output\n[exit 0]" in log.read_text()
