"""Recipients and identities: native X25519 (``age1…``, ``AGE-SECRET-KEY-1…``) and SSH keys
(ssh-ed25519, ssh-rsa), each wrapping and unwrapping the file key in its stanza.

A recipient's text is public and may be shown; an identity's repr shows only its public half,
and no message ever carries a secret key or a file key."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from hashlib import sha256, sha512

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from . import bech32
from .header import HeaderError, Stanza, b64decode, b64encode, hkdf

FILE_KEY_SIZE = 16
_ZERO_NONCE = bytes(12)
_X25519_INFO = b"age-encryption.org/v1/X25519"
_ED25519_INFO = b"age-encryption.org/v1/ssh-ed25519"
_RSA_LABEL = b"age-encryption.org/v1/ssh-rsa"
_P = 2**255 - 19  # Curve25519's field


class Recipient(ABC):
    """Someone a file is encrypted to: wraps a file key into one stanza."""

    kind: str

    @abstractmethod
    def wrap(self, file_key: bytes) -> Stanza: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"


class Identity(ABC):
    """A key that can unwrap a file key from a stanza addressed to it."""

    kind: str

    @abstractmethod
    def unwrap(self, stanza: Stanza) -> bytes | None:
        """The file key, or None when the stanza is not for this identity; HeaderError when
        it is of this identity's type but malformed."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"


def _seal(key: bytes, file_key: bytes) -> bytes:
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)


def _open(key: bytes, body: bytes) -> bytes | None:
    if len(body) != FILE_KEY_SIZE + 16:  # before decrypting: no partitioning oracle
        raise HeaderError("a stanza body of the wrong length")
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


def _x25519(secret: bytes, public: bytes) -> bytes:
    """X25519; the all-zero result of a low-order point is refused (cryptography raises)."""
    try:
        return X25519PrivateKey.from_private_bytes(secret).exchange(
            X25519PublicKey.from_public_bytes(public)
        )
    except ValueError as exc:
        raise HeaderError("an X25519 share of low order") from exc


def _public(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def _share_arg(arg: str) -> bytes:
    share = b64decode(arg)
    if len(share) != 32:
        raise HeaderError("an X25519 share that is not 32 bytes")
    return share


class X25519Recipient(Recipient):
    kind = "X25519"

    def __init__(self, public: bytes) -> None:
        self.public = public

    def __str__(self) -> str:
        return bech32.encode("age", self.public)

    def wrap(self, file_key: bytes) -> Stanza:
        ephemeral = os.urandom(32)
        share = _public(ephemeral)
        secret = _x25519(ephemeral, self.public)
        key = hkdf(secret, share + self.public, _X25519_INFO)
        return Stanza("X25519", (b64encode(share),), _seal(key, file_key))


class X25519Identity(Identity):
    kind = "X25519"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self.public = _public(secret)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "X25519":
            return None
        if len(stanza.args) != 1:
            raise HeaderError("an X25519 stanza with the wrong number of arguments")
        share = _share_arg(stanza.args[0])
        secret = _x25519(self._secret, share)
        return _open(hkdf(secret, share + self.public, _X25519_INFO), stanza.body)


def ssh_tag(wire: bytes) -> str:
    """The stanza's first argument: SHA-256 of the key's SSH wire encoding, 4 bytes."""
    return b64encode(sha256(wire).digest()[:4])


def ed25519_to_x25519(public: bytes) -> bytes:
    """An Ed25519 public key as its Montgomery u-coordinate, u = (1 + y) / (1 - y); the
    point is decoded first (x recovered), so a y off the curve is refused."""
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    if y >= _P:
        raise ValueError("not a canonical Ed25519 point")
    d = -121665 * pow(121666, -1, _P) % _P
    x2 = (y * y - 1) * pow(d * y * y + 1, -1, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P and (x * x + x2) % _P:
        raise ValueError("not a point of Ed25519")
    if y == 1:
        raise ValueError("the Ed25519 identity point")
    return ((1 + y) * pow(1 - y, -1, _P) % _P).to_bytes(32, "little")


class Ed25519Recipient(Recipient):
    kind = "ssh-ed25519"

    def __init__(self, wire: bytes, public: bytes) -> None:
        self.wire = wire
        self.tag = ssh_tag(wire)
        self.montgomery = ed25519_to_x25519(public)

    def wrap(self, file_key: bytes) -> Stanza:
        ephemeral = os.urandom(32)
        share = _public(ephemeral)
        secret = _x25519(ephemeral, self.montgomery)
        tweak = hkdf(b"", self.wire, _ED25519_INFO)
        secret = _x25519(tweak, secret)
        key = hkdf(secret, share + self.montgomery, _ED25519_INFO)
        return Stanza("ssh-ed25519", (self.tag, b64encode(share)), _seal(key, file_key))


class Ed25519Identity(Identity):
    kind = "ssh-ed25519"

    def __init__(self, wire: bytes, seed: bytes) -> None:
        self.tag = ssh_tag(wire)
        self._tweak = hkdf(b"", wire, _ED25519_INFO)
        self._secret = sha512(seed).digest()[:32]
        self.montgomery = _public(self._secret)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "ssh-ed25519":
            return None
        if len(stanza.args) != 2:
            raise HeaderError("an ssh-ed25519 stanza with the wrong number of arguments")
        if stanza.args[0] != self.tag:
            return None
        share = _share_arg(stanza.args[1])
        secret = _x25519(self._tweak, _x25519(self._secret, share))
        return _open(hkdf(secret, share + self.montgomery, _ED25519_INFO), stanza.body)


def _oaep() -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=_RSA_LABEL
    )


class RSARecipient(Recipient):
    kind = "ssh-rsa"

    def __init__(self, wire: bytes, key: rsa.RSAPublicKey) -> None:
        if key.key_size < 2048:
            raise ValueError("an RSA key shorter than 2048 bits")
        self.tag = ssh_tag(wire)
        self._key = key

    def wrap(self, file_key: bytes) -> Stanza:
        return Stanza("ssh-rsa", (self.tag,), self._key.encrypt(file_key, _oaep()))


class RSAIdentity(Identity):
    kind = "ssh-rsa"

    def __init__(self, wire: bytes, key: rsa.RSAPrivateKey) -> None:
        self.tag = ssh_tag(wire)
        self._key = key

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "ssh-rsa":
            return None
        if len(stanza.args) != 1:
            raise HeaderError("an ssh-rsa stanza with the wrong number of arguments")
        if stanza.args[0] != self.tag:
            return None
        try:
            file_key = self._key.decrypt(stanza.body, _oaep())
        except ValueError as exc:
            raise HeaderError("an ssh-rsa stanza that does not decrypt") from exc
        if len(file_key) != FILE_KEY_SIZE:
            raise HeaderError("a file key of the wrong length")
        return file_key
