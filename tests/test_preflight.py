"""`python -m tools.preflight`: a GitOps repository checked against the stack that will sync it."""

import json
import shutil

import pytest
import yaml

from tests import gitops_repo
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, RENDER_INPUTS, run_cli, write_yaml
from tools import render
from tools.preflight import cli
from tools.preflight.model import CHECK_NAMES

HOMELAB_OUTPUTS = PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json"
CERTIFICATE = json.loads(HOMELAB_OUTPUTS.read_text())["sealingCertificate"]
CLOUD = ["cloud", "--config-file", str(RENDER_INPUTS / "cloud.yaml"),
         "--stack-outputs", f"organization/belen/homelab={HOMELAB_OUTPUTS}"]
ALL_CHECKS = ("sealed-secrets", "secret-stores", "issuers", "ingress-classes", "substitutions", "flux-references",
              "api-versions", "namespaces")
NO_KUBECTL_NOTE = "kubectl is not installed: 1 kustomization file(s) were read without it"


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("gitops")
    return (gitops_repo.write(root / "clean", gitops_repo.clean_files(CERTIFICATE)),
            gitops_repo.write(root / "broken", gitops_repo.broken_files(CERTIFICATE)))


def preflight(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def preflight_json(capsys, *args: str) -> tuple[int, dict]:
    code, out, err = preflight(capsys, *args, "--json")
    assert "Traceback" not in err
    return code, json.loads(out)


def subjects(report: dict) -> set[tuple[str, str, str]]:
    return {(f["file"], f"{f['kind']} {f['namespace']}/{f['name']}", f["check"]) for f in report["findings"]}


def test_one_problem_of_each_kind_is_reported_exactly_and_exits_1(repos):
    _, broken = repos
    result = run_cli("-m", "tools.preflight", *CLOUD, "--repo", str(broken))
    assert result.code == 1, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if " — " in line and not line.startswith("note:")]
    assert sorted(line.split(": ")[0] + ": " + line.split(": ")[1] for line in lines) == sorted(
        f"{file}: {label}" for file, label, _ in gitops_repo.BROKEN)
    counts = ", ".join(f"{check} {0 if check == 'retired-keys' else 1}" for check in CHECK_NAMES if check != "build")
    assert f"findings per check: {counts}, build 0" in result.stdout
    assert "8 finding(s): stack 'cloud' will not converge as it stands" in result.stdout
    assert "Traceback" not in result.stderr
    for secret in ("not-a-real-password", "dummy-vault-token", "PRIVATE KEY"):
        assert secret not in result.stdout + result.stderr


def test_each_finding_names_its_check_and_what_to_do(repos, capsys):
    _, broken = repos
    code, report = preflight_json(capsys, *CLOUD, "--repo", broken)
    assert code == 1
    assert subjects(report) == set(gitops_repo.BROKEN)
    assert report["findingsPerCheck"] == {**{check: 1 for check in ALL_CHECKS}, "retired-keys": 0, "build": 0}
    lines = {f["check"]: f["line"] for f in report["findings"]}
    # targetNamespace moved a strictly sealed secret: the line says from where to where.
    assert "is sealed (strict) for namespace apps, but targetNamespace of Kustomization flux-system/apps puts it in " \
           "web, where it never opens — seal it again for namespace web" in lines["sealed-secrets"]
    assert "ClusterSecretStore onepassword does not exist on the cluster (its stores: vault)" in lines["secret-stores"]
    assert "annotation cert-manager.io/cluster-issuer names ClusterIssuer letsencrypt-prod, which the cluster does not " \
           "have (its issuers: letsencrypt, letsencrypt-staging)" in lines["issuers"]
    assert "ingress class nginx is not served on the cluster (it serves traefik)" in lines["ingress-classes"]
    # The nested Kustomization (found in infrastructure/) substitutes with its own variables.
    assert "${region} has no value in Kustomization flux-system/tenants" in lines["substitutions"]
    assert "add region to postBuild.substitute of Kustomization flux-system/tenants (infrastructure/tenants.yaml)" \
           in lines["substitutions"]
    assert "chart.spec.sourceRef names HelmRepository flux-system/grafana, which does not exist" in lines["flux-references"]
    assert "external-secrets.io/v1beta1 ExternalSecret is not served by External Secrets Operator" in lines["api-versions"]
    assert lines["api-versions"].endswith("— use external-secrets.io/v1")
    assert "namespace monitoring does not exist on the cluster" in lines["namespaces"]


