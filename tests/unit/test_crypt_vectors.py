"""The age project's test vectors (C2SP CCTV, vendored in age_vectors/): every one whose
features s3sink implements decrypts, or fails the way it says, with exactly the plaintext it
says released before the failure."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from s3sink._crypt import Decryptor
from s3sink._crypt.files import parse_identity
from s3sink.errors import DecryptError, NoIdentityError

VECTORS = Path(__file__).parent / "age_vectors"

# The vectors of CCTV's age/testdata not vendored, and why (armor, hybrid and scrypt
# recipients are features s3sink does not implement; an object of theirs fails to decrypt
# with "no identity matches" or as a malformed header).
SKIPPED = {
    "armor_*": "ASCII armor (PEM) is not decoded: objects are stored binary",
    "hybrid_*": "ML-KEM-768 + X25519 (post-quantum) recipients are not implemented",
    "scrypt_*": "passphrase (scrypt) files are refused (no identity matches); only "
    "scrypt_and_x25519 is run: a scrypt stanza beside another is a header failure",
}
# A final chunk followed by more bytes: the reference implementation hands over the final
# chunk's plaintext, then fails on the bytes after it; s3sink hands over no byte of a final
# chunk before the end of the stream is proven (``Decryptor.finish``), so it releases one
# chunk less: only whole non-final chunks.
STRICTER = {
    "stream_trailing_garbage_long",
    "stream_trailing_garbage_short",
    "stream_two_final_chunks",
    "stream_two_final_chunks_full",
    "stream_two_final_chunks_second",
}
# What each failure looks like through the API (the vectors' README: "header failure" and
# "HMAC failure" and "payload failure" are DecryptError, told apart by their message).
FAILURES = {
    "header failure": (DecryptError, "header is malformed"),
    "HMAC failure": (DecryptError, "MAC does not match"),
    "payload failure": (DecryptError, "payload"),
    "no match": (NoIdentityError, "no identity matches"),
}


def _load(path: Path) -> tuple[dict[str, list[str]], bytes]:
    raw = path.read_bytes()
    text, _, body = raw.partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in text.decode().splitlines():
        name, _, value = line.partition(": ")
        fields.setdefault(name, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return fields, body


@pytest.mark.parametrize("path", sorted(VECTORS.glob("[!R]*")), ids=lambda p: p.name)
def test_vector(path: Path) -> None:
    """The vector's expectation holds, fed 4 KiB at a time (so each update releases at most
    one chunk), and the plaintext released matches its hash."""
    fields, body = _load(path)
    expect = fields["expect"][0]
    decryptor = Decryptor([parse_identity(text) for text in fields.get("identity", [])])
    released = bytearray()
    failure: Exception | None = None
    try:
        for at in range(0, len(body), 4096):
            released += decryptor.update(body[at : at + 4096])
        released += decryptor.finish()
    except (DecryptError, NoIdentityError) as exc:
        failure = exc
    if failure is None:
        assert expect == "success"
    else:
        kind, words = FAILURES[expect]
        assert isinstance(failure, kind), failure
        assert words in str(failure)
    if path.name in STRICTER:
        assert expect == "payload failure"
        assert len(released) % (64 << 10) == 0
        assert hashlib.sha256(released).hexdigest() != fields["payload"][0]
    elif "payload" in fields:
        assert hashlib.sha256(released).hexdigest() == fields["payload"][0]


def test_vendored_set_is_complete() -> None:
    """All 68 vendored vectors are here (a lost file would silently shrink the test)."""
    assert len(list(VECTORS.glob("[!R]*"))) == 68
