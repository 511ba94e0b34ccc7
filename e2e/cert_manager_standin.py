"""STAND-IN for the cert-manager controller, which cannot be built here (its binary's module
github.com/cert-manager/cert-manager/controller-binary is not served, and its Venafi dependency is
refused). The real chart is installed; this process plays the controller's part belen waits on, as
cert-manager v1.21 does it, for the issuer kinds it implements (selfSigned and CA) and nothing more:

    python e2e/cert_manager_standin.py KUBECONFIG REISSUE_FILE

- a ClusterIssuer (or Issuer) gets cert-manager's Ready condition: selfSigned `IsReady`; CA
  `KeyPairVerified` when its Secret (in the cluster resource namespace for a ClusterIssuer) holds a CA
  certificate and its key, else `ErrGetKeyPair` / `ErrInvalidKeyPair` with cert-manager's messages;
  any other kind stays not Ready (reason `BelenTestBedStandIn`: not implemented here);
- a Certificate is issued only when its issuerRef names an existing, Ready issuer of an implemented
  kind: a `kubernetes.io/tls` Secret with cert-manager's annotations, self-signed or signed by the CA
  (ca.crt as cert-manager writes it), then Ready. Otherwise it stays `Ready=False` with reason
  `DoesNotExist` ("Issuing certificate as Secret does not exist", cert-manager's policy check) and no
  Secret is written; the log says why (cert-manager's CertificateRequest reasons: IssuerNotFound,
  IssuerNotReady);
- a Certificate named in REISSUE_FILE (one name a line) is issued again (a renewal), then the name
  is removed.

Each Secret it writes is annotated `belen.test/stand-in`. Polls every second; stops on SIGTERM.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

STANDIN = "BelenTestBedStandIn"
ISSUERS = {"ClusterIssuer": "clusterissuers.cert-manager.io", "Issuer": "issuers.cert-manager.io"}
IMPLEMENTED = ("selfSigned", "ca")


def main(kubeconfig: str, reissue_file: str) -> None:
    cluster = Cluster(kubeconfig)
    reissue = Path(reissue_file)
    while True:
        try:
            objects = cluster.snapshot()
            resource_namespace = cluster.resource_namespace()
            issuers = {}
            for issuer in objects["ClusterIssuer"] + objects["Issuer"]:
                ready = issuer_condition(cluster, issuer, resource_namespace)
                cluster.set_condition(ISSUERS[issuer["kind"]], issuer, ready)
                issuers[issuer["kind"], issuer["metadata"].get("namespace", ""), issuer["metadata"]["name"]] = (issuer, ready)
            for certificate in objects["Certificate"]:
                reconcile_certificate(cluster, certificate, issuers, resource_namespace, take_reissue(reissue, certificate))
        except subprocess.CalledProcessError as exc:
            print(f"stand-in: {exc.stderr.strip()}", flush=True)
        time.sleep(1)


def issuer_condition(cluster: Cluster, issuer: dict, resource_namespace: str) -> dict:
    """cert-manager's issuer Setup: the Ready condition it sets for this issuer."""
    spec = issuer["spec"]
    if "selfSigned" in spec:
        return ready_condition("True", "IsReady", "")
    if "ca" in spec:
        namespace = issuer["metadata"].get("namespace") or resource_namespace
        name = spec["ca"]["secretName"]
        secret = cluster.secret(namespace, name)
        if secret is None:
            return ready_condition("False", "ErrGetKeyPair",
                                   f'Error getting keypair for CA issuer: secret "{name}" not found')
        try:
            ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
            serialization.load_pem_private_key(base64.b64decode(secret["data"]["tls.key"]), None)
        except (KeyError, ValueError) as exc:
            return ready_condition("False", "ErrGetKeyPair", f"Error getting keypair for CA issuer: {exc}")
        if not is_ca(ca):
            return ready_condition("False", "ErrInvalidKeyPair", "Error getting keypair for CA issuer: certificate is not a CA")
        return ready_condition("True", "KeyPairVerified", "Signing CA verified")
    kinds = ", ".join(k for k in spec if k != "ca") or "none"
    return ready_condition("False", STANDIN, f"issuer kind {kinds} is not implemented by belen's test-bed stand-in "
                                             f"(it implements {' and '.join(IMPLEMENTED)})")


