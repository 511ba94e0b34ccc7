"""`python -m tools.status`: each area's pass and fail on recorded API answers (no cluster), exit codes,
--json, --wait, and that it only ever reads."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import keyfactory
from tests import status_answers as answers
from tools.status import checks, cli, kube, stack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A Pulumi project with the stack `lab` (context `drill`, Flux 2.9.x), its outputs in outputs.json."""
    (tmp_path / "Pulumi.yaml").write_text("name: belen\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.lab.yaml").write_text(
        "config:\n  belen:cluster: {name: lab, context: drill}\n  belen:flux: {version: 2.9.x}\n")
    (tmp_path / "outputs.json").write_text(json.dumps(answers.whole_outputs()))
    answers.kubeconfig(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(monkeypatch, capsys, *snapshots, args=(), outputs=None, sleep=None, clock=None) -> tuple[int, str, str, answers.Answers]:
    served = answers.install(monkeypatch, answers.Answers(list(snapshots)))
    if outputs is not None:
        Path("outputs.json").write_text(json.dumps(outputs))
    code = cli.main(["lab", "--kubeconfig", "kubeconfig", "--stack-outputs", "outputs.json", *args],
                    **({"sleep": sleep, "clock": clock} if sleep else {}))
    out, err = capsys.readouterr()
    return code, out, err, served


def rows(out: str, state: str) -> list[str]:
    """The table's rows in `state` (ok, warning, PROBLEM)."""
    return [line for line in out.splitlines() if line[cli.WIDTH:].startswith(state)]


# --- whole ---------------------------------------------------------------------------------------

def test_whole_platform_exits_0_with_a_count_per_area_and_only_reads(project, monkeypatch, capsys):
    code, out, err, served = run(monkeypatch, capsys, answers.whole_lists())
    assert code == 0, out + err
    ok = rows(out, "ok")
    assert [line.split()[0] for line in ok] == ["sealing", "SealedSecrets", "ExternalSecrets", "cert-manager", "Flux"]
    assert "1 active key(s), exactly the stack's" in out
    assert "1 synced" in out and "1 ExternalSecret(s) Ready" in out
    assert "the first expires in 89 days: drill-certs/homelab" in out
    assert "1 TLS mirror copies hold their source's certificate" in out
    assert "FluxInstance Ready at v2.9.5 (2.9.x)" in out and "applied main@sha1:4f2a9c0d" in out
    assert out.splitlines()[0] == "stack lab: API server https://127.0.0.1:6443 (context drill)"
    assert out.splitlines()[-1] == "whole: yes (0 problem(s), 0 warning(s))"
    assert {method for method, _ in served.requests} == {"GET"}, "the tool must only ever read"
    assert len(served.requests) == len(kube.LISTS)


def test_secrets_in_bulk_are_read_as_metadata_only(project, monkeypatch, capsys):
    seen = []
    from kubernetes.client import rest
    served = answers.Answers([answers.whole_lists()])
    monkeypatch.setattr(rest.RESTClientObject, "request",
                        lambda self, method, url, headers=None, **kw: seen.append((url, headers)) or served.request(method, url))
    assert cli.main(["lab", "--kubeconfig", "kubeconfig", "--stack-outputs", "outputs.json"]) == 0
    (headers,) = [h for url, h in seen if url.endswith("/api/v1/secrets")]
    assert headers["Accept"].startswith("application/json;as=PartialObjectMetadataList")
    assert all(h.get("Authorization") is None for _, h in seen)  # client certificates, no token


# --- 1. sealing keys -----------------------------------------------------------------------------

def test_a_missing_key_an_extra_active_key_and_a_retired_key_are_each_named(project, monkeypatch, capsys):
    extra, retired = keyfactory.pair("status-extra"), keyfactory.pair("status-retired")
    fp = lambda pair: answers.key_secret(pair)["metadata"]["name"]  # noqa: E731
    outputs = answers.whole_outputs()
    missing = "ab" * 32
    retired_fp = answers.pem.public_key_fingerprint(answers.pem.load_certificate(retired["cert"]).public_key())
    outputs["sealingKeyFingerprints"].append(missing)
    outputs["retiredSealingKeyFingerprints"] = [retired_fp]
    lists = answers.variant(lambda l: l["sealingKeys"].extend(
        [answers.key_secret(extra), answers.key_secret(retired, label="compromised")]))
    code, out, _, _ = run(monkeypatch, capsys, lists, outputs=outputs)
    assert code == 1
    problems = rows(out, "PROBLEM")
    extra_fp = answers.pem.public_key_fingerprint(answers.pem.load_certificate(extra["cert"]).public_key())
    assert any(f"key {missing}: in the stack's state but not an active key" in p for p in problems), out
    assert any(f"key {extra_fp}: an extra active key" in p and fp(extra) in p for p in problems), out
    assert any(f"key {retired_fp}: retired by the stack but still present" in p for p in problems), out
    assert len(problems) == 3 and out.splitlines()[-1] == "whole: no (3 problem(s), 0 warning(s))"


# --- 2. SealedSecrets ----------------------------------------------------------------------------

def test_a_sealed_secret_no_key_opens_names_the_controllers_reason(project, monkeypatch, capsys):
    def unsealable(lists):
        lists["sealedSecrets"][0]["status"] = {**answers.ready("False", "", "no key could decrypt secret (password)",
                                                               kind="Synced"), "observedGeneration": 1}
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(unsealable))
    assert code == 1
    assert rows(out, "PROBLEM") == [
        f"{'SealedSecrets':<{cli.WIDTH}}PROBLEM  SealedSecret drill-apps/db-password: not Synced — no key could "
        "decrypt secret (password)"]


