"""Sealing-key tools: prove a backup is sound before a disaster, and restore it into a stack.

    python -m tools.keys check FILE...                       describe and check keys (PEM pairs or kubectl backups)
    python -m tools.keys verify --keys FILE [--keys FILE] DIR   open every SealedSecret under DIR with the keys
    python -m tools.keys reseal --keys FILE... --cert FILE DIR  re-encrypt every SealedSecret under DIR to CERT, in place
    python -m tools.keys import FILE --stack STACK           restore a kubectl backup into a stack's secret config
    python -m tools.keys backup STACK --out FILE (--recipient AGE_PUBLIC_KEY... | --passphrase-file F)
                                                             the stack's sealing keys, encrypted with age

A kubectl backup is what `kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`
prints (a v1 List or a single Secret); `pulumi stack output --show-secrets sealingKeys` (or `--json`, all
outputs) is read too, and so is an age backup (`backup`'s) given --identity FILE or --passphrase-file FILE.
Exit 1 when any key or item has a problem; plaintext is never printed, nor written to disk.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import json
import multiprocessing
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tools import cli

with cli.requirements():
    import yaml

    from components.crypto import pem, sealing
    from tools import age_files, sealed_yaml

# libyaml's parser when PyYAML has it: a GitOps checkout can hold megabytes of sealed values.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Below this many values, starting worker processes costs more than opening them on one core.
PARALLEL_FROM = 64


class KeysError(Exception):
    """A file that cannot be read as keys: exit 2."""


@dataclass
class KeyItem:
    source: str  # file and, for a backup, the Secret's name
    cert: Any
    key: Any


def read_key_file(path: str, secret: age_files.Secret | None = None) -> str:
    """A key file's text; an age backup is opened in memory with `secret`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeysError(f"cannot read {path}: {exc.strerror or exc}") from None
    if age_files.is_age(data):
        if secret is None:
            raise KeysError(f"{path}: is an age backup — pass --identity FILE or --passphrase-file FILE to open it")
        data = secret.decrypt(path, data)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise KeysError(f"cannot read {path}: it is not text") from None


def load_key_items(paths: list[str], secret: age_files.Secret | None = None) -> list[KeyItem]:
    """Key pairs from PEM files (cert and key in one file, or a cert file followed by its key file),
    from kubectl backups of the controller's key Secrets, stack outputs and age backups of either."""
    items: list[KeyItem] = []
    pending_cert: tuple[str, str] | None = None
    for path in paths:
        text = read_key_file(path, secret)
        # PEM files; a stack output (JSON) holds PEM text too, but starts as JSON does.
        if "-----BEGIN" in text and not text.lstrip().startswith(("[", "{")):
            has_cert, has_key = "CERTIFICATE-----" in text, "PRIVATE KEY-----" in text
            if has_cert and has_key:
                items.append(KeyItem(path, _blocks(text, "CERTIFICATE"), _blocks(text, "PRIVATE KEY")))
            elif has_cert:
                pending_cert = (path, text)
            elif pending_cert is not None:
                items.append(KeyItem(f"{pending_cert[0]} + {path}", pending_cert[1], text))
                pending_cert = None
            else:
                raise KeysError(f"{path}: a private key without a certificate before it — pass CERT KEY in pairs")
            continue
        items.extend(_backup_items(path, text))
    if pending_cert is not None:
        raise KeysError(f"{pending_cert[0]}: a certificate without its private key — pass CERT KEY in pairs")
    return items


