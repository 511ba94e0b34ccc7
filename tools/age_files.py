"""age encryption for sealing-key backups (pyrage: the age format, read and written by the standard `age` CLI).

A backup is encrypted in memory and only ciphertext reaches the disk; a backup is opened in memory.
Recipients are age public keys (`age1…`) or SSH public keys (`ssh-ed25519 …`, `ssh-rsa …`); identities are
what `age -i` reads: a file of `AGE-SECRET-KEY-1…` lines (comments allowed) or an unencrypted SSH private key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tools import cli

with cli.requirements():
    import pyrage
    from pyrage import passphrase as age_passphrase
    from pyrage import ssh, x25519

BINARY_HEADER = b"age-encryption.org/v1\n"
ARMOR_HEADER = b"-----BEGIN AGE ENCRYPTED FILE-----"


class AgeError(Exception):
    """A recipient, identity, passphrase or backup that cannot be used: one line, exit 2."""


def is_age(data: bytes) -> bool:
    return data.startswith(BINARY_HEADER) or data.lstrip().startswith(ARMOR_HEADER)


@dataclass(frozen=True)
class Secret:
    """How a backup is opened: identities from an identity file, or a passphrase."""

    identities: tuple = ()
    passphrase: str | None = None

    @classmethod
    def from_files(cls, identity: str | None, passphrase_file: str | None) -> Secret | None:
        if identity and passphrase_file:
            raise AgeError("pass --identity or --passphrase-file, not both")
        if identity:
            return cls(identities=tuple(read_identities(identity)))
        if passphrase_file:
            return cls(passphrase=read_passphrase(passphrase_file))
        return None

    def decrypt(self, source: str, data: bytes) -> bytes:
        try:
            if self.passphrase is not None:
                return age_passphrase.decrypt(data, self.passphrase)
            return pyrage.decrypt(data, list(self.identities))
        except pyrage.DecryptError as exc:
            if "Excessive work" in str(exc):  # rage weighs scrypt's cost against this machine's speed right now
                raise AgeError(f"{source}: opening it with the passphrase would take longer than this machine allows "
                               f"now ({' '.join(str(exc).split())}) — try again when it is less busy, or use "
                               "`age -d`") from None
            how = "passphrase" if self.passphrase is not None else "identity"
            raise AgeError(f"{source}: cannot be opened with this {how} ({exc}) — pass the one it was encrypted "
                           "to") from None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AgeError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def read_passphrase(path: str) -> str:
    """The file's first line, without its line ending (as `age` would be typed it)."""
    text = _read(path)
    phrase = text.splitlines()[0] if text else ""
    if not phrase:
        raise AgeError(f"{path}: holds no passphrase on its first line — write one there")
    return phrase


def read_identities(path: str) -> list:
    text = _read(path)
    try:
        if "PRIVATE KEY-----" in text:
            return [ssh.Identity.from_buffer(text.encode())]
        found = [x25519.Identity.from_str(line.strip()) for line in text.splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
    except pyrage.IdentityError as exc:
        raise AgeError(f"{path}: is not an age identity file ({exc}) — pass the file `age-keygen -o` wrote, "
                       "or an unencrypted SSH private key") from None
    if not found:
        raise AgeError(f"{path}: holds no identity — pass the file `age-keygen -o` wrote")
    return found


def parse_recipient(text: str):
    text = text.strip()
    try:
        if text.startswith("ssh-"):
            return ssh.Recipient.from_str(text)
        return x25519.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        raise AgeError(f"--recipient {text[:24]}…: is not an age or SSH public key ({exc}) — pass an `age1…` key "
                       "(age-keygen -y IDENTITY prints it) or an SSH public key") from None


def encrypt(plaintext: bytes, recipients: list[str], passphrase_file: str | None) -> bytes:
    if bool(recipients) == bool(passphrase_file):
        raise AgeError("pass --recipient (one or more) or --passphrase-file, one of the two")
    if passphrase_file:
        return age_passphrase.encrypt(plaintext, read_passphrase(passphrase_file))
    return pyrage.encrypt(plaintext, [parse_recipient(r) for r in recipients])


def write_new(path: str, data: bytes) -> None:
    """`data` into a new file, readable by its owner only; an existing file is never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AgeError(f"{path}: exists — choose a new name (a backup never replaces another)") from None
    except OSError as exc:
        raise AgeError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError as exc:
        Path(path).unlink(missing_ok=True)
        raise AgeError(f"cannot write {path}: {exc.strerror}") from None
