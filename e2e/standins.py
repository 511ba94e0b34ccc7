"""STAND-INS for the controllers whose readiness belen waits on but which cannot run on the test bed.

    python e2e/standins.py KUBECONFIG CA_DIR FLUX_DATA

cert-manager and the External Secrets Operator are installed from their real charts, but their
controllers (container images) never run here. This process plays their part that `pulumi up`
waits for, and nothing more:
- every ClusterIssuer and ClusterSecretStore gets `Ready=True`;
- every Certificate gets its `kubernetes.io/tls` Secret, signed by a CA this stand-in holds
  (CA_DIR/ca.crt, ca.key; created once), then `Ready=True` with notBefore/notAfter. A Certificate
  whose Secret exists is re-issued when CA_DIR/reissue names it (a renewal), then the file is removed;
- a FluxInstance (the Flux Operator's part): the manifests of each of its components from the
  operator module's data (FLUX_DATA/v<version>/<component>.yaml, the newest of the instance's
  release line), images from its distribution registry, applied in its namespace; then `Ready=True`.
  The Deployments only show what would run (kwok fakes their pods); the drill runs the real
  source- and kustomize-controllers as host processes.

Each object it touches says so: reason `BelenTestBedStandIn`. Polls every half second; stops on SIGTERM.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import yaml

REASON = "BelenTestBedStandIn"
MESSAGE = "set by belen's test-bed stand-in, not by the real controller"
KINDS = ("clusterissuers.cert-manager.io", "clustersecretstores.external-secrets.io", "certificates.cert-manager.io",
         "fluxinstances.fluxcd.controlplane.io")


def main(kubeconfig: str, ca_dir: str, flux_data: str) -> None:
    ca = CertificateAuthority(Path(ca_dir))
    while True:
        for kind in KINDS:
            for obj in kubectl_json(kubeconfig, "get", kind, "-A", "-o", "json").get("items", []):
                try:
                    if kind.startswith("certificates."):
                        issue(kubeconfig, ca, obj)
                    elif kind.startswith("fluxinstances.") and not is_ready(obj):
                        install_flux(kubeconfig, Path(flux_data), obj)
                    elif not is_ready(obj):
                        set_ready(kubeconfig, kind, obj, {})
                except subprocess.CalledProcessError as exc:
                    print(f"stand-in: {kind} {obj['metadata']['name']}: {exc.stderr.strip()}", flush=True)
        time.sleep(0.5)


def issue(kubeconfig: str, ca: CertificateAuthority, cert: dict) -> None:
    spec, meta = cert["spec"], cert["metadata"]
    reissue = ca.take_reissue(meta["name"])
    if is_ready(cert) and not reissue:
        return
    not_before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    not_after = not_before + dt.timedelta(days=90)
    crt, key = ca.sign(spec["dnsNames"], not_before, not_after)
    secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": spec["secretName"], "namespace": meta["namespace"],
                     "annotations": {"cert-manager.io/certificate-name": meta["name"], "belen.test/stand-in": REASON}},
        "data": {name: base64.b64encode(value).decode() for name, value in
                 (("tls.crt", crt), ("tls.key", key), ("ca.crt", ca.cert_pem))},
    }
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(secret))
    set_ready(kubeconfig, "certificates.cert-manager.io", cert, {
        "notBefore": iso(not_before), "notAfter": iso(not_after), "renewalTime": iso(not_after - dt.timedelta(days=30)),
        "revision": int((cert.get("status") or {}).get("revision") or 0) + 1,
    })
    print(f"stand-in: issued {meta['namespace']}/{spec['secretName']} for {spec['dnsNames']}", flush=True)


def install_flux(kubeconfig: str, data: Path, instance: dict) -> None:
    distribution = instance["spec"]["distribution"]
    line = ".".join(distribution["version"].lstrip("v").split(".")[:2])
    versions = sorted((d for d in data.iterdir() if d.name.startswith(f"v{line}.")),
                      key=lambda d: tuple(int(n) for n in d.name[1:].split(".")))
    if not versions:
        raise SystemExit(f"stand-in: no Flux {line}.x manifests in {data}")
    version = versions[-1]
    namespace = instance["metadata"]["namespace"]
    pull_secret = distribution.get("imagePullSecret")
    documents = []
    for component in ["rbac", *instance["spec"]["components"]]:
        for doc in yaml.safe_load_all((version / f"{component}.yaml").read_text()):
            if doc and doc.get("kind") != "ResourceQuota":
                documents.append(with_registry(doc, distribution["registry"], pull_secret))
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", "-",
            stdin="\n---\n".join(yaml.safe_dump(doc) for doc in documents))
    set_ready(kubeconfig, "fluxinstances.fluxcd.controlplane.io", instance, {"lastAppliedRevision": version.name},
              message=f"{MESSAGE}: applied the Flux {version.name} manifests (asked: {distribution['version']})")
    print(f"stand-in: FluxInstance {namespace}/{instance['metadata']['name']}: Flux {version.name} applied", flush=True)


def with_registry(doc: dict, registry: str, pull_secret: str | None) -> dict:
    """The operator's rewrite: `fluxcd/<controller>:<tag>` is pulled from the distribution registry."""
    if doc.get("kind") == "Deployment":
        pod = doc["spec"]["template"]["spec"]
        for container in pod["containers"]:
            container["image"] = f"{registry}/{container['image'].split('/')[-1]}"
        if pull_secret:
            pod["imagePullSecrets"] = [{"name": pull_secret}]
    return doc


def set_ready(kubeconfig: str, kind: str, obj: dict, extra_status: dict, message: str = MESSAGE) -> None:
    condition = {"type": "Ready", "status": "True", "reason": REASON, "message": message,
                 "lastTransitionTime": iso(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))}
    patch = {"status": {"conditions": [condition], **extra_status}}
    namespace = ["-n", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
    kubectl(kubeconfig, "patch", kind, obj["metadata"]["name"], *namespace,
            "--subresource=status", "--type=merge", "-p", json.dumps(patch))


def is_ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


class CertificateAuthority:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.reissue_file = directory / "reissue"
        crt_path, key_path = directory / "ca.crt", directory / "ca.key"
        if not crt_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "belen test-bed stand-in CA")])
            now = dt.datetime.now(dt.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                    .not_valid_after(now + dt.timedelta(days=3650))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .sign(key, hashes.SHA256()))
            key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
            crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert_pem = crt_path.read_bytes()
        self.cert = x509.load_pem_x509_certificate(self.cert_pem)
        self.key = serialization.load_pem_private_key(key_path.read_bytes(), None)

    def take_reissue(self, name: str) -> bool:
        if not self.reissue_file.exists():
            return False
        names = self.reissue_file.read_text().split()
        if name not in names:
            return False
        rest = [n for n in names if n != name]
        if rest:
            self.reissue_file.write_text("\n".join(rest) + "\n")
        else:
            self.reissue_file.unlink()
        return True

    def sign(self, dns_names: list[str], not_before: dt.datetime, not_after: dt.datetime) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return (cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, text=True,
                          capture_output=True, check=True).stdout


def kubectl_json(kubeconfig: str, *args: str) -> dict:
    try:
        return json.loads(kubectl(kubeconfig, *args))
    except subprocess.CalledProcessError:
        return {}  # the CRD is not installed yet


if __name__ == "__main__":
    main(*sys.argv[1:4])