def test_a_sealed_secrets_secret_must_be_owned_and_exist(project, monkeypatch, capsys):
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["secretMetadata"][0]["metadata"].pop("ownerReferences")))
    assert code == 1 and "its Secret db-password is not owned by it" in out
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(lambda l: l["secretMetadata"].pop(0)))
    assert code == 1 and "synced, but its Secret db-password is missing" in out


def test_no_sealed_secrets_api_is_a_problem(project, monkeypatch, capsys):
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(lambda l: l.update(sealedSecrets=None)))
    assert code == 1 and "the bitnami.com/v1alpha1 API is not served" in out


# --- 3. ExternalSecrets and stores ---------------------------------------------------------------

def test_an_external_secret_on_a_missing_store_key_is_named_with_esos_reason(project, monkeypatch, capsys):
    def missing_key(lists):
        lists["externalSecrets"][0]["status"] = {
            **answers.ready("False", "SecretSyncedError", "could not get secret data from provider"),
            "refreshTime": None}
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(missing_key))
    assert code == 1
    assert ("ExternalSecret drill-apps/greeting: not Ready — SecretSyncedError: could not get secret data from "
            "provider") in out


def test_a_store_not_ready_missing_or_an_external_secret_synced_too_long_ago(project, monkeypatch, capsys):
    def broken(lists):
        lists["clusterSecretStores"][0]["status"] = answers.ready("False", "InvalidProviderConfig", "bad token")
        lists["externalSecrets"][0]["status"]["refreshTime"] = answers.stamp(-dt.timedelta(minutes=5))
    outputs = answers.whole_outputs()
    outputs["secretStores"]["vault"] = "vault"
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(broken), outputs=outputs)
    assert code == 1
    assert "ClusterSecretStore demo: not Ready — InvalidProviderConfig: bad token" in out
    assert "ClusterSecretStore vault: in the stack's outputs but not in the cluster" in out
    assert "ExternalSecret drill-apps/greeting: last synced 5m ago, longer than its refreshInterval 1m" in out


def test_refresh_intervals_are_go_durations():
    assert checks.parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert checks.parse_duration("10s") == dt.timedelta(seconds=10)
    assert checks.parse_duration("0") == dt.timedelta(0)
    assert checks.parse_duration("soon") is None


# --- 4. cert-manager -----------------------------------------------------------------------------

def test_a_certificate_naming_a_missing_issuer_is_named(project, monkeypatch, capsys):
    def ghost(lists):
        certificate = lists["certificates"][0]
        certificate["spec"]["issuerRef"]["name"] = "ghost"
        certificate["status"] = answers.ready("False", "DoesNotExist", "Issuing certificate as Secret does not exist")
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(ghost))
    assert code == 1
    assert "Certificate drill-certs/homelab: names ClusterIssuer ghost, which does not exist" in out


