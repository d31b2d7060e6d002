"""Recipients and identities from text: ``parse_recipient`` (one recipient, as ``age -r``
takes it), ``read_recipients_file`` (as ``age -R`` reads one) and ``read_identities`` (an
identity file as ``age-keygen`` writes it, or an OpenSSH private key).

Untrusted text: messages name the file and the line, never the key on it."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..errors import IdentityError, RecipientError
from . import bech32
from .keys import (
    Ed25519Identity,
    Ed25519Recipient,
    Identity,
    Recipient,
    RSAIdentity,
    RSARecipient,
    X25519Identity,
    X25519Recipient,
)

_SSH_TYPES = ("ssh-ed25519", "ssh-rsa")
_PEM_KEYS = (b"-----BEGIN OPENSSH PRIVATE KEY-----", b"-----BEGIN RSA PRIVATE KEY-----")
_MAX_KEY_FILE = 1 << 20


def _ssh_recipient(text: str) -> Recipient:
    fields = text.split()
    try:
        wire = base64.b64decode(fields[1], validate=True)
        key = serialization.load_ssh_public_key(f"{fields[0]} {fields[1]}".encode("ascii"))
    except (IndexError, ValueError, binascii.Error, UnicodeError) as exc:
        raise RecipientError(f"a malformed {fields[0]} public key") from exc
    try:
        if isinstance(key, ed25519.Ed25519PublicKey) and fields[0] == "ssh-ed25519":
            return Ed25519Recipient(wire, key.public_bytes_raw())
        if isinstance(key, rsa.RSAPublicKey) and fields[0] == "ssh-rsa":
            return RSARecipient(wire, key)
    except ValueError as exc:
        raise RecipientError(f"an unusable {fields[0]} public key: {exc}") from exc
    raise RecipientError(f"a malformed {fields[0]} public key")


def parse_recipient(text: str) -> Recipient:
    """An ``age1…`` X25519 recipient or an OpenSSH public key line (ssh-ed25519, ssh-rsa)."""
    text = text.strip()
    if text.split(" ", 1)[0] in _SSH_TYPES:
        return _ssh_recipient(text)
    if text.startswith(("ssh-", "ecdsa-")):
        kind = text.split(" ", 1)[0][:40]
        raise RecipientError(f"SSH keys of type {kind!r} are not supported (ssh-ed25519, ssh-rsa)")
    if text.upper().startswith("AGE-SECRET-KEY-"):
        raise RecipientError(
            "a secret key (an identity) where a recipient is expected: give its public key "
            "(age-keygen -y FILE prints it)"
        )
    if not text.lower().startswith("age1"):
        raise RecipientError(
            "not a recipient: an age public key (age1…) or an SSH public key "
            "(ssh-ed25519 …, ssh-rsa …) is expected"
        )
    try:
        hrp, data = bech32.decode(text)
    except bech32.Bech32Error as exc:
        raise RecipientError(f"a malformed age recipient ({exc})") from exc
    if hrp != "age":
        raise RecipientError(
            f"age recipients of type {hrp!r} (post-quantum, tagged or plugin) are not "
            "supported: only X25519 (age1…) and SSH keys"
        )
    if len(data) != 32:
        raise RecipientError("a malformed age recipient (not 32 bytes)")
    return X25519Recipient(data)


def _read_text(path: str | os.PathLike[str], error: type[Exception]) -> bytes:
    try:
        with Path(path).open("rb") as file:
            data = file.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise error(f"{os.fspath(path)}: {exc.strerror or exc}") from exc
    if len(data) > _MAX_KEY_FILE:
        raise error(f"{os.fspath(path)}: larger than 1 MiB, not a key file")
    return data


def _lines(data: bytes, path: str, error: type[Exception]) -> list[tuple[int, str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a text file") from exc
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            found.append((number, line))
    return found


def read_recipients_file(path: str | os.PathLike[str]) -> list[Recipient]:
    """Every recipient of a file: one per line, ``#`` comments and blank lines skipped."""
    name = os.fspath(path)
    data = _read_text(path, RecipientError)
    recipients = []
    for number, line in _lines(data, name, RecipientError):
        try:
            recipients.append(parse_recipient(line))
        except RecipientError as exc:
            raise RecipientError(f"{name}:{number}: {exc}") from exc
    if not recipients:
        raise RecipientError(f"{name}: no recipients in the file")
    return recipients


def _ssh_identity(data: bytes, name: str) -> Identity:
    key: object
    try:
        if data.lstrip().startswith(_PEM_KEYS[0]):
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography: "Password was not given but private key is encrypted"
        raise IdentityError(
            f"{name}: the SSH key is protected by a passphrase, which s3sink does not ask "
            "for: use a copy without one (ssh-keygen -p -N '' -f COPY) or an age identity"
        ) from exc
    except (ValueError, binascii.Error) as exc:
        raise IdentityError(f"{name}: not a readable SSH private key") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        public = key.public_key()
        wire = _wire(public.public_bytes(serialization.Encoding.OpenSSH, _OPENSSH))
        return Ed25519Identity(wire, key.private_bytes_raw())
    if isinstance(key, rsa.RSAPrivateKey):
        wire = _wire(key.public_key().public_bytes(serialization.Encoding.OpenSSH, _OPENSSH))
        return RSAIdentity(wire, key)
    raise IdentityError(f"{name}: SSH keys of this type are not supported (ed25519, rsa)")


_OPENSSH = serialization.PublicFormat.OpenSSH


def _wire(line: bytes) -> bytes:
    return base64.b64decode(line.split()[1])


def read_identities(path: str | os.PathLike[str]) -> list[Identity]:
    """The identities of a file: ``AGE-SECRET-KEY-1…`` lines (comments and blank lines
    skipped), or one OpenSSH (or PEM RSA) private key without a passphrase."""
    name = os.fspath(path)
    data = _read_text(path, IdentityError)
    if any(data.lstrip().startswith(marker) for marker in _PEM_KEYS):
        return [_ssh_identity(data, name)]
    if data.startswith(b"age-encryption.org/") or data.lstrip().startswith(b"-----BEGIN AGE"):
        raise IdentityError(f"{name}: an encrypted identity file is not supported")
    identities: list[Identity] = []
    for number, line in _lines(data, name, IdentityError):
        if not line.startswith("AGE-SECRET-KEY-1"):
            what = (
                "a plugin or post-quantum identity, not supported"
                if line.startswith(("AGE-PLUGIN-", "AGE-SECRET-KEY-"))
                else "not an identity"
            )
            raise IdentityError(f"{name}:{number}: {what} (AGE-SECRET-KEY-1… expected)")
        try:
            hrp, secret = bech32.decode(line)
        except bech32.Bech32Error as exc:
            raise IdentityError(f"{name}:{number}: a malformed identity ({exc})") from exc
        if hrp != "age-secret-key-" or len(secret) != 32:
            raise IdentityError(f"{name}:{number}: a malformed identity")
        identities.append(X25519Identity(secret))
    if not identities:
        raise IdentityError(f"{name}: no identities in the file")
    return identities


def parse_identity(text: str) -> Identity:
    """One ``AGE-SECRET-KEY-1…`` string (the test vectors' identities)."""
    hrp, secret = bech32.decode(text.strip())
    if hrp != "age-secret-key-" or len(secret) != 32:
        raise IdentityError("not an age X25519 identity")
    return X25519Identity(secret)
