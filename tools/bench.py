"""Benchmarks, printed as figures (no pass/fail): run `python -m tools.bench [--quick]`.

1. Program cost per registered resource under the mock runtime, against a bare-SDK floor (the
   same number of plain Secrets registered with no belen code), scaled with TLS mirrors
   (certificates × namespaces), at 100, 1,000 and 5,000 mirrored Secrets.
2. The longest chain of dependencies in each shipped stack's graph.
3. `tools.keys verify` throughput beside kubesealpy's unsealer (4096-bit keys, ≥ 1,000 values).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import yaml

from tools import mockrun, render

OPS = "organization/belen/ops"
NAMESPACES_PER_CERT = 10


def _published_certificates(count: int) -> dict[str, dict]:
    """`count` certificates as the ops stack publishes them, from one test CA (EC keys: fast to make)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from components.crypto import pem

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    certs = {}
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        host = f"svc{index}.bench.example.org"
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        certs[f"svc{index}"] = {
            "tls.crt": pem.certificate_pem(leaf),
            "tls.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
            "notAfter": pem.rfc3339(leaf.not_valid_after_utc), "dnsNames": [host],
            "fingerprint": pem.certificate_fingerprint(leaf),
        }
    return certs


def _mirror_config(certs: dict[str, dict]) -> dict:
    namespaces = [f"ns{i}" for i in range(NAMESPACES_PER_CERT)]
    return {"belen:tls": {"mirror": {"fromStack": OPS, "warnDays": 0,
                                     "certificates": {name: {"namespaces": namespaces} for name in certs}}}}


def _time(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def _floor_program(count: int):
    """The same number of plain Secrets, secret data, one provider: the SDK and mock runtime alone."""
    def program():
        provider = k8s.Provider("floor")
        for index in range(count):
            k8s.core.v1.Secret(f"floor-{index}", metadata={"name": f"s{index}", "namespace": "ns"},
                               type="kubernetes.io/tls",
                               data=pulumi.Output.secret({"tls.crt": "Y2VydA==", "tls.key": "a2V5"}),
                               opts=pulumi.ResourceOptions(provider=provider))
    return program


def bench_program(sizes: list[int], repeats: int) -> None:
    print("1. program cost per registered resource (mock runtime; TLS mirror scaled)")
    print(f"   {'mirrored':>8} {'resources':>9} {'belen ms/res':>12} {'floor ms/res':>12} {'ratio':>6}")
    per_resource, floor_per_resource = [], []
    for size in sizes:
        certs = _published_certificates(size // NAMESPACES_PER_CERT)
        config, secret_keys = render.load_config("dev", [_mirror_config(certs)])
        outputs = {OPS: {"tlsCertificates": certs, "__secret__": ["tlsCertificates"]}}
        registered = len(mockrun.run_main(stack="dev", config=config, secret_keys=secret_keys,
                                          stack_outputs=outputs).resources)
        belen = _time(lambda: mockrun.run_main(stack="dev", config=config, secret_keys=secret_keys,
                                               stack_outputs=outputs), repeats)
        floor = _time(lambda: mockrun.run(_floor_program(registered), stack="floor", config={}), repeats)
        per_resource.append(belen / registered)
        floor_per_resource.append(floor / registered)
        print(f"   {size:>8} {registered:>9} {1000 * belen / registered:>12.3f} {1000 * floor / registered:>12.3f} "
              f"{belen / floor:>6.2f}")
    if len(per_resource) > 1:
        print(f"   per-resource cost at {sizes[-1]} vs {sizes[0]}: belen {per_resource[-1] / per_resource[0]:.2f}x, "
              f"floor {floor_per_resource[-1] / floor_per_resource[0]:.2f}x (1.00x = linear growth)")


def longest_chain(run: mockrun.Run) -> int:
    """Resources on the longest path of dependencies (depends_on and property dependencies)."""
    by_urn = run.by_urn()
    depth: dict[str, int] = {}
    for resource in run.resources:  # topological order: dependencies come first
        depth[resource.urn] = 1 + max((depth.get(d, 0) for d in resource.dependencies if d in by_urn), default=0)
    return max(depth.values(), default=0)


def bench_chains() -> None:
    print("2. longest dependency chain per stack (resources on the path)")
    stacks_dir = mockrun.PROJECT_DIR / "stacks"
    inputs_dir = mockrun.PROJECT_DIR / "tests" / "render-inputs"
    outputs_dir = mockrun.PROJECT_DIR / "tests" / "stack-outputs"
    stack_outputs = {p.stem.replace("~", "/"): json.loads(p.read_text()) for p in outputs_dir.glob("*.json")}
    for path in sorted(stacks_dir.glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi."):-len(".yaml")]
        layers = [yaml.safe_load((inputs_dir / f"{stack}.yaml").read_text())] if (inputs_dir / f"{stack}.yaml").exists() else []
        config, secret_keys = render.load_config(stack, layers)
        run = mockrun.run_main(stack=stack, config=config, secret_keys=secret_keys, stack_outputs=stack_outputs)
        print(f"   {stack:>8}: {longest_chain(run):>2} of {len(run.resources)} resources")


def bench_verify(values: int) -> None:
    from kubesealpy import Sealer, SealingScope, Unsealer
    from kubesealpy.models import SealedSecret

    from components.crypto import sealing
    from tools import keys

    print(f"3. sealed-value throughput, {values} values, 4096-bit keys (two keys; values sealed with the newest)")
    pairs = [sealing.generate_key_pair(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=age)) for age in (60, 1)]
    sealer = Sealer.from_certificate_pem(pairs[-1][0])
    per_secret = 10
    docs = [yaml.safe_load(sealer.seal(f"s{i}", "apps", {f"k{j}": b"value" for j in range(per_secret)},
                                       scope=SealingScope.STRICT).to_yaml()) for i in range(values // per_secret)]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        (repo / "sealed.yaml").write_text(yaml.safe_dump_all(docs))
        private = [keys.serialization.load_pem_private_key(k.encode(), None) for _, k in pairs]

        def ours():
            found, _ = keys.find_sealed_secrets(repo)
            keyring = list(private)  # the same order kubesealpy gets: oldest key first
            results = [keys.verify_one(f, doc, keyring) for f, doc in found]
            assert sum(r.opened for r in results) == values, "verify did not open every value"

        unsealer = Unsealer(list(private))

        def theirs():
            found = [SealedSecret.model_validate(doc) for doc in yaml.safe_load_all((repo / "sealed.yaml").read_text())]
            opened = sum(len(unsealer.unseal(s).data or {}) for s in found)
            assert opened == values, "kubesealpy did not open every value"

        mine, other = _time(ours, 1), _time(theirs, 1)
    print(f"   tools.keys verify: {values / mine:8.0f} values/s")
    print(f"   kubesealpy:        {values / other:8.0f} values/s")
    print(f"   ratio (ours / kubesealpy): {other / mine:.2f}x (target ≥ 1x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    args = parser.parse_args(argv)
    sizes = [20, 40] if args.quick else [100, 1000, 5000]
    bench_program(sizes, repeats=1 if args.quick else 3)
    bench_chains()
    bench_verify(20 if args.quick else 1000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
