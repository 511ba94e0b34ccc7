"""`python -m tools.keys` check / verify / import, through its entry point in this process
(test_cli_contract.py runs its failure paths as processes)."""

import os
import sys
from pathlib import Path

import yaml
from kubesealpy import Sealer, SealingScope

from tests import keyfactory as kf
from tests.graph import run_cli, run_main
from tools import keys


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_check_describes_pem_pairs_and_backups(tmp_path):
    a, b, c = kf.pair("ca", age_days=90), kf.pair("cb", age_days=60), kf.pair("cc", age_days=5)
    combined = write(tmp_path / "a.pem", a["cert"] + a["key"])
    cert, key = write(tmp_path / "b.crt", b["cert"]), write(tmp_path / "b.key", b["key"])
    backup = write(tmp_path / "backup.yaml", kf.backup_yaml([c], as_list=False))
    result = run_main(keys.main, "check", combined, cert, key, backup)
    assert result.code == 0, result.stdout + result.stderr
    assert "3 key(s), 0 problem(s)" in result.stdout
    assert result.stdout.count("RSA 2048 bits, valid ") == 3
    assert f"{tmp_path}/backup.yaml (sealed-secrets-key00000)" in result.stdout
    newest_line = [line for line in result.stdout.splitlines() if "newest" in line]
    assert len(newest_line) == 1
    assert "PRIVATE KEY" not in result.stdout


def test_check_reports_problems_with_exit_1(tmp_path):
    backup = write(tmp_path / "backup.yaml", kf.backup_yaml([kf.pair("p1"), kf.ec_pair(), kf.pair("p1")]))
    result = run_main(keys.main, "check", backup)
    assert result.code == 1
    assert "problem: key: is an EC (secp256r1) key, not RSA" in result.stdout
    assert "problem: is the same key as item 0" in result.stdout
    assert "3 key(s), 2 problem(s)" in result.stdout


