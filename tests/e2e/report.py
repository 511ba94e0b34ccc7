"""What build/e2e/report.json says besides the scenarios: each component's reality (real or stand-in,
the version the test bed ran beside the version belen pins), the toolchain, the test bed's limits and
every restart of a host controller."""

from __future__ import annotations

import dataclasses
import json
import re

import yaml

from components.charts import CHARTS
from components.settings.flux import FLUX_VERSION
from e2e import testbed

# What the test bed cannot do, once for the whole report (docs/drill.md says more).
LIMITS = [
    "admission webhooks off: the API servers run without MutatingAdmissionWebhook and ValidatingAdmissionWebhook, "
    "so cert-manager's and ESO's webhooks, ESO's cert-controller and cert-manager's cainjector are not run",
    "kwok kubelets: nodes and pods are simulated (Deployments become Available, Job pods complete)",
    "no container runs: the real controllers run as host processes with their Deployments' args and "
    "ServiceAccounts' tokens",
    "image pulls simulated: no image is pulled; the drill checks every pod template names the loopback mirror",
    "ACME: Pebble's issuer registers its account and is Ready, but nothing is issued through it (no solver pod "
    "can serve a challenge here)",
]


def pins() -> dict[str, str]:
    lines = (testbed.E2E / "pins.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def requirement(package: str) -> str:
    """The version requirements.txt pins `package` at."""
    text = (testbed.ROOT / "requirements.txt").read_text()
    return re.search(rf"^{re.escape(package)}==(\S+)$", text, re.M).group(1)


def chart_version(key: str) -> str | None:
    """The version of the chart the drill installed (its Chart.yaml), None before e2e/charts ran."""
    chart_yaml = testbed.BUILD / "charts" / key / "Chart.yaml"
    return str(yaml.safe_load(chart_yaml.read_text())["version"]) if chart_yaml.exists() else None


def components() -> list[dict]:
    """What runs for real on the test bed and what is a stand-in (see docs/drill.md): `controller` is
    "real" (built from `module`), "stand-in" or "none"; `chart` is the real chart's module, "stand-in" or
    "none"; `tested` is what the test bed ran, `pinned` what belen pins (CHARTS, requirements.txt)."""
    p = pins()

    def real(module: str, pin: str, how: str = "") -> dict[str, str]:
        return {"controller": "real", "module": f"{module}@{p[pin]}", **({"how": how} if how else {})}

    def chart(key: str, module: str, pin: str) -> dict:
        return {"chart": f"real {module}@{p[pin]}", "tested": {"chart": chart_version(key)},
                "pinned": {"chart": CHARTS[key].version}}

    def versions(entry: dict, **tested: str | None) -> dict:
        return {**entry, "tested": {**entry.get("tested", {}), **tested}}

    return [
        versions({"name": "sealed-secrets", **real("github.com/bitnami/sealed-secrets", "SEALED_SECRETS_VERSION"),
                  **chart("sealedSecrets", "github.com/bitnami/sealed-secrets", "SEALED_SECRETS_VERSION")},
                 controller=p["SEALED_SECRETS_VERSION"], kubeseal=p["SEALED_SECRETS_VERSION"]),
        versions({"name": "cert-manager",
                  **real("github.com/cert-manager/cert-manager", "CERT_MANAGER_VERSION",
                         "e2e/cert-manager: the module's issuers, clusterissuers, certificates and certificaterequests "
                         "(approver, CA, SelfSigned, ACME) controllers; no webhook, no cainjector"),
                  **chart("certManager", "github.com/cert-manager/cert-manager", "CERT_MANAGER_VERSION")},
                 controller=p["CERT_MANAGER_VERSION"]),
        versions({"name": "external-secrets",
                  **real("github.com/external-secrets/external-secrets", "ESO_CONTROLLER_VERSION",
                         "e2e/eso: the module's manager and reconcilers, fake and kubernetes providers; no webhook"),
                  **chart("externalSecrets", "github.com/external-secrets/external-secrets", "EXTERNAL_SECRETS_VERSION")},
                 controller=p["ESO_CONTROLLER_VERSION"]),
        {"name": "traefik", "chart": "none", "controller": "none", "tested": {},
         "pinned": {"chart": CHARTS["traefik"].version}},
        {"name": "flux-operator",
         **real("github.com/controlplaneio-fluxcd/flux-operator", "FLUX_OPERATOR_VERSION",
                "pulls Flux's manifests artifact from the loopback image mirror"),
         # The chart repository is not served: packed from the operator module's install manifests.
         "chart": "stand-in", "tested": {"controller": p["FLUX_OPERATOR_VERSION"]},
         "pinned": {"chart": CHARTS["fluxOperator"].version}},
        # Installed by the operator (kwok fakes those pods); the real ones run as host processes on their
        # Deployments' ServiceAccounts.
        {"name": "flux source-controller", "chart": "none",
         **real("github.com/fluxcd/source-controller", "FLUX_SOURCE_CONTROLLER_VERSION"),
         "tested": {"controller": p["FLUX_SOURCE_CONTROLLER_VERSION"]}, "pinned": {"flux": FLUX_VERSION}},
        {"name": "flux kustomize-controller", "chart": "none",
         **real("github.com/fluxcd/kustomize-controller", "FLUX_KUSTOMIZE_CONTROLLER_VERSION"),
         "tested": {"controller": p["FLUX_KUSTOMIZE_CONTROLLER_VERSION"]}, "pinned": {"flux": FLUX_VERSION}},
        {"name": "pulumi kubernetes provider", "chart": "none",
         **real("github.com/pulumi/pulumi-kubernetes/provider/v4", "K8S_PROVIDER_VERSION"),
         "tested": {"provider": p["K8S_PROVIDER_TAG"]}, "pinned": {"sdk": requirement("pulumi-kubernetes")}},
        {"name": "pulumi engine (CLI)", "chart": "none", **real("github.com/pulumi/pulumi/pkg/v3", "PULUMI_VERSION"),
         "tested": {"cli": p["PULUMI_VERSION"]}, "pinned": {"sdk": requirement("pulumi")}},
        {"name": "ACME server (Pebble)", "chart": "none",
         **real("github.com/letsencrypt/pebble/v2", "PEBBLE_VERSION", "a test server on 127.0.0.1 for the ACME issuer"),
         "tested": {"server": p["PEBBLE_VERSION"]}, "pinned": {}},
        {"name": "image mirror", "chart": "none",
         **real("github.com/google/go-containerregistry", "GO_CONTAINERREGISTRY_VERSION", "crane registry serve"),
         "tested": {"crane": p["GO_CONTAINERREGISTRY_VERSION"]}, "pinned": {}},
        # kwok fakes nodes and kubelets: pods are scheduled and marked Ready, no container runs.
        {"name": "kwok (nodes and pods)", "chart": "none", "controller": "stand-in",
         "tested": {"kwok": p["KWOK_VERSION"], "kubernetes": p["KUBERNETES_VERSION"]}, "pinned": {}},
        # Its module is not served: e2e/langhost runs the SDK's own pulumi-language-python-exec.
        {"name": "pulumi language host (python)", "chart": "none", "controller": "stand-in",
         "tested": {"sdk": p["PULUMI_VERSION"]}, "pinned": {"sdk": requirement("pulumi")}},
    ]


def restarts() -> dict[str, list[dict]]:
    """Every cluster's host-controller restarts (each with its last log lines and known cause)."""
    return {cluster: [dataclasses.asdict(r) for r in events] for cluster, events in testbed.RESTARTS.items()}


def unexplained(scenario: str) -> list[testbed.Restart]:
    """The restarts during `scenario` with no known cause: they fail it."""
    return [r for events in testbed.RESTARTS.values() for r in events if r.scenario == scenario and r.cause is None]


def toolchain() -> dict[str, dict]:
    try:
        directory = testbed.bin_dir()
    except Exception:  # noqa: BLE001 - the report is written whatever happened
        return {}
    found: dict[str, dict] = {}
    for path in sorted(directory.glob("*.json")):
        found[path.stem] = json.loads(path.read_text())
    for path in sorted(directory.glob("*.unavailable")):
        found[path.stem] = {"module": None, "version": None, "cold_build_seconds": None,
                            "unavailable": path.read_text().strip()}
    return found
