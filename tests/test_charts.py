"""`belen:charts`: one table of pins, per-chart repository, path, version and values overrides,
the refused values, and every settings error through the render tool."""

import io
import json
import os
import re
import tarfile

import pytest
import yaml

from components.charts import CHARTS, PROTECTED
from components.errors import SettingsError
from components.settings import StackConfig, load_settings
from components.settings.charts import PROJECT_ROOT
from tests.graph import PROJECT_DIR, render_cli, render_failure, render_stack, write_yaml

HOMELAB_OUTPUTS = {"organization/belen/homelab": json.loads(
    (PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())}
RELEASE_NAMES = {"sealedSecrets": "sealed-secrets", "externalSecrets": "external-secrets",
                 "certManager": "cert-manager", "fluxOperator": "flux-operator", "traefik": "traefik"}


def cloud(config=None):
    """The cloud stack installs all five charts."""
    return render_stack("cloud", config, stack_outputs=HOMELAB_OUTPUTS)


def release(graph, key):
    [found] = [r for r in graph.find("helm.sh/v3:Release") if r.inputs()["name"] == RELEASE_NAMES[key]]
    return found.inputs()


def charts(key, **fields):
    return {"belen:charts": {key: fields}}


def local_chart(folder, name="sealed-secrets", version="2.20.0"):
    """A chart directory as small as the offline render needs: a Chart.yaml and empty templates."""
    (folder / "templates").mkdir(parents=True)
    write_yaml(folder / "Chart.yaml", {"apiVersion": "v2", "name": name, "version": version})
    return folder


def packaged_chart(path, name="sealed-secrets", version="2.20.0", member="Chart.yaml"):
    data = yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}).encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(f"{name}/{member}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def settings_lines(config, secret_keys=()):
    with pytest.raises(SettingsError) as caught:
        load_settings(StackConfig({"belen:cluster": {"name": "x"}, **config}, frozenset(secret_keys)), "x")
    return caught.value.lines


# -- the pins ------------------------------------------------------------------------------------

def test_one_table_pins_all_five_charts_and_every_release_installs_its_pin():
    assert sorted(CHARTS) == ["certManager", "externalSecrets", "fluxOperator", "sealedSecrets", "traefik"]
    graph = cloud()
    assert graph.output("charts").value == {
        key: {"chart": pin.name, "version": pin.version, "source": pin.repository} for key, pin in CHARTS.items()}
    assert not graph.output("charts").secret
    for key, pin in CHARTS.items():
        inputs = release(graph, key)
        assert inputs["version"] == pin.version
        if pin.repository.startswith("oci://"):
            assert inputs["chart"] == f"{pin.repository}/{pin.name}" and "repositoryOpts" not in inputs
        else:
            assert (inputs["chart"], inputs["repositoryOpts"]["repo"]) == (pin.name, pin.repository)
        # Every release is awaited but cert-manager's, whose startupapicheck hook Helm waits for instead.
        assert inputs["skipAwait"] is (key == "certManager") and inputs["timeout"] == 600


def test_the_charts_output_lists_only_what_is_installed():
    assert sorted(render_stack("homelab").output("charts").value) == [
        "certManager", "externalSecrets", "fluxOperator", "sealedSecrets"]


# -- repository ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(CHARTS))
def test_a_chart_repository_can_be_moved_without_editing_belen(key):
    other = "traefik" if key == "fluxOperator" else "fluxOperator"
    graph = cloud({"belen:charts": {key: {"repository": "https://charts.example.org/mirror"},
                                    other: {"repository": "oci://harbor.home.arpa/charts"}}})
    inputs = release(graph, key)
    assert (inputs["chart"], inputs["version"]) == (CHARTS[key].name, CHARTS[key].version)
    assert inputs["repositoryOpts"]["repo"] == "https://charts.example.org/mirror"
    oci = release(graph, other)
    assert oci["chart"] == f"oci://harbor.home.arpa/charts/{CHARTS[other].name}" and "repositoryOpts" not in oci
    assert oci["version"] == CHARTS[other].version
    assert graph.output("charts").value[key]["source"] == "https://charts.example.org/mirror"
    assert graph.output("charts").value[other]["source"] == "oci://harbor.home.arpa/charts"
    assert graph.run.warnings == []


def test_a_plain_http_repository_is_allowed_with_a_warning(tmp_path):
    config = write_yaml(tmp_path / "in.yaml", charts("sealedSecrets", repository="http://charts.home.arpa"))
    result = render_cli("homelab", "--out", str(tmp_path / "out"), "--config-file", str(config))
    assert result.code == 0, result.stderr
    assert result.stderr.count("warning: belen:charts.sealedSecrets.repository: http://charts.home.arpa is "
                               "unauthenticated plain text") == 1
    helm = yaml.safe_load((tmp_path / "out/helm/homelab-sealed-secrets-controller.yaml").read_text())
    assert (helm["chart"], helm["version"], helm["source"]) == ("sealed-secrets", "2.20.0", "http://charts.home.arpa")


# -- path ----------------------------------------------------------------------------------------

def test_a_chart_directory_installs_from_its_path_without_repository_or_version(tmp_path):
    chart = local_chart(tmp_path / "sealed-secrets")
    graph = render_stack("homelab", charts("sealedSecrets", path=str(chart)))
    inputs = release(graph, "sealedSecrets")
    assert inputs["chart"] == str(chart)
    assert "version" not in inputs and "repositoryOpts" not in inputs, "Helm reads both from the chart itself"
    assert inputs["skipAwait"] is False and inputs["values"]["fullnameOverride"] == "sealed-secrets-controller"
    assert graph.output("charts").value["sealedSecrets"] == {
        "chart": "sealed-secrets", "version": "2.20.0", "source": str(chart)}
    assert graph.run.warnings == []


def test_a_packaged_chart_gives_its_version_from_inside_the_archive(tmp_path):
    chart = packaged_chart(tmp_path / "external-secrets-2.12.0.tgz", "external-secrets", "2.12.0")
    graph = render_stack("homelab", charts("externalSecrets", path=str(chart)))
    assert release(graph, "externalSecrets")["chart"] == str(chart)
    assert graph.output("charts").value["externalSecrets"] == {
        "chart": "external-secrets", "version": "2.12.0", "source": str(chart)}


def test_the_render_shows_a_local_charts_source_version_and_values(tmp_path):
    chart = local_chart(tmp_path / "sealed-secrets", version="2.19.3")
    config = write_yaml(tmp_path / "in.yaml", charts("sealedSecrets", path=str(chart),
                                                     values={"podLabels": {"team": "platform"}}))
    result = render_cli("homelab", "--out", str(tmp_path / "out"), "--config-file", str(config))
    assert result.code == 0, result.stderr
    helm = yaml.safe_load((tmp_path / "out/helm/homelab-sealed-secrets-controller.yaml").read_text())
    assert (helm["chart"], helm["version"], helm["source"]) == ("sealed-secrets", "2.19.3", str(chart))
    assert helm["values"] == {"fullnameOverride": "sealed-secrets-controller", "namespace": "kube-system",
                              "keyrenewperiod": "0", "podLabels": {"team": "platform"}}
    warning = (f"warning: belen:charts.sealedSecrets.path: the chart at {chart} is version 2.19.3, not 2.20.0, "
               f"the version belen was tested with")
    assert result.stderr.count(warning) == 1 and result.stderr.count("warning:") == 1


def test_a_version_given_with_a_path_must_match_its_chart(tmp_path):
    chart = local_chart(tmp_path / "sealed-secrets", version="2.19.3")
    graph = render_stack("homelab", charts("sealedSecrets", path=str(chart), version="2.19.3"))
    assert graph.output("charts").value["sealedSecrets"]["version"] == "2.19.3"
    assert len(graph.run.warnings) == 1
    lines = settings_lines(charts("sealedSecrets", path=str(chart), version="2.20.0"))
    assert lines == [f"belen:charts.sealedSecrets.version: is 2.20.0 but the chart at {chart} is 2.19.3 — "
                     "remove version (a path's Chart.yaml says it) or make them equal"]


# -- version -------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(CHARTS))
def test_a_version_override_is_installed_and_warns_once_naming_the_tested_version(key):
    graph = cloud(charts(key, version="9.9.9"))
    assert release(graph, key)["version"] == "9.9.9"
    assert graph.output("charts").value[key]["version"] == "9.9.9"
    assert graph.run.warnings == [
        f"belen:charts.{key}.version: 9.9.9 replaces {CHARTS[key].version}, the version belen was tested with"]


def test_the_pinned_version_given_again_does_not_warn():
    graph = cloud(charts("certManager", version="v1.21.2"))
    assert graph.run.warnings == []


# -- values --------------------------------------------------------------------------------------

MERGES = {
    "sealedSecrets": ({"podLabels": {"team": "platform"}}, "podLabels", {"team": "platform"}),
    "externalSecrets": ({"webhook": {"replicaCount": 2}}, "webhook", {"create": True, "replicaCount": 2}),
    "certManager": ({"startupapicheck": {"timeout": "5m"}}, "startupapicheck", {"enabled": True, "timeout": "5m"}),
    "fluxOperator": ({"resources": {"limits": {"memory": "2Gi"}}}, "resources", {"limits": {"memory": "2Gi"}}),
    "traefik": ({"deployment": {"podAnnotations": {"a": "b"}}}, "deployment", {"replicas": 2, "podAnnotations": {"a": "b"}}),
}


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_values_merge_deeply_over_belens_own(key):
    given, top, merged = MERGES[key]
    before = release(cloud(), key)["values"]
    after = release(cloud(charts(key, values=given)), key)["values"]
    assert after[top] == merged
    assert {k: v for k, v in after.items() if k != top} == {k: v for k, v in before.items() if k != top}


def test_the_users_values_win_over_the_mirror_for_one_image():
    graph = render_stack("homelab", {"belen:images": {"registry": "harbor.home.arpa/mirror"},
                                     **charts("sealedSecrets", values={"image": {"repository": "library/controller"}})})
    assert release(graph, "sealedSecrets")["values"]["image"] == {
        "registry": "harbor.home.arpa/mirror", "repository": "library/controller"}


# -- refused values ------------------------------------------------------------------------------

def nested(path, value):
    head, *rest = path.split(".")
    return {head: nested(".".join(rest), value) if rest else value}


REFUSED = [(key, path) for key, guards in PROTECTED.items() for path in guards]


@pytest.mark.parametrize("key, path", REFUSED, ids=[f"{k}.{p}" for k, p in REFUSED])
def test_every_protected_value_is_refused_naming_what_it_protects(key, path):
    guard = PROTECTED[key][path]
    lines = settings_lines(charts(key, values=nested(path, "x")))
    assert lines == [f"belen:charts.{key}.values.{path}: is refused: it protects {guard.protects} — {guard.todo}"]


@pytest.mark.parametrize("key, values, path", [
    ("externalSecrets", {"webhook": False}, "webhook.create"),
    ("certManager", {"crds": None}, "crds.enabled"),
    ("traefik", {"providers": {"kubernetesIngress": "off"}}, "providers.kubernetesIngress.ingressClass"),
])
def test_replacing_a_mapping_that_holds_a_protected_value_is_refused(key, values, path):
    assert any(line.startswith(f"belen:charts.{key}.values.{path}: is refused") for line in settings_lines(
        charts(key, values=values)))


def test_the_guarantees_the_issue_names_are_protected():
    required = {
        "sealedSecrets": {"fullnameOverride", "namespace", "keyrenewperiod"},
        "certManager": {"installCRDs", "crds.enabled", "startupapicheck.enabled"},
        "externalSecrets": {"installCRDs", "crds.createClusterSecretStore", "webhook.create", "certController.create"},
        "fluxOperator": {"installCRDs"},
        "traefik": {"ingressClass.name"},
    }
    for key, paths in required.items():
        assert paths <= set(PROTECTED[key]), key


def test_the_docs_list_every_refused_value():
    section = (PROJECT_DIR / "docs" / "charts.md").read_text().split("## Refused chart values")[1].split("\n## ")[0]
    listed = {}
    for row in section.splitlines():
        cells = row.split(" | ")
        if row.startswith("| `") and len(cells) == 3:
            listed.setdefault(cells[0].strip("|` "), set()).update(re.findall(r"`([^`]+)`", cells[1]))
    assert listed == {key: set(guards) for key, guards in PROTECTED.items()}


def test_values_belen_does_not_guard_are_passed():
    graph = render_stack("homelab", charts("sealedSecrets", values={"keyttl": "8760h"}))
    assert release(graph, "sealedSecrets")["values"]["keyttl"] == "8760h"


def test_a_key_renewal_override_on_a_replica_fails_with_exit_2_naming_the_key(tmp_path):
    stderr = render_failure(tmp_path, charts("sealedSecrets", values={"keyrenewperiod": "720h"}), "cloud",
                            args=("--stack-outputs", f"organization/belen/homelab={PROJECT_DIR}/tests/stack-outputs/"
                                  "organization~belen~homelab.json"))
    assert "belen:charts.sealedSecrets.values.keyrenewperiod: is refused: it protects the keys: a replica never " \
           "mints keys" in stderr


# -- errors ---------------------------------------------------------------------------------------

SS = "belen:charts.sealedSecrets"


def plain_file(tmp):
    (tmp / "notes.txt").write_text("x")
    return tmp / "notes.txt"


def chart_yaml(tmp, text):
    (tmp / "chart").mkdir()
    (tmp / "chart/Chart.yaml").write_text(text)
    return tmp / "chart"


def broken_archive(tmp):
    (tmp / "broken.tgz").write_bytes(b"not gzip")
    return tmp / "broken.tgz"


# name → tmp → (config, message)
ERRORS = {
    "unknown chart": lambda tmp: ({"belen:charts": {"traefk": {}}},
                                  "belen:charts.traefk: unknown setting — did you mean 'traefik'?"),
    "unknown field": lambda tmp: (charts("traefik", repositry="https://x.example"),
                                  "belen:charts.traefik.repositry: unknown setting — did you mean 'repository'?"),
    "scheme": lambda tmp: (charts("traefik", repository="ftp://x.example"),
                           "belen:charts.traefik.repository: 'ftp://x.example' is not an https://, oci:// or http:// address"),
    "both sources": lambda tmp: (charts("sealedSecrets", repository="https://x.example", path=str(local_chart(tmp / "c"))),
                                 f"{SS}.path: cannot be combined with repository — choose one source"),
    "missing path": lambda tmp: (charts("sealedSecrets", path=str(tmp / "missing")),
                                 f"{SS}.path: {tmp / 'missing'} does not exist — point it at an unpacked chart directory"),
    "no Chart.yaml": lambda tmp: (charts("sealedSecrets", path=str(tmp)), f"{SS}.path: {tmp} has no Chart.yaml"),
    "plain file": lambda tmp: (charts("sealedSecrets", path=str(plain_file(tmp))),
                               f"{SS}.path: {tmp / 'notes.txt'} is neither a directory nor a .tgz"),
    "bad Chart.yaml": lambda tmp: (charts("sealedSecrets", path=str(chart_yaml(tmp, "name: ["))),
                                   f"{SS}.path: {tmp / 'chart'} has a Chart.yaml that is not valid YAML"),
    "no version": lambda tmp: (charts("sealedSecrets", path=str(chart_yaml(tmp, "name: sealed-secrets"))),
                               f"{SS}.path: {tmp / 'chart'} has a Chart.yaml without name and version"),
    "other chart": lambda tmp: (charts("sealedSecrets", path=str(local_chart(tmp / "t", "traefik"))),
                                f"{SS}.path: {tmp / 't'} holds chart 'traefik', not 'sealed-secrets' — "
                                "point it at the sealed-secrets chart"),
    "archive without chart": lambda tmp: (charts("sealedSecrets", path=str(packaged_chart(tmp / "c.tgz", member="x.yaml"))),
                                          f"{SS}.path: {tmp / 'c.tgz'} is a .tgz without <chart>/Chart.yaml"),
    "broken archive": lambda tmp: (charts("sealedSecrets", path=str(broken_archive(tmp))),
                                   f"{SS}.path: {tmp / 'broken.tgz'} is not a readable .tgz"),
    "version and path differ": lambda tmp: (
        charts("sealedSecrets", path=str(local_chart(tmp / "c", version="2.19.3")), version="2.20.0"),
        f"{SS}.version: is 2.20.0 but the chart at {tmp / 'c'} is 2.19.3"),
    "inexact version": lambda tmp: (charts("sealedSecrets", version="latest"),
                                    f"{SS}.version: 'latest' is not an exact chart version"),
    "numeric version": lambda tmp: (charts("sealedSecrets", version=2), f"{SS}.version: must be a string, got a number"),
    "values list": lambda tmp: (charts("sealedSecrets", values=["x"]), f"{SS}.values: must be an object, got a list"),
    "charts list": lambda tmp: ({"belen:charts": ["sealedSecrets"]}, "belen:charts: must be an object, got a list"),
    "refused value": lambda tmp: (charts("certManager", values={"installCRDs": False}),
                                  "belen:charts.certManager.values.installCRDs: is refused: it protects the CRD-before-CR"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_every_charts_error_exits_2_with_its_key_path_and_no_traceback(tmp_path, case):
    (tmp_path / "case").mkdir()
    config, message = ERRORS[case](tmp_path / "case")
    assert message in render_failure(tmp_path, config, "homelab")


def test_all_problems_of_all_charts_are_reported_at_once(tmp_path):
    result = render_cli("homelab", "--out", str(tmp_path / "out"), "--config-file", str(write_yaml(
        tmp_path / "in.yaml", {"belen:charts": {"sealedSecrets": {"version": "x"}, "traefik": {"repository": "x"}}})))
    assert result.code == 2
    assert "belen:charts.sealedSecrets.version:" in result.stderr and "belen:charts.traefik.repository:" in result.stderr


def test_a_relative_path_starts_at_the_project_root_whatever_the_working_directory(tmp_path, monkeypatch):
    assert (PROJECT_ROOT / "Pulumi.yaml").is_file()
    chart = local_chart(tmp_path / "sealed-secrets")
    config = write_yaml(tmp_path / "in.yaml", charts("sealedSecrets", path=os.path.relpath(chart, PROJECT_ROOT)))
    monkeypatch.chdir(tmp_path)
    result = render_cli("homelab", "--out", str(tmp_path / "out"), "--config-file", str(config))
    assert result.code == 0, result.stderr
    helm = yaml.safe_load((tmp_path / "out/helm/homelab-sealed-secrets-controller.yaml").read_text())
    assert helm["source"] == str(chart)
