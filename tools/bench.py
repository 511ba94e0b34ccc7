"""Benchmarks, printed as figures (no pass/fail): run `python -m tools.bench [--quick] [recovery]`.

1. The offline render's whole-process CPU beside the bare-SDK floor: `python -m tools.render dev`
   mirroring certificates (RSA 2048, as cert-manager issues them) into 10 namespaces each, at 100,
   1,000 and 5,000 Secrets, and `python -m tools.floor`, a bare program registering the same
   Secrets under the same mock runtime; then the CPU each further Secret costs (linear growth).
2. The longest chain of dependencies in each shipped stack's graph.
3. `python -m tools.keys verify`, whole process, on 3,000 values sealed with one 4096-bit key,
   against the machine's limit (usable cores × the single-core RSA-OAEP decrypt rate for that key,
   measured in the same run), with kubesealpy's unsealer (whole process too) beside it; then
   `python -m tools.keys reseal` of the same values to a new 4096-bit key, against its limit (usable
   cores × the single-core rate of one decrypt with the old key and one encrypt to the new).
4. `recovery` (alone with `python -m tools.bench recovery`): belen's replica recovery beside the
   sequential and the parallel helm + kubectl script (`recovery_vs_script`,
   `recovery_vs_parallel_script`), the floor the controllers' own timestamps allow
   (`recovery_floor_seconds`), belen's overhead above it (`recovery_overhead_seconds`) and where
   belen's time goes (`recovery_breakdown`), from the last drill report (build/e2e/report.json,
   scenario recovery-vs-script). Measuring it takes the test bed's whole session (a primary's state,
   the Git server, fifteen or more fresh clusters: ./bin/e2e, or the theme alone with
   `./bin/e2e -k recovery`), so it is printed with the date and the load it was measured at, not run here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import cli

with cli.requirements():
    import yaml

OPS = "organization/belen/ops"
NAMESPACES_PER_CERT = 10
TARGET_RENDER_RATIO = 1.25
TARGET_VERIFY_SHARE = 0.85  # of the limit, for verify and for reseal (each against its own)


# --- 1. render against the floor ----------------------------------------------------------------

def _rsa_key_pem(_: int) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from components.crypto import pem

    return pem.pkcs1_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def published_certificates(count: int) -> dict[str, dict]:
    """`count` certificates as the ops stack publishes them: RSA-2048 leaves from one test CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from components.crypto import pem

    with multiprocessing.get_context("fork").Pool() as pool:  # key generation is most of the time
        key_pems = pool.map(_rsa_key_pem, range(count))
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    certs = {}
    for index, key_pem in enumerate(key_pems):
        key = pem.load_private_key(key_pem)
        host = f"svc{index}.bench.example.org"
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        certs[f"svc{index:04d}"] = {
            "tls.crt": pem.certificate_pem(leaf), "tls.key": key_pem,
            "notAfter": pem.rfc3339(leaf.not_valid_after_utc), "dnsNames": [host],
            "fingerprint": pem.certificate_fingerprint(leaf),
        }
    return certs


def mirror_config(certs: dict[str, dict]) -> dict:
    namespaces = [f"ns{i}" for i in range(NAMESPACES_PER_CERT)]
    return {"belen:tls": {"mirror": {"fromStack": OPS, "warnDays": 0,
                                     "certificates": {name: {"namespaces": namespaces} for name in certs}}}}