def reconcile_certificate(cluster: Cluster, cert: dict, issuers: dict, resource_namespace: str, reissue: bool) -> None:
    meta, spec = cert["metadata"], cert["spec"]
    ref = spec["issuerRef"]
    kind = ref.get("kind") or "Issuer"
    key = (kind, meta["namespace"] if kind == "Issuer" else "", ref["name"])
    secret = cluster.secret(meta["namespace"], spec["secretName"])
    if secret is not None and is_ready(cert) and not reissue:
        return
    found = issuers.get(key) if ref.get("group", "cert-manager.io") == "cert-manager.io" else None
    if found is None or found[1]["status"] != "True":
        why = (f'IssuerNotFound: Referenced "{kind}" not found' if found is None
               else "IssuerNotReady: Referenced issuer does not have a Ready status condition")
        if secret is None:
            pending = ready_condition("False", "DoesNotExist", "Issuing certificate as Secret does not exist")
            if cluster.set_condition("certificates.cert-manager.io", cert, pending):
                print(f"stand-in: {meta['namespace']}/{meta['name']} not issued: {why}", flush=True)
        return
    issuer = found[0]
    signer = None
    if "ca" in issuer["spec"]:
        ca_secret = cluster.secret(issuer["metadata"].get("namespace") or resource_namespace, issuer["spec"]["ca"]["secretName"])
        signer = (base64.b64decode(ca_secret["data"]["tls.crt"]), base64.b64decode(ca_secret["data"]["tls.key"]))
    crt, key_pem, ca_pem, not_before, not_after = sign(spec, signer)
    cluster.apply({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": spec["secretName"], "namespace": meta["namespace"], "annotations": {
            "cert-manager.io/certificate-name": meta["name"], "cert-manager.io/issuer-name": ref["name"],
            "cert-manager.io/issuer-kind": kind, "cert-manager.io/issuer-group": "cert-manager.io",
            "cert-manager.io/common-name": spec.get("commonName", ""),
            "cert-manager.io/alt-names": ",".join(spec.get("dnsNames") or []),
            "belen.test/stand-in": STANDIN}},
        "data": {name: base64.b64encode(value).decode() for name, value in
                 (("tls.crt", crt), ("tls.key", key_pem), ("ca.crt", ca_pem))},
    })
    duration = not_after - not_before
    cluster.set_condition("certificates.cert-manager.io", cert,
                          ready_condition("True", "Ready", "Certificate is up to date and has not expired"), {
                              "notBefore": iso(not_before), "notAfter": iso(not_after),
                              "renewalTime": iso(not_before + duration * 2 / 3),
                              "revision": int((cert.get("status") or {}).get("revision") or 0) + 1})
    print(f"stand-in: issued {meta['namespace']}/{spec['secretName']} by {kind} {ref['name']}", flush=True)


def sign(spec: dict, signer: tuple[bytes, bytes] | None):
    """The certificate cert-manager would issue for `spec`: self-signed, or signed by the CA `signer`."""
    algorithm = (spec.get("privateKey") or {}).get("algorithm", "RSA")
    size = (spec.get("privateKey") or {}).get("size")
    key = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ECDSA" else \
        rsa.generate_private_key(public_exponent=65537, key_size=size or 2048)
    not_before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    not_after = not_before + go_duration(spec.get("duration", "2160h"))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["commonName"])] if spec.get("commonName") else [])
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=bool(spec.get("isCA")), path_length=None), critical=True))
    if spec.get("dnsNames"):
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in spec["dnsNames"]]),
                                        critical=False)
    if signer is None:
        cert = builder.issuer_name(subject).sign(key, hashes.SHA256())
        ca_pem = cert.public_bytes(serialization.Encoding.PEM)
    else:
        ca_pem, ca_key_pem = signer
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert = builder.issuer_name(ca.subject).sign(serialization.load_pem_private_key(ca_key_pem, None), hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, ca_pem, not_before, not_after


def go_duration(text: str) -> dt.timedelta:
    units = {"h": 3600, "m": 60, "s": 1}
    return dt.timedelta(seconds=sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([hms])", text)))


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def take_reissue(reissue: Path, cert: dict) -> bool:
    name = cert["metadata"]["name"]
    names = reissue.read_text().split() if reissue.exists() else []
    if name not in names:
        return False
    rest = [n for n in names if n != name]
    reissue.write_text("".join(f"{n}\n" for n in rest)) if rest else reissue.unlink()
    return True


def ready_condition(status: str, reason: str, message: str) -> dict:
    return {"type": "Ready", "status": status, "reason": reason, "message": message}


def is_ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Cluster:
    def __init__(self, kubeconfig: str):
        self.kubeconfig = kubeconfig
        self.secrets: dict[tuple[str, str], dict] = {}
        self._resource_namespace = ""

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args], input=stdin, text=True,
                              capture_output=True, check=True).stdout

    def snapshot(self) -> dict[str, list[dict]]:
        """Every issuer and Certificate (none before the CRDs exist), and every Secret, read once a round."""
        found: dict[str, list[dict]] = {"ClusterIssuer": [], "Issuer": [], "Certificate": []}
        try:
            for obj in json.loads(self.kubectl("get", ",".join([*ISSUERS.values(), "certificates.cert-manager.io"]),
                                               "-A", "-o", "json"))["items"]:
                found[obj["kind"]].append(obj)
        except subprocess.CalledProcessError:
            return found  # the CRDs are not installed yet
        self.secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s
                        for s in json.loads(self.kubectl("get", "secrets", "-A", "-o", "json"))["items"]}
        return found

    def secret(self, namespace: str, name: str) -> dict | None:
        return self.secrets.get((namespace, name))

    def resource_namespace(self) -> str:
        """cert-manager's --cluster-resource-namespace: the controller Deployment's namespace (the chart's default)."""
        if not self._resource_namespace:
            deployments = json.loads(self.kubectl(
                "get", "deployments", "-A", "-l", "app.kubernetes.io/name=cert-manager,app.kubernetes.io/component=controller",
                "-o", "json"))["items"]
            self._resource_namespace = deployments[0]["metadata"]["namespace"] if deployments else ""
        return self._resource_namespace or "cert-manager"

    def apply(self, obj: dict) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(obj))

    def set_condition(self, resource: str, obj: dict, condition: dict, extra_status: dict | None = None) -> bool:
        """Set the Ready condition (and `extra_status`) unless it is already so; True when it changed."""
        current = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})
        if not extra_status and all(current.get(k) == v for k, v in condition.items()):
            return False
        stamped = {**condition, "lastTransitionTime": iso(dt.datetime.now(dt.timezone.utc)),
                   "observedGeneration": obj["metadata"].get("generation", 1)}
        namespace = ["-n", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
        self.kubectl("patch", resource, obj["metadata"]["name"], *namespace, "--subresource=status", "--type=merge",
                     "-p", json.dumps({"status": {"conditions": [stamped], **(extra_status or {})}}))
        return True


if __name__ == "__main__":
    main(*sys.argv[1:3])