def test_expiry_warns_under_the_threshold_and_fails_once_expired(project, monkeypatch, capsys):
    code, out, _, _ = run(monkeypatch, capsys, answers.whole_lists(), args=["--expiry-days", "100"])
    assert code == 0, out
    assert rows(out, "warning") and "expires in 89 day(s)" in out and "under --expiry-days 100" in out
    assert out.splitlines()[-1] == "whole: yes (0 problem(s), 1 warning(s))"
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["certificates"][0]["status"].update(notAfter=answers.stamp(-dt.timedelta(days=1)))))
    assert code == 1 and "Certificate drill-certs/homelab: expired on" in out


def test_a_certificate_or_issuer_not_ready(project, monkeypatch, capsys):
    def broken(lists):
        lists["clusterIssuers"][0]["status"] = answers.ready("False", "ErrInitIssuer", "secret not found")
        lists["certificates"][0]["status"] = answers.ready("False", "Failed", "issuance failed")
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(broken))
    assert code == 1
    assert "ClusterIssuer selfsigned: not Ready — ErrInitIssuer: secret not found" in out
    assert "Certificate drill-certs/homelab: not Ready — Failed: issuance failed" in out


def test_a_tls_mirror_copy_must_hold_its_sources_certificate(project, monkeypatch, capsys):
    stale = keyfactory.issued("apps.drill.test")
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["mirrorCopies"][0]["data"].update({"tls.crt": answers.b64(stale["tls.crt"])})))
    serial = answers.pem.load_certificates(stale["tls.crt"])[0].serial_number
    assert code == 1
    assert (f"TLS mirror drill in drill-apps: Secret drill-apps/drill-tls holds serial {serial:x}, not the certificate "
            f"its source published (fingerprint {answers.MIRRORED['fingerprint']})") in out
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(lambda l: l["mirrorCopies"].clear()))
    assert code == 1 and "TLS mirror drill in drill-apps: no copy" in out


def test_a_continuous_mirror_may_hold_a_newer_certificate_than_the_last_up(project, monkeypatch, capsys):
    newer = keyfactory.issued("apps.drill.test")

    def continuous(lists):
        lists["mirrorCopies"][0]["data"]["tls.crt"] = answers.b64(newer["tls.crt"])
        external = json.loads(json.dumps(lists["externalSecrets"][0]))
        external["metadata"].update(name="drill-tls", labels={"belen.io/certificate": "drill"})
        lists["externalSecrets"].append(external)
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(continuous))
    assert code == 0, out


# --- 5. Flux -------------------------------------------------------------------------------------

def test_flux_instance_at_another_version_or_missing(project, monkeypatch, capsys):
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["fluxInstances"][0]["spec"]["distribution"].update(version="2.8.x")))
    assert code == 1 and "FluxInstance flux-system/flux: asks for Flux 2.8.x, the stack sets 2.9.x" in out
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["fluxInstances"][0]["status"].update(lastAppliedRevision="v2.8.1@sha256:00")))
    assert code == 1 and "runs Flux v2.8.1, outside the 2.9.x it asks for" in out
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(lambda l: l["fluxInstances"].clear()))
    assert code == 1 and "FluxInstance flux-system/flux: missing" in out


def test_kustomizations_ready_and_on_one_revision(project, monkeypatch, capsys):
    def apart(lists):
        second = json.loads(json.dumps(lists["kustomizations"][0]))
        second["metadata"]["name"] = "apps"
        second["status"]["lastAppliedRevision"] = "main@sha1:00000000"
        lists["kustomizations"].append(second)
        lists["gitRepositories"][0]["status"] = answers.ready("False", "GitOperationFailed", "auth failed")
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(apart))
    assert code == 1
    assert ("Kustomizations of GitRepository flux-system/flux-system applied different revisions (apps: "
            "main@sha1:00000000, flux-system: main@sha1:4f2a9c0d)") in out
    assert "GitRepository flux-system/flux-system: not Ready — GitOperationFailed: auth failed" in out
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["kustomizations"][0].update(status=answers.ready("False", "BuildFailed", "kustomize build failed"))))
    assert code == 1 and "Kustomization flux-system/flux-system: not Ready — BuildFailed: kustomize build failed" in out


def test_a_newer_fetched_revision_is_a_warning(project, monkeypatch, capsys):
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(
        lambda l: l["gitRepositories"][0]["status"]["artifact"].update(revision="main@sha1:99999999")))
    assert code == 0 and "fetched main@sha1:99999999; its Kustomizations applied main@sha1:4f2a9c0d" in out