def process_cpu(args: list[str]) -> float:
    """CPU seconds (user + system) of `python ARGS` run to its end; it must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, *args], cwd=_project_dir(), capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"python {' '.join(args[:3])} … exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_render(sizes: list[int], repeats: int) -> None:
    print("1. render vs bare-SDK floor, whole-process CPU (python -m tools.render dev / python -m tools.floor);")
    print(f"   TLS mirror of RSA-2048 certificates × {NAMESPACES_PER_CERT} namespaces; best of {repeats}")
    print(f"   {'Secrets':>7} {'render s':>8} {'floor s':>7} {'ratio':>5} {'render ms/Secret':>16} {'floor ms/Secret':>15}")
    all_certs = published_certificates(max(sizes) // NAMESPACES_PER_CERT)
    names = sorted(all_certs)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_project_dir() / "build") as tmp:
        for size in sizes:
            certs = {name: all_certs[name] for name in names[:size // NAMESPACES_PER_CERT]}
            outputs = Path(tmp) / f"ops-{size}.json"
            outputs.write_text(json.dumps({"tlsCertificates": certs, "__secret__": ["tlsCertificates"]}))
            config = Path(tmp) / f"mirror-{size}.yaml"
            config.write_text(yaml.safe_dump(mirror_config(certs)))
            render_args = ["-m", "tools.render", "dev", "--out", str(Path(tmp) / "render"),
                           "--config-file", str(config), "--stack-outputs", f"{OPS}={outputs}"]
            floor_args = ["-m", "tools.floor", str(outputs), str(NAMESPACES_PER_CERT)]
            render_cpu, floor_cpu = [], []
            for _ in range(repeats):  # back to back, so both see the same machine
                render_cpu.append(process_cpu(render_args))
                floor_cpu.append(process_cpu(floor_args))
            render, floor = min(render_cpu), min(floor_cpu)
            rows.append((size, render, floor))
            print(f"   {size:>7} {render:>8.2f} {floor:>7.2f} {render / floor:>5.2f} {1000 * render / size:>16.2f} "
                  f"{1000 * floor / size:>15.2f}")
    print(f"   target: ratio ≤ {TARGET_RENDER_RATIO} at 1000 Secrets")
    if len(rows) > 2:
        (a, ra, fa), (b, rb, fb), (c, rc, fc) = rows[0], rows[-2], rows[-1]
        first_r, last_r = (rb - ra) / (b - a), (rc - rb) / (c - b)
        first_f, last_f = (fb - fa) / (b - a), (fc - fb) / (c - b)
        print(f"   CPU per further Secret, {b}→{c} vs {a}→{b}: render {1000 * last_r:.2f} vs {1000 * first_r:.2f} ms "
              f"({last_r / first_r:.2f}x), floor {1000 * last_f:.2f} vs {1000 * first_f:.2f} ms "
              f"({last_f / first_f:.2f}x) (1.00x = linear growth)")


# --- 2. dependency chains -----------------------------------------------------------------------

def longest_chain(run) -> int:
    """Resources on the longest path of dependencies (depends_on and property dependencies)."""
    by_urn = run.by_urn()
    depth: dict[str, int] = {}
    for resource_ in run.resources:  # topological order: dependencies come first
        depth[resource_.urn] = 1 + max((depth.get(d, 0) for d in resource_.dependencies if d in by_urn), default=0)
    return max(depth.values(), default=0)


def bench_chains() -> None:
    from tools import mockrun, render

    print("2. longest dependency chain per stack (resources on the path)")
    project = _project_dir()
    inputs_dir, outputs_dir = project / "tests" / "render-inputs", project / "tests" / "stack-outputs"
    stack_outputs = {p.stem.replace("~", "/"): json.loads(p.read_text()) for p in outputs_dir.glob("*.json")}
    for path in sorted((project / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi."):-len(".yaml")]
        inputs = inputs_dir / f"{stack}.yaml"
        layers = [yaml.safe_load(inputs.read_text())] if inputs.exists() else []
        try:
            config, secret_keys = render.load_config(stack, layers)
            run = mockrun.run_main(stack=stack, config=config, secret_keys=secret_keys, stack_outputs=stack_outputs)
        except Exception as exc:  # noqa: BLE001 - a stack that cannot render offline is named, not measured
            print(f"   {stack:>8}: not measured — {_why_not(exc)}")
            continue
        print(f"   {stack:>8}: {longest_chain(run):>2} of {len(run.resources)} resources")


def _why_not(exc: Exception) -> str:
    """The first line of why a stack does not render offline (your own stack: its secrets, its settings)."""
    from components.errors import find_in_chain
    from tools import mockrun, render

    if isinstance(exc, render.UsageError):
        return exc.lines[0]
    missing = find_in_chain(exc, (mockrun.MissingStackOutputs,))
    if missing is not None:
        return render.missing_outputs_lines(missing)[0]
    error = find_in_chain(exc)
    if error is None:
        raise exc
    return f"{error.lines[0]} (python -m tools.render names every problem)"


# --- 3. verify against the machine's limit ------------------------------------------------------

KUBESEALPY_UNSEAL = """
import sys, yaml
from pathlib import Path
from kubesealpy import Unsealer
from kubesealpy.certificate import load_private_key_from_pem
from kubesealpy.models import SealedSecret
key_file, repo = sys.argv[1:]
unsealer = Unsealer([load_private_key_from_pem(Path(key_file).read_bytes())])
docs = yaml.load_all(Path(repo, "sealed.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
print(sum(len(unsealer.unseal(SealedSecret.model_validate(doc)).data or {}) for doc in docs))
"""


def decrypt_rate(key_pem: str, cert_pem: str, seconds: float, reseal_to: str | None = None) -> float:
    """RSA-OAEP(SHA-256) private-key operations per second on one core, for this key; with `reseal_to`
    (a certificate), each followed by the public-key operation sealing the session key to it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from components.crypto import pem

    key, public = pem.load_private_key(key_pem), pem.load_certificate(cert_pem).public_key()
    target = pem.load_certificate(reseal_to).public_key() if reseal_to else None
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"apps/s0")
    ciphertext = public.encrypt(bytes(32), oaep)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session_key = key.decrypt(ciphertext, oaep)
        if target is not None:
            target.encrypt(session_key, oaep)
        done += 1
    return done / (time.perf_counter() - start)


def timed_process(args: list[str], expect: str) -> float:
    """Wall seconds of `python ARGS`, from start to exit (imports and worker start-up included)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=_project_dir(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or expect not in proc.stdout:
        raise RuntimeError(f"python {' '.join(args[:3])} … did not print {expect!r}: {proc.stdout[-300:]}{proc.stderr[-300:]}")
    return elapsed


def bench_verify(values: int, bits: int, rate_seconds: float) -> None:
    from kubesealpy import Sealer, SealingScope

    from components.crypto import sealing
    from tools import keys

    per_secret = 10
    cores = keys.usable_cores()
    print(f"3. python -m tools.keys verify, whole process: {values} values sealed with one {bits}-bit key "
          f"({values // per_secret} SealedSecrets)")
    cert, key = sealing.generate_key_pair(bits=bits)
    sealer = Sealer.from_certificate_pem(cert)
    docs = [yaml.safe_load(sealer.seal(f"s{i}", "apps", {f"k{j}": b"value" for j in range(per_secret)},
                                       scope=SealingScope.STRICT).to_yaml()) for i in range(values // per_secret)]
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_project_dir() / "build") as tmp:
        key_file, repo = Path(tmp) / "key.pem", Path(tmp) / "repo"
        key_file.write_text(cert + key)
        repo.mkdir()
        (repo / "sealed.yaml").write_text(yaml.safe_dump_all(docs))
        single = decrypt_rate(key, cert, rate_seconds)
        ours = values / timed_process(["-m", "tools.keys", "verify", "--keys", str(key_file), str(repo)],
                                      f"{values} item(s) opened, 0 failed")
        theirs = values / timed_process(["-c", KUBESEALPY_UNSEAL, str(key_file), str(repo)], str(values))
        new_cert, _ = sealing.generate_key_pair(bits=bits)
        (Path(tmp) / "new.pem").write_text(new_cert)
        single_reseal = decrypt_rate(key, cert, rate_seconds, reseal_to=new_cert)
        resealed = values / timed_process(["-m", "tools.keys", "reseal", "--keys", str(key_file),
                                           "--cert", str(Path(tmp) / "new.pem"), str(repo)],
                                          f"{values // per_secret} SealedSecret(s): {values // per_secret} re-sealed")
    limit = cores * single
    print(f"   single-core RSA-OAEP decrypt: {single:8.0f} /s; limit on {cores} core(s): {limit:8.0f} values/s")
    print(f"   tools.keys verify: {ours:8.0f} values/s = {ours / limit:.0%} of the limit (target ≥ {TARGET_VERIFY_SHARE:.0%})")
    print(f"   kubesealpy:        {theirs:8.0f} values/s (its Unsealer, whole process, one core)")
    print(f"   ratio (ours / kubesealpy): {ours / theirs:.2f}x")
    reseal_limit = cores * single_reseal
    print(f"   single-core decrypt + encrypt to the new key: {single_reseal:8.0f} /s; limit on {cores} core(s): "
          f"{reseal_limit:8.0f} values/s")
    print(f"   tools.keys reseal: {resealed:8.0f} values/s = {resealed / reseal_limit:.0%} of the limit "
          f"(target ≥ {TARGET_VERIFY_SHARE:.0%}); {resealed / ours:.2f}x verify's rate")


# --- 4. recovery against the script peer (from the last drill report) ---------------------------

def bench_recovery() -> str | None:
    """Prints the last drill's recovery figures; without them, returns why not (one line)."""
    with cli.requirements():
        from tests.e2e.recovery import describe

    path = _project_dir() / "build" / "e2e" / "report.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    shown = path.relative_to(_project_dir())
    if "recovery_vs_script" not in report:
        return (f"no recovery figures: {shown} {'has none' if path.exists() else 'does not exist'} — run the drill "
                "first (./bin/e2e)")
    print(f"4. recovery vs the hand-written scripts, from {shown} (finished {report.get('finished', '?')})")
    for line in describe(report):
        print(f"   {line}")
    return None


def _project_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    parser.add_argument("section", nargs="?", choices=["recovery"], help="print only this section")
    args = parser.parse_args(argv)
    if args.section == "recovery":
        missing = bench_recovery()
        if missing:
            print(f"error: {missing}", file=sys.stderr)
        return 1 if missing else 0
    (_project_dir() / "build").mkdir(exist_ok=True)
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPU(s)")
    bench_render([20] if args.quick else [100, 1000, 5000], repeats=1 if args.quick else 3)
    bench_chains()
    bench_verify(*((100, 2048, 0.2) if args.quick else (3000, 4096, 3.0)))
    missing = bench_recovery()
    if missing:
        print(f"4. recovery vs the hand-written script: {missing}")
    return 0


if __name__ == "__main__":
    cli.run(main)
