"""The age header (age-encryption.org/v1): the version line, recipient stanzas, the MAC.

Parsing is strict, as the specification asks: LF line ends only, canonical unpadded base64,
64-column body lines ending with a short one, a MAC line of exactly 43 base64 characters."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .magic import AGE_MAGIC

# No sane header comes near this (an RSA-16384 stanza is about 3 KiB); a stream that has not
# ended its header by then is refused rather than buffered.
MAX_HEADER = 1 << 20
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_COLUMNS = 64


class HeaderError(ValueError):
    """The header does not parse (a "header failure" in the age test vectors)."""


def b64encode(data: bytes) -> str:
    """Unpadded standard base64."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(text: str | bytes) -> bytes:
    """Canonical unpadded standard base64 only (no ``=``, no stray bits, no other bytes)."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    if any(c not in _B64_CHARS for c in raw) or len(raw) % 4 == 1:
        raise HeaderError("not canonical unpadded base64")
    try:
        data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except binascii.Error as exc:
        raise HeaderError("not canonical unpadded base64") from exc
    if base64.b64encode(data).rstrip(b"=") != raw:
        raise HeaderError("not canonical unpadded base64")
    return data


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 with 32 bytes of output (an empty salt is HKDF's default salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(ikm)


@dataclass(frozen=True)
class Stanza:
    """One recipient stanza: its type, its other arguments, its body."""

    type: str
    args: tuple[str, ...]
    body: bytes = field(repr=False)

    def encode(self) -> bytes:
        text = b64encode(self.body)
        lines = [text[i : i + _COLUMNS] for i in range(0, len(text), _COLUMNS)]
        if not lines or len(lines[-1]) == _COLUMNS:
            lines.append("")
        head = " ".join(("->", self.type, *self.args))
        return ("\n".join([head, *lines]) + "\n").encode("ascii")


@dataclass(frozen=True)
class Header:
    """A parsed header: the stanzas, the MAC, and the bytes the MAC covers."""

    stanzas: tuple[Stanza, ...]
    mac: bytes = field(repr=False)
    covered: bytes = field(repr=False)  # from the version line up to and including "---"

    def mac_matches(self, file_key: bytes) -> bool:
        return hmac.compare_digest(header_mac(file_key, self.covered), self.mac)


def header_mac(file_key: bytes, covered: bytes) -> bytes:
    return hmac.digest(hkdf(file_key, b"", b"header"), covered, sha256)


def encode_header(file_key: bytes, stanzas: list[Stanza]) -> bytes:
    """The header for ``stanzas``, MAC included, ending with its LF."""
    covered = AGE_MAGIC + b"".join(s.encode() for s in stanzas) + b"---"
    return covered + b" " + b64encode(header_mac(file_key, covered)).encode("ascii") + b"\n"


def header_length(data: bytes | bytearray) -> int | None:
    """The length of the header at the start of ``data``, or None when it has not ended yet.

    Only a MAC line starts with "-" after an LF (stanzas start with "->", bodies are
    base64), so the header ends at the first LF after the first "\\n---"."""
    start = data.find(b"\n---")
    if start < 0:
        return None
    end = data.find(b"\n", start + 1)
    return None if end < 0 else end + 1


def _argument_ok(arg: bytes) -> bool:
    return bool(arg) and all(0x21 <= c <= 0x7E for c in arg)


def parse_header(data: bytes) -> Header:
    """``data``: exactly one header as ``header_length`` delimits it."""
    if not data.startswith(AGE_MAGIC):
        raise HeaderError("not an age-encryption.org/v1 file")
    lines = data[len(AGE_MAGIC) :].split(b"\n")
    if lines[-1] != b"":
        raise HeaderError("the header does not end with a line feed")
    lines.pop()
    stanzas: list[Stanza] = []
    i = 0
    while i < len(lines) and lines[i].startswith(b"-> "):
        args = lines[i][3:].split(b" ")
        if not all(_argument_ok(a) for a in args):
            raise HeaderError("a stanza with an empty or invalid argument")
        i += 1
        body = bytearray()
        while True:
            if i >= len(lines) or lines[i].startswith(b"-"):
                raise HeaderError("a stanza without its final short body line")
            line = lines[i]
            i += 1
            if len(line) > _COLUMNS:
                raise HeaderError("a stanza body line longer than 64 columns")
            body += line
            if len(line) < _COLUMNS:
                break
        decoded = b64decode(bytes(body))
        names = [a.decode("ascii") for a in args]
        stanzas.append(Stanza(names[0], tuple(names[1:]), decoded))
    if not stanzas:
        raise HeaderError("a header without recipient stanzas")
    if i != len(lines) - 1:
        raise HeaderError("a line that is neither a stanza nor the MAC")
    mac_line = lines[i]
    if not mac_line.startswith(b"--- ") or len(mac_line) != 4 + 43:
        raise HeaderError("a malformed MAC line")
    mac = b64decode(mac_line[4:])
    covered = data[: len(data) - len(mac_line) - 1 + 3]
    return Header(tuple(stanzas), mac, covered)