def _blocks(text: str, kind: str) -> str:
    """The PEM blocks of one kind in a text (e.g. every CERTIFICATE)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("-----BEGIN") and line.rstrip("-").endswith(kind):
            inside = True
        if inside:
            out.append(line)
        if line.startswith("-----END") and inside:
            inside = False
    return "\n".join(out) + "\n"


def _backup_items(path: str, text: str) -> list[KeyItem]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError:
        raise KeysError(f"{path}: neither PEM nor YAML") from None
    if len(docs) == 1 and (isinstance(docs[0], list) or docs[0] == "[secret]"
                           or isinstance(docs[0], dict) and "sealingKeys" in docs[0]):
        return _stack_output_items(path, docs[0])
    secrets = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            secrets.extend(doc.get("items") or [])
        elif isinstance(doc, dict) and doc.get("kind") == "SecretList":
            secrets.extend(doc.get("items") or [])
        else:
            secrets.append(doc)
    items = []
    for secret in secrets:
        if not isinstance(secret, dict) or secret.get("kind") != "Secret":
            raise KeysError(f"{path}: holds something other than Secrets — pass the kubectl backup of the key Secrets")
        name = (secret.get("metadata") or {}).get("name", "?")
        data = secret.get("data") or {}
        items.append(KeyItem(f"{path} ({name})", _b64(data.get("tls.crt"), path, name), _b64(data.get("tls.key"), path, name)))
    if not items:
        raise KeysError(f"{path}: holds no key Secrets")
    return items


def _stack_output_items(path: str, output: Any) -> list[KeyItem]:
    """The stack's sealingKeys output: `pulumi stack output --show-secrets sealingKeys`, or all outputs (`--json`)."""
    keys = output["sealingKeys"] if isinstance(output, dict) else output
    if keys in ("[secret]", ["secret"]):  # without --show-secrets: JSON, or the bare text read as YAML
        raise KeysError(f"{path}: holds [secret] — write it with `pulumi stack output --show-secrets sealingKeys`")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise KeysError(f"{path}: is not the stack's sealingKeys output (a list of {{cert, key}})")
    return [KeyItem(f"{path} [{index}]", item.get("cert"), item.get("key")) for index, item in enumerate(keys)]


def _b64(value: Any, path: str, name: str) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        raise KeysError(f"{path}: Secret {name} has data that is not base64") from None


def check_items(items: list[KeyItem], now: dt.datetime | None = None):
    """The same checks as for belen:sealingKeys, over every loaded pair at once."""
    return sealing.check_key_list([{"cert": i.cert, "key": i.key} for i in items], now or dt.datetime.now(dt.timezone.utc))


def print_problems(items: list[KeyItem], problems: list[sealing.KeyProblem], whole: str) -> None:
    """One error line a problem, naming the file (and Secret) it came from; `whole` names the list itself."""
    for problem in problems:
        source = items[problem.index].source if problem.index >= 0 else whole
        print(f"error: {source}: {problem.what} — {problem.todo}", file=sys.stderr)


# --- check --------------------------------------------------------------------------------------

def cmd_check(paths: list[str], now: dt.datetime, secret: age_files.Secret | None = None) -> int:
    items = load_key_items(paths, secret)
    keys, problems = check_items(items, now)
    by_index: dict[int, list[str]] = {}
    for problem in problems:
        by_index.setdefault(problem.index, []).append(
            f"{problem.field + ': ' if problem.field else ''}{problem.what} — {problem.todo}")
    newest = sealing.newest_key(keys) if keys else None
    for index, item in enumerate(items):
        key, _ = sealing.check_key_pair(index, item.cert, item.key)
        print(f"[{index}] {item.source}")
        if key is not None:
            marker = "  (newest: kubeseal seals with this one)" if newest and key.fingerprint == newest.fingerprint else ""
            print(f"    fingerprint {key.fingerprint}{marker}")
            print(f"    RSA {key.bits} bits, valid {pem.rfc3339(key.not_before)} to {pem.rfc3339(key.not_after)}")
        for line in by_index.get(index, []):
            print(f"    problem: {line}")
    print(f"{len(items)} key(s), {len(problems)} problem(s)")
    return 1 if problems else 0


# --- verify -------------------------------------------------------------------------------------

@dataclass
class Verified:
    file: str
    namespace: str
    name: str
    scope: str
    opened: int
    failed: list[str]