def test_flux_versions():
    assert checks.version_matches("v2.9.5", "2.9.x") and checks.version_matches("v2.9.5", "2.x")
    assert checks.version_matches("v2.9.5", "2.9.5") and not checks.version_matches("v2.9.5", "2.9.6")
    assert checks.version_matches("v2.9.5", ">=2.9.0 <2.10.0")  # comparisons: the operator checked them


def test_a_stack_without_optional_parts_is_whole_without_them(project, monkeypatch, capsys):
    outputs = {k: v for k, v in answers.whole_outputs().items()
               if k.startswith("sealing") or k in ("retiredSealingKeyFingerprints",)}
    (project / "stacks" / "Pulumi.lab.yaml").write_text("config:\n  belen:cluster: {name: lab}\n")

    def bare(lists):
        lists.update(externalSecrets=None, clusterSecretStores=None, certificates=None, clusterIssuers=None,
                     issuers=None, fluxInstances=None, gitRepositories=None, kustomizations=None, mirrorCopies=[])
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(bare), outputs=outputs)
    assert code == 0, out
    assert out.count("not installed by this stack") == 3


# --- --json and --wait ---------------------------------------------------------------------------

def test_json_for_pipelines(project, monkeypatch, capsys):
    code, out, _, _ = run(monkeypatch, capsys, answers.variant(lambda l: l["fluxInstances"].clear()), args=["--json"])
    report = json.loads(out)
    assert code == 1 and report["whole"] is False and report["problems"] == 1
    assert [a["area"] for a in report["areas"]] == list(checks.AREAS)
    flux = report["areas"][-1]
    assert flux["whole"] is False and flux["problems"][0].startswith("FluxInstance flux-system/flux: missing")
    assert report["apiServer"] == "https://127.0.0.1:6443" and report["context"] == "drill"


