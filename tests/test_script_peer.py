"""e2e/script-peer: the sequential helm + kubectl script the drill times belen's recovery against
does belen's work in belen's order (from the replica's offline render), and refuses what it cannot do."""

import json
import subprocess
import sys

import yaml

from tests.graph import PROJECT_DIR, render_cli, write_json, write_yaml

HOMELAB_OUTPUTS = PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json"
SCRIPT_PEER = PROJECT_DIR / "e2e" / "script-peer"


def write_script(tmp_path, flux, homelab_outputs=HOMELAB_OUTPUTS):
    """The cloud stack's render (its Flux settings replaced by `flux`), then the script written from it."""
    overrides = write_yaml(tmp_path / "flux.yaml", {"belen:flux": flux})
    rendered = render_cli("cloud", "--out", str(tmp_path / "render"), "--config-file", str(overrides),
                          "--stack-outputs", f"organization/belen/homelab={homelab_outputs}")
    assert rendered.code == 0, rendered.stderr
    return subprocess.run([sys.executable, SCRIPT_PEER, tmp_path / "render", tmp_path / "script"],
                          capture_output=True, text=True)


def steps(tmp_path):
    """(command, what it names) of each step: release name, manifest file names, or the awaited file."""
    found = []
    for line in (tmp_path / "script" / "recover.sh").read_text().splitlines():
        words = line.split()
        if line.startswith("helm install"):
            found.append(("helm", words[2]))
        elif line.startswith("kubectl apply"):
            found.append(("apply", [w.rsplit("/", 1)[-1] for w in words if w.endswith(".yaml")]))
        elif line.startswith("kubectl wait"):
            found.append(("wait", words[-1].rsplit("/", 1)[-1]))
    return found


def flux_without_receiver():
    config = yaml.safe_load((PROJECT_DIR / "stacks/Pulumi.cloud.yaml").read_text())["config"]["belen:flux"]
    return {key: value for key, value in config.items() if key != "receiver"}


def test_the_script_installs_applies_and_waits_in_belens_order(tmp_path):
    result = write_script(tmp_path, flux_without_receiver())
    assert result.returncode == 0, result.stderr
    script = steps(tmp_path)
    releases = {yaml.safe_load(p.read_text())["name"]
                for p in (tmp_path / "render" / "helm").glob("*.yaml")}
    assert {name for kind, name in script if kind == "helm"} == releases
    lines = (tmp_path / "script" / "recover.sh").read_text().splitlines()
    assert all("--wait --timeout 600s" in line for line in lines if line.startswith("helm install"))

    def position(kind, name):
        return next(i for i, (k, what) in enumerate(script) if k == kind and (what == name or name in what))

    keys = [p.name for p in (tmp_path / "render" / "manifests").glob("secret-kube-system-sealed-secrets-key-*.yaml")]
    assert keys and all(position("apply", key) < position("helm", "sealed-secrets") for key in keys)
    for awaited, release in (("clustersecretstore-vault.yaml", "external-secrets"),
                             ("clusterissuer-letsencrypt.yaml", "cert-manager"),
                             ("fluxinstance-flux-system-flux.yaml", "flux-operator")):
        assert position("helm", release) < position("apply", awaited) < position("wait", awaited)
    sync = position("apply", "kustomization-flux-system-flux-system.yaml")
    assert sync == len(script) - 1 and all(i < sync for i, (kind, _) in enumerate(script) if kind != "apply")


def test_a_step_no_script_can_do_is_refused(tmp_path):
    result = write_script(tmp_path, {**flux_without_receiver(), "receiver": {}})  # a generated webhook token
    assert result.returncode != 0
    assert "RandomPassword" in result.stderr and "cannot do that step" in result.stderr


def test_a_key_the_primary_retired_is_deleted_before_the_controller_starts(tmp_path):
    outputs = json.loads(HOMELAB_OUTPUTS.read_text())
    retired = "ab" * 32
    outputs["retiredSealingKeyFingerprints"] = [retired]
    result = write_script(tmp_path, flux_without_receiver(), write_json(tmp_path / "homelab.json", outputs))
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "script" / "recover.sh").read_text().splitlines()
    delete = lines.index(f"kubectl delete secret sealed-secrets-key-{retired[:16]} --namespace kube-system "
                         "--ignore-not-found")
    assert delete < next(i for i, line in enumerate(lines) if line.startswith("helm install sealed-secrets"))
