"""`python -m tools.keys` check / verify / import, through its entry point in this process
(test_cli_contract.py runs its failure paths as processes)."""

import base64
import json
import os
import re
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


# --- reseal ---------------------------------------------------------------------------------------

OLD, NEW, STRANGER = kf.pair("reseal-old", age_days=90), kf.pair("reseal-new", age_days=1), kf.pair("reseal-x")
SEALED_VALUE = re.compile(r"[A-Za-z0-9+/]{100,}={0,2}")


def sealed_text(pair, namespace, name, scope=SealingScope.STRICT, **values):
    return Sealer.from_certificate_pem(pair["cert"]).seal(name, namespace, {k: v.encode() for k, v in values.items()},
                                                          scope=scope).to_yaml()


def reseal_repo(root: Path) -> dict[str, bytes]:
    """Every scope, a multi-document file with comments and other objects, CRLF line endings, a byte-order
    mark, quoted and block values, a SealedSecret only a stranger's key opens, and files that are not YAML."""
    (root / "apps").mkdir(parents=True)
    strict = sealed_text(OLD, "apps", "strict", user="me", password="s3cret")
    with_template = yaml.safe_load(sealed_text(OLD, "apps", "wide", SealingScope.NAMESPACE_WIDE, token="t0ken"))
    template = with_template["spec"]["template"]
    template["type"] = "kubernetes.io/basic-auth"
    template["metadata"].update({"labels": {"app": "web"}, "annotations": {"note": "kept"}})
    files = {
        "apps/multi.yaml": ("# the apps' secrets\n" + strict + "---\n# not a SealedSecret\nkind: ConfigMap  # keep\n"
                            "metadata: {name: settings}\ndata: {a: '1'}\n---\n" + yaml.safe_dump(with_template)
                            + "...\n---\n" + sealed_text(STRANGER, "apps", "foreign", key="x")).encode(),
        "cluster.yml": ("\ufeff" + sealed_text(OLD, "apps", "cluster", SealingScope.CLUSTER_WIDE, a="1")
                        .replace("\n", "\r\n")).encode(),
        "quoted.yaml": _restyled(sealed_text(OLD, "web", "quoted", q="1", b="2")).encode(),
        "README.md": b"# not YAML: untouched\n",
        "broken.yaml": b"key: [unclosed\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def _restyled(text: str) -> str:
    """The value of `q` double-quoted, that of `b` as a block scalar (stripped of its line break)."""
    doc = yaml.safe_load(text)
    q, b = doc["spec"]["encryptedData"]["q"], doc["spec"]["encryptedData"]["b"]
    return text.replace(f"q: {q}", f'q: "{q}"').replace(f"b: {b}", f"b: |-\n      {b}")


def opened(path: Path, pair) -> dict[str, dict[str, bytes]]:
    """name → item → plaintext, with one key (kubesealpy's Unsealer, not belen's code)."""
    from kubesealpy import Unsealer
    from kubesealpy.certificate import load_private_key_from_pem
    from kubesealpy.models import SealedSecret
    unsealer = Unsealer([load_private_key_from_pem(pair["key"].encode())])
    found = {}
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8-sig")):
        if doc and doc.get("kind") == "SealedSecret":
            try:
                secret = unsealer.unseal(SealedSecret.model_validate(doc))
                found[doc["metadata"]["name"]] = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
            except Exception:  # noqa: BLE001 - kubesealpy raises its own error types
                found[doc["metadata"]["name"]] = None
    return found


def without_values(text: str) -> list:
    """The documents with every encryptedData value blanked: all that must not change."""
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        for item in ((doc or {}).get("spec") or {}).get("encryptedData") or {}:
            doc["spec"]["encryptedData"][item] = "…"
    return docs


def test_reseal_re_encrypts_every_value_to_the_certificate_and_changes_nothing_else(tmp_path):
    repo = tmp_path / "repo"
    before = reseal_repo(repo)
    keys_file = write(tmp_path / "sealingKeys.json", json.dumps([OLD, NEW], indent=2))  # the stack output
    cert = write(tmp_path / "cert.pem", NEW["cert"])
    result = run_main(keys.main, "reseal", "--keys", keys_file, "--cert", cert, str(repo))
    assert result.code == 1, result.stdout + result.stderr
    assert "apps/multi.yaml: apps/strict [strict] 2 value(s) re-sealed" in result.stdout
    assert "apps/multi.yaml: apps/wide [namespace-wide] 1 value(s) re-sealed" in result.stdout
    assert "cluster.yml: apps/cluster [cluster-wide] 1 value(s) re-sealed" in result.stdout
    assert ("apps/multi.yaml: apps/foreign [strict] left as it was: 1 of 1 value(s) open with none of the keys"
            in result.stdout)
    assert "    key: no key could decrypt it" in result.stdout
    assert f"5 SealedSecret(s): 4 re-sealed to key {fingerprint_of(NEW)[:16]}, 1 left as they were" in result.stdout
    assert "broken.yaml is not valid YAML" in result.stderr
    for secret in ("s3cret", "t0ken", "PRIVATE KEY"):
        assert secret not in result.stdout + result.stderr
    for name in ("README.md", "broken.yaml"):
        assert (repo / name).read_bytes() == before[name]
    for name in ("apps/multi.yaml", "cluster.yml", "quoted.yaml"):
        old_text, new_text = before[name].decode(), (repo / name).read_bytes().decode()
        assert without_values(old_text.lstrip("\ufeff")) == without_values(new_text.lstrip("\ufeff"))
        assert new_text.startswith("\ufeff") == old_text.startswith("\ufeff")
        assert ("\r\n" in new_text) == ("\r\n" in old_text) and new_text.count("\n") == old_text.count("\n")
        # Line by line, only the sealed values differ.
        changed = [(a, b) for a, b in zip(old_text.splitlines(), new_text.splitlines()) if a != b]
        assert changed and all(SEALED_VALUE.sub("V", a) == SEALED_VALUE.sub("V", b) for a, b in changed)
    multi = (repo / "apps/multi.yaml").read_text()
    assert "# the apps' secrets\n" in multi and "kind: ConfigMap  # keep\nmetadata: {name: settings}" in multi
    assert before["apps/multi.yaml"].decode().split("---\n")[-1] == multi.split("---\n")[-1], "left byte for byte"
    # The same plaintext, now only under the new key (kubesealpy opens it as the controller would).
    new_opened = {**opened(repo / "apps/multi.yaml", NEW), **opened(repo / "cluster.yml", NEW),
                  **opened(repo / "quoted.yaml", NEW)}
    assert new_opened == {"strict": {"user": b"me", "password": b"s3cret"}, "wide": {"token": b"t0ken"},
                          "foreign": None, "cluster": {"a": b"1"}, "quoted": {"q": b"1", "b": b"2"}}
    assert set(v for v in opened(repo / "apps/multi.yaml", OLD).values()) == {None}
    assert '"' in (repo / "quoted.yaml").read_text().split("q: ")[1][:1], "a quoted value stays quoted"
    # And belen's own verify agrees: everything but the stranger's opens with the new key alone.
    verified = run_main(keys.main, "verify", "--keys", write(tmp_path / "new.pem", NEW["cert"] + NEW["key"]), str(repo))
    assert "5 SealedSecret(s) with 1 key(s): 6 item(s) opened, 1 failed" in verified.stdout


def fingerprint_of(pair):
    from components.crypto import pem
    return pem.public_key_fingerprint(pem.load_certificate(pair["cert"]).public_key())


def test_reseal_exits_0_when_all_were_resealed_and_on_every_core_does_the_same(tmp_path, monkeypatch):
    docs = [sealed_text(OLD, "apps", f"s{i:02d}", **{f"k{j}": f"v{i}.{j}" for j in range(8)}) for i in range(10)]
    keys_file = write(tmp_path / "old.pem", OLD["cert"] + OLD["key"])
    cert = write(tmp_path / "cert.pem", NEW["cert"])
    outputs = []
    for mode in ("parallel", "single"):
        repo = tmp_path / mode
        repo.mkdir()
        (repo / "all.yaml").write_text("---\n".join(docs))
        if mode == "single":
            monkeypatch.setattr(keys, "PARALLEL_FROM", 10**9)
        result = (run_cli("-m", "tools.keys", "reseal", "--keys", keys_file, "--cert", cert, str(repo)) if mode == "parallel"
                  else run_main(keys.main, "reseal", "--keys", keys_file, "--cert", cert, str(repo)))
        assert result.code == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
        assert opened(repo / "all.yaml", NEW)["s07"] == {f"k{j}": f"v7.{j}".encode() for j in range(8)}
    assert outputs[0] == outputs[1]
    assert "10 SealedSecret(s): 10 re-sealed" in outputs[0]


def test_reseal_refuses_unusable_keys_certificate_or_folder_with_exit_2(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "s.yaml").write_text(sealed_text(OLD, "apps", "s", a="1"))
    good_keys, cert = write(tmp_path / "old.pem", OLD["cert"] + OLD["key"]), write(tmp_path / "cert.pem", NEW["cert"])
    expired = write(tmp_path / "expired.pem", kf.pair("reseal-expired", age_days=20, days=10)["cert"])
    cases = [
        (["--keys", write(tmp_path / "ec.yaml", kf.backup_yaml([kf.ec_pair()])), "--cert", cert, str(repo)], "is an EC"),
        (["--keys", good_keys, "--cert", write(tmp_path / "nope.pem", "hello"), str(repo)],
         "is not a PEM certificate (no BEGIN CERTIFICATE block) — pass the stack's certificate: pulumi stack output "
         "sealingCertificate > cert.pem"),
        (["--keys", good_keys, "--cert", expired, str(repo)], "the certificate expired on"),
        (["--keys", good_keys, "--cert", str(tmp_path / "absent.pem"), str(repo)], "cannot read"),
        (["--keys", good_keys, "--cert", cert, str(tmp_path / "absent")], "is not a folder"),
        (["--keys", write(tmp_path / "hidden.json", '"[secret]"'), "--cert", cert, str(repo)],
         "holds [secret] — write it with `pulumi stack output --show-secrets sealingKeys`"),
    ]
    before = (repo / "s.yaml").read_bytes()
    for args, message in cases:
        result = run_main(keys.main, "reseal", *args)
        assert result.code == 2 and message in result.stderr, (args, result.stderr)
    assert (repo / "s.yaml").read_bytes() == before


def test_verify_and_check_read_the_stacks_sealing_keys_output(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "s.yaml").write_text(sealed_text(NEW, "apps", "s", a="1"))
    output = write(tmp_path / "keys.json", json.dumps([OLD, NEW]))
    all_outputs = write(tmp_path / "outputs.json", json.dumps({"clusterName": "x", "sealingKeys": [OLD, NEW]}))
    for path in (output, all_outputs):
        result = run_main(keys.main, "verify", "--keys", path, str(repo))
        assert result.code == 0 and "1 SealedSecret(s) with 2 key(s): 1 item(s) opened" in result.stdout
    assert f"{output} [1]" in run_main(keys.main, "check", output).stdout
