"""e2e/script-peer: the helm + kubectl scripts the drill times belen's recovery against do belen's
work (from the replica's offline render): the sequential one in belen's order, the parallel one
starting each step once its dependencies are done and stopping at the first failure; both refuse
what they cannot do."""

import json
import os
import subprocess
import sys
import time

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
    installs = {line.split()[2]: line for line in lines if line.startswith("helm install")}
    # Each waits as belen does: on the workloads, but cert-manager's on its startupapicheck hook alone
    # (Helm's default without --wait).
    assert all(("--wait" in line) is (name != "cert-manager") and line.endswith("--timeout 600s")
               for name, line in installs.items()), installs

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


# Stand-ins for helm and kubectl that only log when each step starts and ends: `helm install NAME`
# takes $FAKE_<NAME> seconds (1 unless set; kubectl 0.1) and fails when NAME is $FAKE_FAIL.
FAKE = """#!/usr/bin/env bash
what="$(basename "$0") $1 $([ "$1" = install ] && echo "$2") $(for a in "$@"; do [[ $a == *.yaml && $a != */values/* ]] && basename "$a"; done | xargs)"
seconds=0.1
if [ "$1" = install ]; then var="FAKE_${2//-/_}"; seconds="${!var:-1}"; fi
echo "start $(date +%s.%N) $what" >>"$FAKE_LOG"
sleep "$seconds"
[ "$1" = install ] && [ "$2" = "${FAKE_FAIL:-}" ] && exit 3
echo "end $(date +%s.%N) $what" >>"$FAKE_LOG"
"""


def run_parallel(tmp_path, **env):
    """recover-parallel.sh against the stand-ins; (the finished process, {step: (start, end)})."""
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name in ("helm", "kubectl"):
        (fakes / name).write_text(FAKE)
        (fakes / name).chmod(0o755)
    log = tmp_path / "steps.log"
    log.touch()
    proc = subprocess.run(["bash", tmp_path / "script" / "recover-parallel.sh"], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{fakes}{os.pathsep}{os.environ['PATH']}",
                               "FAKE_LOG": str(log), **env}, timeout=60)
    times: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        event, stamp, what = line.split(" ", 2)
        times.setdefault(" ".join(what.split()), [0.0, 0.0])[event == "end"] = float(stamp)
    return proc, times


def step(times, *words):
    """(start, end) of the one step whose logged command holds every word."""
    (found,) = [t for what, t in times.items() if all(word in what.split() for word in words)]
    return found


def test_the_parallel_script_starts_each_step_once_its_dependencies_are_done(tmp_path):
    result = write_script(tmp_path, flux_without_receiver())
    assert result.returncode == 0, result.stderr
    proc, times = run_parallel(tmp_path, FAKE_flux_operator="3")
    assert proc.returncode == 0, proc.stderr
    assert len([what for what in times if what.startswith("helm install")]) == len(list((tmp_path / "render" / "helm").glob("*.yaml")))
    # Every step after what it depends on, and no later: the issuers wait for cert-manager only, not
    # for the slower Flux Operator beside it.
    keys = [p.name for p in (tmp_path / "render" / "manifests").glob("secret-kube-system-sealed-secrets-key-*.yaml")]
    assert step(times, "helm", "sealed-secrets")[0] >= step(times, "apply", *keys)[1]
    for awaited, release in (("clustersecretstore-vault.yaml", "external-secrets"),
                             ("clusterissuer-letsencrypt.yaml", "cert-manager"),
                             ("fluxinstance-flux-system-flux.yaml", "flux-operator")):
        assert step(times, "helm", release)[1] <= step(times, "apply", awaited)[0] <= step(times, "wait", awaited)[0]
    assert step(times, "apply", "clusterissuer-letsencrypt.yaml")[0] < step(times, "helm", "flux-operator")[1]
    # The charts at once, the sync last.
    charts = [t for what, t in times.items() if what.startswith("helm install")]
    assert max(start for start, _ in charts) < min(end for _, end in charts)
    sync = step(times, "apply", "kustomization-flux-system-flux-system.yaml")
    assert all(end <= sync[0] for what, (_, end) in times.items() if "kustomization" not in what)


def test_a_failing_step_stops_the_parallel_script_naming_it(tmp_path):
    result = write_script(tmp_path, flux_without_receiver())
    assert result.returncode == 0, result.stderr
    started = time.monotonic()
    proc, times = run_parallel(tmp_path, FAKE_FAIL="cert-manager", FAKE_flux_operator="20")
    assert proc.returncode == 3
    assert "(helm install cert-manager) failed with exit 3" in proc.stderr
    # What depends on it never starts; what runs beside it is stopped, not waited for.
    assert not [what for what in times if "clusterissuer" in what or "kustomization" in what]
    assert step(times, "helm", "flux-operator")[1] == 0.0 and time.monotonic() - started < 15