def test_wait_polls_until_whole_printing_progress(project, monkeypatch, capsys):
    now = [0.0]
    unsynced = answers.variant(lambda l: l["sealedSecrets"][0].pop("status"))
    code, out, err, served = run(monkeypatch, capsys, unsynced, unsynced, answers.whole_lists(), args=["--wait", "60"],
                                 sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert code == 0, out + err
    assert served.reads == 3
    assert err.splitlines() == ["waiting (0 s of 60): 1 problem(s) left (SealedSecrets 1)"]  # said once: nothing new
    assert out.splitlines()[-1].startswith("whole: yes")


def test_wait_gives_up_after_its_time_with_the_last_problems(project, monkeypatch, capsys):
    now = [0.0]
    unsynced = answers.variant(lambda l: l["sealedSecrets"][0].pop("status"))
    code, out, err, served = run(monkeypatch, capsys, unsynced, args=["--wait", "12"],
                                 sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert code == 1 and served.reads == 4  # at 0, 5, 10 and 12 s
    assert "SealedSecret drill-apps/db-password: no Synced condition yet" in out


# --- inputs and errors ---------------------------------------------------------------------------

def test_context_and_flux_version_come_from_the_stack_file(project):
    inputs = stack.read_inputs("organization/belen/lab", "kubeconfig", None, "outputs.json")
    assert inputs.context == "drill" and inputs.expected.flux_version == "2.9.x"
    assert stack.read_inputs("lab", "kubeconfig", "other", "outputs.json").context == "other"


def test_a_secret_kubeconfig_without_pulumi_is_one_line(project, monkeypatch, capsys):
    (project / "stacks" / "Pulumi.lab.yaml").write_text("config:\n  belen:kubeconfig: {secure: v1:abc}\n")
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    assert cli.main(["lab", "--stack-outputs", "outputs.json"]) == 2
    assert capsys.readouterr().err == ("error: reading the stack's secret belen:kubeconfig needs the Pulumi CLI, which "
                                       "is not installed — install it, or pass --kubeconfig FILE\n")


@pytest.mark.parametrize("args, expected", [
    (["nope", "--stack-outputs", "outputs.json"], "error: no stack file "),
    (["lab", "--kubeconfig", "kubeconfig", "--stack-outputs", "missing.json"], "error: cannot read missing.json"),
    (["lab", "--kubeconfig", "nowhere", "--stack-outputs", "outputs.json"], "error: --kubeconfig nowhere: no such file"),
    (["lab", "--kubeconfig", "kubeconfig", "--stack-outputs", "outputs.json", "--context", "ghost"],
     "error: cannot use kubeconfig (context ghost): "),
])
def test_usage_errors_exit_2_with_one_line(project, capsys, args, expected):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1, err


def test_outputs_without_sealing_key_fingerprints_are_refused(project, monkeypatch, capsys):
    code, _, err, _ = run(monkeypatch, capsys, answers.whole_lists(), outputs={"sealingKeyFingerprints": "[secret]"})
    assert code == 2 and err.startswith("error: the stack's sealingKeyFingerprints output is [secret]")
    code, _, err, _ = run(monkeypatch, capsys, answers.whole_lists(), outputs={"clusterName": "lab"})
    assert code == 2 and "have no sealingKeyFingerprints list" in err


def test_bad_arguments_exit_2(project, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["lab", "--wait", "-1"])
    assert exit_.value.code == 2 and "-1 is negative" in capsys.readouterr().err


def test_refused_credentials_exit_2_naming_the_server(project, monkeypatch, capsys):
    served = answers.install(monkeypatch, answers.Answers([answers.whole_lists()], status=401))
    assert cli.main(["lab", "--kubeconfig", "kubeconfig", "--stack-outputs", "outputs.json", "--wait", "30"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the API server https://127.0.0.1:6443 (context drill) refused to list ")
    assert len(served.requests) == 1  # waiting does not help


def test_an_unreachable_api_server_is_one_line_naming_it(tmp_path, project, capsys):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answers.kubeconfig(tmp_path, server=f"https://127.0.0.1:{port}")
    code = cli.main(["lab", "--kubeconfig", "kubeconfig", "--stack-outputs", "outputs.json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: cannot reach the API server https://127.0.0.1:{port} "
                                                   f"(context drill): ")
    assert "Connection refused" in err and "check that the cluster is up" in err
    assert out.splitlines()[-1] == "whole: unknown — the API server did not answer"


def test_it_runs_as_a_module(project):
    result = subprocess.run([sys.executable, "-m", "tools.status", "--help"], cwd=project, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and "--stack-outputs FILE" in result.stdout


# --- answers recorded from the drill's API servers -----------------------------------------------

# What tools.status read from the drill's converged homelab and replica (real API server, real
# sealed-secrets, ESO, Flux controllers), with each stack's outputs; private keys and managedFields left
# out, Secrets' bulk metadata cut to names and owners.
RECORDED = sorted((Path(__file__).parent / "status-answers").glob("drill-*.json"))


def recorded(path: Path) -> tuple[kube.Snapshot, stack.Expected, dt.datetime]:
    data = json.loads(path.read_text())
    return (kube.Snapshot(data["lists"]), stack.expected_from(data["outputs"], data["fluxVersion"]),
            checks.parse_time(data["recordedAt"]))


def test_the_drill_recorded_a_primary_and_a_replica():
    assert [p.stem for p in RECORDED] == ["drill-cloud", "drill-homelab"]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_a_recorded_drill_cluster_is_whole(path):
    snapshot, expected, at = recorded(path)
    areas = checks.check_all(snapshot, expected, at, 14)
    assert [p for a in areas for p in a.problems + a.warnings] == []
    assert "3 synced" in areas[1].summary and "FluxInstance Ready at v2.9.5 (2.9.x)" in areas[4].summary


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_faults_in_a_recorded_drill_cluster_are_named(path):
    snapshot, expected, at = recorded(path)
    stale = checks.check_all(snapshot, expected, at + dt.timedelta(hours=1), 14)[2]  # ESO stopped an hour ago
    assert len(stale.problems) == 1 and "last synced 1h ago, longer than its refreshInterval" in stale.problems[0]
    (active,) = expected.fingerprints
    keys = checks.sealing_keys(snapshot, stack.Expected(fingerprints=("ab" * 32,), retired=(active,)))
    assert [p.split(":")[0] for p in keys.problems] == [f"key {'ab' * 32}", f"key {active}"]
    assert "retired by the stack but still present" in keys.problems[1]
    sealed = snapshot.lists["sealedSecrets"][0]
    sealed["status"]["conditions"][0].update(status="False", message="no key could decrypt secret (password)")
    (problem,) = checks.sealed_secrets(snapshot).problems
    assert problem.endswith(": not Synced — no key could decrypt secret (password)")