def test_check_rejects_files_that_are_not_keys(tmp_path):
    other = write(tmp_path / "cm.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
    result = run_main(keys.main, "check", other)
    assert result.code == 2 and "holds something other than Secrets" in result.stderr
    lone_key = write(tmp_path / "k.pem", kf.pair("lone")["key"])
    assert "a private key without a certificate" in run_main(keys.main, "check", lone_key).stderr


def test_verify_follows_the_controllers_rules_exactly(tmp_path):
    pair = kf.pair("rules")
    backup = write(tmp_path / "backup.yaml", kf.backup_yaml([pair]))
    sealer = Sealer.from_certificate_pem(pair["cert"])
    cluster_wide = yaml.safe_load(sealer.seal("x", "apps", {"k": b"v"}, scope=SealingScope.CLUSTER_WIDE).to_yaml())
    # The controller compares annotations to exactly "true": "True" means strict, so this fails.
    cluster_wide["metadata"]["annotations"] = {"sealedsecrets.bitnami.com/cluster-wide": "True"}
    strict = yaml.safe_load(sealer.seal("y", "apps", {"k": b"v"}).to_yaml())
    strict["spec"]["encryptedData"]["bad"] = strict["spec"]["encryptedData"]["k"].rstrip("=") + "-_"
    repo = tmp_path / "repo"
    (repo / "deep").mkdir(parents=True)
    (repo / "deep" / "a.yml").write_text(yaml.safe_dump_all([cluster_wide, {"kind": "ConfigMap"}, strict]))
    (repo / "broken.yaml").write_text("key: [unclosed")
    result = run_main(keys.main, "verify", "--keys", backup, str(repo))
    assert result.code == 1
    assert "deep/a.yml: apps/x [strict] 0 opened, 1 failed — FAILED" in result.stdout
    assert "deep/a.yml: apps/y [strict] 1 opened, 1 failed — FAILED" in result.stdout
    assert "bad: value is not standard base64" in result.stdout
    assert "broken.yaml is not valid YAML" in result.stderr


def test_verify_with_no_sealed_secrets_passes(tmp_path):
    backup = write(tmp_path / "backup.yaml", kf.backup_yaml([kf.pair("none")]))
    (tmp_path / "repo").mkdir()
    result = run_main(keys.main, "verify", "--keys", backup, str(tmp_path / "repo"))
    assert result.code == 0 and "0 SealedSecret(s)" in result.stdout


PULUMI_STANDIN = """#!{python}
import json, os, sys
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps({{"args": sys.argv[1:], "stdin": sys.stdin.read()}}) + "\\n")
sys.exit(int(os.environ.get("PULUMI_EXIT", "0")))
"""


def run_import(tmp_path, monkeypatch, backup_text, exit_code=0):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "pulumi").write_text(PULUMI_STANDIN.format(python=sys.executable))
    (bin_dir / "pulumi").chmod(0o755)
    backup = write(tmp_path / "backup.yaml", backup_text)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("PULUMI_EXIT", str(exit_code))
    result = run_main(keys.main, "import", backup, "--stack", "cloud")
    import json
    return result, [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def test_import_passes_each_value_on_stdin_never_as_an_argument(tmp_path, monkeypatch):
    newer, older = kf.pair("imp-new", age_days=1), kf.pair("imp-old", age_days=40)
    result, calls = run_import(tmp_path, monkeypatch, kf.backup_yaml([newer, older]))
    assert result.code == 0, result.stderr
    assert [c["args"] for c in calls] == [
        ["config", "set", "--secret", "--path", f"belen:sealingKeys[{i}].{field}", "--stack", "cloud"]
        for i in (0, 1) for field in ("cert", "key")
    ]
    assert "BEGIN CERTIFICATE" in calls[0]["stdin"] and "BEGIN RSA PRIVATE KEY" in calls[1]["stdin"]
    older_key = kf.rsa_key("imp-old", 2048)
    from components.crypto import pem
    assert pem.load_private_key(calls[1]["stdin"]).public_key().public_numbers().n == older_key.public_key().public_numbers().n, "oldest first"
    assert all("PRIVATE" not in " ".join(c["args"]) for c in calls)
    assert "2 key(s) restored into stack cloud" in result.stdout


def test_import_refuses_a_bad_backup_before_touching_the_stack(tmp_path, monkeypatch):
    result, calls = run_import(tmp_path, monkeypatch, kf.backup_yaml([kf.ec_pair()]))
    assert result.code == 1 and "is an EC" in result.stderr
    assert calls == []


def test_import_stops_when_pulumi_fails(tmp_path, monkeypatch):
    result, calls = run_import(tmp_path, monkeypatch, kf.backup_yaml([kf.pair("imp-fail")]), exit_code=4)
    assert result.code == 1 and "failed (exit 4)" in result.stderr
    assert len(calls) == 1


def test_verify_on_every_core_prints_what_one_core_prints(tmp_path, monkeypatch):
    """Enough values for worker processes: the same lines, in the same order, and the same exit code."""
    pair = kf.pair("cores")
    backup = write(tmp_path / "backup.yaml", kf.backup_yaml([pair]))
    sealer = Sealer.from_certificate_pem(pair["cert"])
    docs = [yaml.safe_load(sealer.seal(f"s{i:02d}", "apps", {f"k{j}": b"v" for j in range(8)}).to_yaml()) for i in range(12)]
    docs[5]["metadata"]["name"] = "moved"  # strict scope: fails under another name
    repo = tmp_path / "repo"
    (repo / "b").mkdir(parents=True)
    (repo / "a.yaml").write_text(yaml.safe_dump_all(docs[:7]))
    (repo / "b" / "c.yaml").write_text(yaml.safe_dump_all(docs[7:]))
    assert sum(len(d["spec"]["encryptedData"]) for d in docs) >= keys.PARALLEL_FROM
    parallel = run_cli("-m", "tools.keys", "verify", "--keys", backup, str(repo))
    monkeypatch.setattr(keys, "PARALLEL_FROM", 10**9)
    single = run_main(keys.main, "verify", "--keys", backup, str(repo))
    assert (parallel.code, parallel.stdout, parallel.stderr) == (single.code, single.stdout, single.stderr) == (
        1, parallel.stdout, "")
    assert "a.yaml: apps/moved [strict] 0 opened, 8 failed — FAILED" in single.stdout
    assert "12 SealedSecret(s) with 1 key(s): 88 item(s) opened, 8 failed" in single.stdout