def test_the_clean_repository_exits_0(repos, capsys):
    clean, _ = repos
    code, out, err = preflight(capsys, *CLOUD, "--repo", clean)
    assert code == 0, out + err
    assert "0 finding(s): stack 'cloud' will converge as far as these checks see" in out
    assert ", 3 SealedSecret," in out and "from 4 Kustomization(s)" in out


def test_a_primary_is_named_as_itself_not_as_a_replica(repos, capsys):
    _, broken = repos
    code, out, err = preflight(capsys, "homelab", "--config-file", RENDER_INPUTS / "homelab.yaml", "--repo", broken)
    assert code == 1 and "replica" not in out + err
    assert out.splitlines()[-1].endswith("finding(s): stack 'homelab' will not converge as it stands")


def test_nested_kustomizations_are_followed_with_their_own_substitutions(repos, capsys):
    clean, _ = repos
    _, report = preflight_json(capsys, *CLOUD, "--repo", clean)
    assert report["kustomizations"] == ["flux-system/flux-system (./clusters/homelab)", "flux-system/apps (./apps)",
                                        "flux-system/infra (./infrastructure)", "flux-system/tenants (./tenants)"]
    assert report["checked"]["Kustomization"] == 3 and report["checked"]["ConfigMap"] == 3


def test_without_kubectl_overlays_are_read_and_the_tool_says_so(repos, capsys, monkeypatch, tmp_path):
    _, broken = repos
    monkeypatch.setenv("PATH", str(tmp_path))
    code, report = preflight_json(capsys, *CLOUD, "--repo", broken)
    assert code == 1
    assert subjects(report) == set(gitops_repo.BROKEN)
    assert [n for n in report["notes"] if n.startswith(NO_KUBECTL_NOTE)], report["notes"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_with_kubectl_overlays_are_built_by_it(repos, capsys):
    _, broken = repos
    code, report = preflight_json(capsys, *CLOUD, "--repo", broken)
    assert code == 1
    assert subjects(report) == set(gitops_repo.BROKEN)
    assert not [n for n in report["notes"] if n.startswith("kubectl")]


def test_substitute_from_sources_give_values_and_must_exist(capsys, tmp_path):
    files = gitops_repo.clean_files(CERTIFICATE)
    files["clusters/homelab/cluster-vars.yaml"] = [gitops_repo.config_map("cluster-vars", "flux-system", other="x")]
    code, report = preflight_json(capsys, *CLOUD, "--repo", gitops_repo.write(tmp_path / "no-key", files))
    assert code == 1
    # ${domain} has no value in either Ingress of apps/ (the optional Secret is no finding).
    assert sorted(f["name"] for f in report["findings"]) == ["default-class", "site"]
    assert all("${domain} has no value in Kustomization flux-system/apps" in f["problem"] for f in report["findings"])
    del files["clusters/homelab/cluster-vars.yaml"]
    code, report = preflight_json(capsys, *CLOUD, "--repo", gitops_repo.write(tmp_path / "no-source", files))
    # Flux stops that Kustomization at the missing source, before it substitutes anything.
    assert [f["line"] for f in report["findings"]] == [
        "clusters/homelab/apps.yaml: Kustomization flux-system/apps: substituteFrom names ConfigMap "
        "flux-system/cluster-vars, which nothing creates — add it to the repository (applied before this "
        "Kustomization), or mark it optional: true"]
    assert code == 1


def test_extra_kustomizations_of_the_stack_are_followed(capsys, tmp_path):
    flux = yaml.safe_load((PROJECT_DIR / "stacks/Pulumi.cloud.yaml").read_text())["config"]["belen:flux"]
    flux["kustomizations"] = [{"name": "addons", "path": "./addons"}, {"name": "missing", "path": "./nowhere"}]
    overrides = write_yaml(tmp_path / "extra.yaml", {"belen:flux": flux})
    files = gitops_repo.clean_files(CERTIFICATE)
    files["addons/addon.yaml"] = [
        gitops_repo.config_map("addon", "apps", host="addon.${ingress_host_suffix}"),
        gitops_repo.kustomization("after-addons", "./tenants", dependsOn=[{"name": "addons"}, {"name": "missing"}]),
    ]
    code, report = preflight_json(capsys, *CLOUD, "--config-file", overrides, "--repo",
                                  gitops_repo.write(tmp_path / "repo", files))
    assert "flux-system/addons (./addons)" in report["kustomizations"]
    assert [f["line"] for f in report["findings"]] == [
        "stacks/Pulumi.cloud.yaml: Kustomization flux-system/missing: path ./nowhere is not a folder of the repository "
        "— create it, or set belen:flux.path (or the path in belen:flux.kustomizations)"]
    assert code == 1


def test_a_generated_key_leaves_sealed_secrets_unchecked_until_keys_are_passed(capsys, tmp_path):
    pair, other = kf.pair("preflight-generated"), kf.pair("preflight-other")
    repo = gitops_repo.write(tmp_path / "repo", {"clusters/staging/sealed.yaml": [
        gitops_repo.seal(pair["cert"], "default", "app")]})
    code, out, _ = preflight(capsys, "local", "--repo", repo)
    assert code == 0
    assert ("note: 1 SealedSecret(s) not checked: stack 'local' generates its sealing key, unknown offline — pass "
            "--keys with a backup of it (kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key "
            "-o yaml)") in out
    backup = tmp_path / "backup.yaml"
    backup.write_text(kf.backup_yaml([pair]))
    code, out, _ = preflight(capsys, "local", "--repo", repo, "--keys", backup)
    assert code == 0 and "not checked" not in out
    backup.write_text(kf.backup_yaml([other]))
    code, out, _ = preflight(capsys, "local", "--repo", repo, "--keys", backup)
    assert code == 1
    assert ("clusters/staging/sealed.yaml: SealedSecret default/app: 1 of 1 item(s) do not open with the stack's "
            "sealing keys (strict scope)") in out


def test_bad_input_exits_2_with_one_line_and_no_traceback(repos, capsys, tmp_path, monkeypatch):
    clean, _ = repos
    cases = [
        (["cloud", "--repo", tmp_path / "absent"], f"error: --repo {tmp_path / 'absent'} is not a folder"),
        (["nowhere", "--repo", clean], "error: no stack file stacks/Pulumi.nowhere.yaml"),
        (["local", "--repo", clean, "--keys", write_yaml(tmp_path / "cm.yaml", {"kind": "ConfigMap"})],
         "holds something other than Secrets"),
        (["local", "--repo", clean, "--config-file", write_yaml(tmp_path / "typo.yaml", {"belen:cluster": {
            "name": "local", "nmae": "x"}})], "error: belen:cluster.nmae: unknown setting — did you mean 'name'?"),
    ]
    for args, expected in cases:
        code, out, err = preflight(capsys, *args)
        assert code == 2, (args, out, err)
        assert expected in err and "Traceback" not in err and out == "", (args, err)
    # In a process of its own: a program that stopped at a missing StackReference leaves its runtime behind.
    result = run_cli("-m", "tools.preflight", "cloud", "--config-file", str(RENDER_INPUTS / "cloud.yaml"),
                     "--repo", str(clean))
    assert result.code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == ("error: the program reads the outputs of stack 'organization/belen/homelab' "
                                              "— pass them with --stack-outputs organization/belen/homelab=FILE")
    original = render.load_config
    monkeypatch.setattr(render, "load_config", lambda stack, layers: (
        {k: v for k, v in original(stack, layers)[0].items() if k != "belen:flux"}, original(stack, layers)[1]))
    code, _, err = preflight(capsys, "local", "--repo", clean)
    assert code == 2 and "error: stack 'local' has no belen:flux, so nothing syncs from a repository" in err