def find_sealed_secrets(root: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    """Every SealedSecret (bitnami.com/v1alpha1) in the YAML files under root; unreadable files noted."""
    found, skipped = [], []
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and ".git" not in p.parts)
    for path in files:
        try:
            docs = list(yaml.load_all(path.read_text(), Loader=YAML_LOADER))
        except (yaml.YAMLError, UnicodeDecodeError):
            skipped.append(str(path.relative_to(root)))
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "SealedSecret" and doc.get("apiVersion") == "bitnami.com/v1alpha1":
                found.append((str(path.relative_to(root)), doc))
    return found, skipped


def _encrypted_data(doc: dict) -> dict:
    return (doc.get("spec") or {}).get("encryptedData") or {}


@dataclass
class Opened:
    """One SealedSecret's values opened as the controller opens them (under its scope's label)."""

    namespace: str  # "-" for none (cluster-wide), "?" when a scope needs one and it has none
    name: str
    scope: str
    label: bytes
    plaintexts: dict[str, bytes]
    failed: list[str]  # `item: why`, one a value that did not open


def open_values(doc: dict, private_keys: list) -> Opened:
    meta = doc.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    scope = sealing.scope_of(meta.get("annotations"))
    items = _encrypted_data(doc)
    if scope != "cluster-wide" and not namespace:
        return Opened("?", name, scope, b"", {}, [f"{k}: no metadata.namespace to label it with" for k in items])
    label = sealing.encryption_label(scope, namespace, name)
    plaintexts, failed = {}, []
    for item_name, value in sorted(items.items()):
        try:
            plaintexts[item_name] = sealing.hybrid_decrypt(private_keys, sealing.decode_item(value), label)
        except sealing.UnsealError as exc:
            failed.append(f"{item_name}: {exc}")
    return Opened(namespace or "-", name, scope, label, plaintexts, failed)


def verify_one(file: str, doc: dict, private_keys: list) -> Verified:
    opened = open_values(doc, private_keys)
    return Verified(file, opened.namespace, opened.name, opened.scope, len(opened.plaintexts), opened.failed)


def verify_all(documents: list[tuple[str, dict]], key_pems: list[str]) -> list[Verified]:
    """verify_one for every document, in order; on every usable core when there is enough to open."""
    return on_every_core(_verify_in_worker, documents, key_pems)


def on_every_core(work: Callable[[str, dict], Any], documents: list[tuple[str, dict]], key_pems: list[str],
                  cert_pem: str | None = None) -> list[Any]:
    """`work(file, doc)` for every document, in order, with the keys (and a certificate to seal to)
    loaded once per process; on every usable core when there is enough to open.

    Opening a value is one RSA private-key operation, and cryptography holds the GIL for it: only
    processes use more than one core. Each worker loads the keys once and keeps its own key order.
    """
    workers = min(usable_cores(), len(documents))
    values = sum(len(_encrypted_data(doc)) for _, doc in documents)
    if workers < 2 or values < PARALLEL_FROM:
        _load_worker_keys(key_pems, cert_pem)
        return [work(file, doc) for file, doc in documents]
    # fork is the cheapest start, and safe only where no other thread could hold a lock (the CLI);
    # elsewhere (e.g. a test runner with threads) a fork server starts the workers.
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")
    # Small chunks: the last one decides when the slowest worker finishes.
    chunk = max(1, len(documents) // (workers * 32))
    with context.Pool(workers, initializer=_load_worker_keys, initargs=(key_pems, cert_pem)) as pool:
        return pool.starmap(work, documents, chunksize=chunk)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_WORKER_KEYS: list = []
_WORKER_CERT: list = []  # the public key `reseal` seals to


def _load_worker_keys(key_pems: list[str], cert_pem: str | None) -> None:
    _WORKER_KEYS[:] = [pem.load_private_key(text) for text in key_pems]
    _WORKER_CERT[:] = [pem.load_certificate(cert_pem).public_key()] if cert_pem else []


def _verify_in_worker(file: str, doc: dict) -> Verified:
    return verify_one(file, doc, _WORKER_KEYS)


def opening_keys(key_files: list[str], secret: age_files.Secret | None = None) -> list[sealing.SealingKey] | None:
    """The keys, checked; None (problems printed) when one cannot be used. An expired key still opens what it sealed."""
    items = load_key_items(key_files, secret)
    keys, problems = check_items(items)
    hard = [p for p in problems if "expired" not in p.what]
    if hard:
        print_problems(items, hard, "keys")
        return None
    return keys


def sealed_secrets_under(root: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    if not root.is_dir():
        raise KeysError(f"{root} is not a folder — pass a checkout of your GitOps repository")
    return find_sealed_secrets(root)


def cmd_verify(key_files: list[str], root: Path, secret: age_files.Secret | None = None) -> int:
    keys = opening_keys(key_files, secret)
    if keys is None:
        return 2
    documents, skipped = sealed_secrets_under(root)
    results = verify_all(documents, [k.key_pem for k in keys])
    for r in results:
        status = "ok" if not r.failed else "FAILED"
        print(f"{r.file}: {r.namespace}/{r.name} [{r.scope}] {r.opened} opened, {len(r.failed)} failed — {status}")
        for failure in r.failed:
            print(f"    {failure}")
    for path in skipped:
        print(f"warning: {path} is not valid YAML; not searched", file=sys.stderr)
    failed = sum(len(r.failed) for r in results)
    opened = sum(r.opened for r in results)
    print(f"{len(results)} SealedSecret(s) with {len(keys)} key(s): {opened} item(s) opened, {failed} failed")
    return 1 if failed else 0


# --- reseal -------------------------------------------------------------------------------------

@dataclass
class Resealed:
    file: str
    opened: Opened
    values: dict[str, str]  # item → its value sealed to the certificate; empty when left as it was


def reseal_one(file: str, doc: dict, private_keys: list, public_key: Any) -> Resealed:
    """Every value opened with the keys and sealed again to `public_key` under the same scope label;
    none when any value does not open (the SealedSecret is left whole, as it was)."""
    opened = open_values(doc, private_keys)
    if opened.failed:
        return Resealed(file, opened, {})
    return Resealed(file, opened, {item: sealing.encode_item(sealing.hybrid_encrypt(public_key, plaintext, opened.label))
                                   for item, plaintext in opened.plaintexts.items()})


def _reseal_in_worker(file: str, doc: dict) -> Resealed:
    resealed = reseal_one(file, doc, _WORKER_KEYS, _WORKER_CERT[0])
    resealed.opened.plaintexts.clear()  # plaintext never leaves the worker
    return resealed


def sealing_certificate(path: str, now: dt.datetime) -> tuple[str, str]:
    """(PEM, public-key fingerprint) of the certificate to seal to: kubeseal's rules (RSA, not expired)."""
    todo = "pass the stack's certificate: pulumi stack output sealingCertificate > cert.pem"
    try:
        cert = pem.load_certificate(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise KeysError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except pem.PemError as exc:
        raise KeysError(f"{path}: {exc} — {todo}") from None
    public_key = cert.public_key()
    if not isinstance(public_key, sealing.rsa.RSAPublicKey) or public_key.key_size < sealing.MIN_BITS:
        raise KeysError(f"{path}: is not a certificate of an RSA key of at least {sealing.MIN_BITS} bits — {todo}")
    if cert.not_valid_after_utc <= now:
        raise KeysError(f"{path}: the certificate expired on {pem.rfc3339(cert.not_valid_after_utc)} — {todo}")
    return pem.certificate_pem(cert), pem.public_key_fingerprint(public_key)


def cmd_reseal(key_files: list[str], cert_file: str, root: Path, secret: age_files.Secret | None = None) -> int:
    keys = opening_keys(key_files, secret)
    if keys is None:
        return 2
    cert_pem, fingerprint = sealing_certificate(cert_file, dt.datetime.now(dt.timezone.utc))
    documents, skipped = sealed_secrets_under(root)
    results = on_every_core(_reseal_in_worker, documents, [k.key_pem for k in keys], cert_pem)
    unplaced = write_resealed(root, documents, results)
    left = 0
    for (_, doc), r in zip(documents, results):
        subject = f"{r.file}: {r.opened.namespace}/{r.opened.name} [{r.opened.scope}]"
        total = len(_encrypted_data(doc))
        if r.values and id(r) not in unplaced:
            print(f"{subject} {total} value(s) re-sealed")
            continue
        left += 1
        if r.opened.failed:
            print(f"{subject} left as it was: {len(r.opened.failed)} of {total} value(s) open with none of the keys")
            for failure in r.opened.failed:
                print(f"    {failure}")
        elif total:
            print(f"{subject} left as it was: its values could not be found in the file's text one by one")
    for path in skipped:
        print(f"warning: {path} is not valid YAML; not searched", file=sys.stderr)
    print(f"{len(results)} SealedSecret(s): {len(results) - left} re-sealed to key {fingerprint[:16]}, "
          f"{left} left as they were")
    return 1 if left else 0


def write_resealed(root: Path, documents: list[tuple[str, dict]], results: list[Resealed]) -> set[int]:
    """Each file with new values written in place of the old ones, nothing else changed; returns the
    ids of results whose values could not be placed (the file's text did not match its YAML)."""
    by_file: dict[str, list[tuple[dict, Resealed]]] = {}
    for (file, doc), result in zip(documents, results):
        by_file.setdefault(file, []).append((doc, result))
    unplaced: set[int] = set()
    for file, pairs in by_file.items():
        path = root / file
        text = path.read_bytes().decode()
        located = sealed_yaml.sealed_documents(text)
        edits = []
        for index, (doc, result) in enumerate(pairs):
            spans = located[index].values if len(located) == len(pairs) else {}
            old = _encrypted_data(doc)
            if not result.values:
                continue
            if set(spans) != set(old) or any(spans[item].value != old[item] for item in old):
                unplaced.add(id(result))
                continue
            edits.extend((spans[item], value) for item, value in result.values.items())
        if edits:
            new = sealed_yaml.replaced(text, edits)
            temp = path.with_name(f".{path.name}.reseal")
            temp.write_bytes(new.encode())
            shutil.copymode(path, temp)
            os.replace(temp, path)  # whole or not at all
    return unplaced


# --- import -------------------------------------------------------------------------------------

def cmd_import(path: str, stack: str, secret: age_files.Secret | None = None) -> int:
    items = load_key_items([path], secret)
    keys, problems = check_items(items)
    if problems:
        print_problems(items, problems, path)
        return 1
    ordered = sorted(keys, key=lambda k: (k.not_before, k.fingerprint))
    for index, key in enumerate(ordered):
        for field, value in (("cert", key.cert_pem), ("key", key.key_pem)):
            setting = f"belen:sealingKeys[{index}].{field}"
            # The value goes on standard input: arguments are visible to every user in the process list.
            proc = cli.run_program("pulumi", "config", "set", "--secret", "--path", setting, "--stack", stack,
                                   input=value, text=True)
            if proc.returncode != 0:
                print(f"error: `pulumi config set {setting}` failed (exit {proc.returncode})", file=sys.stderr)
                return 1
        print(f"restored key {key.fingerprint[:16]} as belen:sealingKeys[{index}]")
    print(f"{len(ordered)} key(s) restored into stack {stack}; check with: python -m tools.render {stack} ...")
    return 0


# --- backup -------------------------------------------------------------------------------------

def cmd_backup(stack: str, out: str, recipients: list[str], passphrase_file: str | None) -> int:
    """The stack's sealingKeys output, checked, encrypted in memory; only ciphertext is written."""
    if Path(out).exists():
        raise KeysError(f"{out}: exists — choose a new name (a backup never replaces another)")
    proc = cli.run_program("pulumi", "stack", "output", "--stack", stack, "--show-secrets", "--json", "sealingKeys",
                           capture_output=True, text=True)
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"error: `pulumi stack output --stack {stack} sealingKeys` failed (exit {proc.returncode}): {said}",
              file=sys.stderr)
        return 1
    try:
        output = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise KeysError(f"stack {stack}: its sealingKeys output is not JSON — is it a belen stack?") from None
    if output is None:
        raise KeysError(f"stack {stack}: has no sealingKeys output — run `pulumi up` on it first")
    items = _stack_output_items(f"stack {stack}", output)
    keys, problems = check_items(items)
    hard = [p for p in problems if "expired" not in p.what]  # an expired key still opens what it sealed: kept
    if hard:
        print_problems(items, hard, f"stack {stack}")
        return 1
    age_files.write_new(out, age_files.encrypt((json.dumps(output, indent=2) + "\n").encode(), recipients,
                                               passphrase_file))
    to = f"{len(recipients)} recipient(s)" if recipients else "a passphrase"
    print(f"{len(keys)} key(s) of stack {stack} ({', '.join(k.fingerprint[:16] for k in keys)}) written to {out}, "
          f"encrypted to {to}")
    print(f"check it: python -m tools.keys check {out} " + ("--identity FILE" if recipients else
                                                             f"--passphrase-file {passphrase_file}"))
    return 0


KEY_FILE = ("sealing keys: a kubectl backup of the key Secrets (`kubectl get secret -n kube-system -l "
            "sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`), PEM pairs, a stack's sealingKeys output, or an "
            "age backup of them (with --identity or --passphrase-file)")
KEYS_OPTION = f"{KEY_FILE}; repeat --keys for more files (every key of every file is tried)"


def _opening_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--identity", metavar="FILE", help="open age backups with this identity file (as age -i)")
    parser.add_argument("--passphrase-file", metavar="FILE",
                        help="open age backups with the passphrase on this file's first line")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.keys", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="describe and check keys")
    check.add_argument("files", nargs="+", metavar="FILE", help=KEY_FILE)
    _opening_options(check)
    verify = sub.add_parser("verify", help="open every SealedSecret under DIR with the keys")
    verify.add_argument("--keys", action="append", required=True, metavar="FILE", help=KEYS_OPTION)
    verify.add_argument("dir", metavar="DIR", help="a checkout of the GitOps repository: every SealedSecret below it")
    _opening_options(verify)
    reseal = sub.add_parser("reseal", help="re-encrypt every SealedSecret under DIR to a certificate, in place")
    reseal.add_argument("--keys", action="append", required=True, metavar="FILE", help=KEYS_OPTION)
    reseal.add_argument("--cert", required=True, metavar="FILE",
                        help="the PEM certificate to seal to (`pulumi stack output sealingCertificate`)")
    reseal.add_argument("dir", metavar="DIR", help="a checkout of the GitOps repository: its SealedSecrets are "
                        "rewritten in place, every other file stays byte for byte")
    _opening_options(reseal)
    restore = sub.add_parser("import", help="restore a kubectl or age backup into a stack's secret config")
    restore.add_argument("file", metavar="FILE", help=f"{KEY_FILE}; all its keys go into belen:sealingKeys")
    restore.add_argument("--stack", required=True, help="the stack whose belen:sealingKeys is set "
                         "(`pulumi config set --secret`, in this folder's project)")
    _opening_options(restore)
    backup = sub.add_parser("backup", help="write the stack's sealing keys to a new file, encrypted with age")
    backup.add_argument("stack", metavar="STACK", help="the stack whose sealingKeys output is backed up")
    backup.add_argument("--out", required=True, metavar="FILE", help="a new file (never replaced)")
    backup.add_argument("--recipient", action="append", default=[], metavar="AGE_PUBLIC_KEY",
                        help="encrypt to this age (age1…) or SSH public key; repeat for more")
    backup.add_argument("--passphrase-file", metavar="FILE", help="encrypt with the passphrase on this file's first line")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            return cmd_backup(args.stack, args.out, args.recipient, args.passphrase_file)
        secret = age_files.Secret.from_files(args.identity, args.passphrase_file)
        if args.command == "check":
            return cmd_check(args.files, dt.datetime.now(dt.timezone.utc), secret)
        if args.command == "verify":
            return cmd_verify(args.keys, Path(args.dir), secret)
        if args.command == "reseal":
            return cmd_reseal(args.keys, args.cert, Path(args.dir), secret)
        return cmd_import(args.file, args.stack, secret)
    except (KeysError, age_files.AgeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    cli.run(main)
