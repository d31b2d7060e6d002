"""The age format (``s3sink._crypt``): round trips at every 64 KiB boundary and for any way
the stream is cut into calls, every recipient type, sizes known in advance, recipients and
identity files parsed as age reads them, and every tampering an error. Interoperability
with the ``age`` binary is in tests/cli/test_crypt_age.py; the published vectors in
test_crypt_vectors.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._crypt import (
    AGE_MAGIC,
    Decryptor,
    Encryptor,
    Identity,
    Recipient,
    bech32,
    looks_like_age,
    parse_recipient,
    read_identities,
    read_recipients_file,
)
from s3sink._crypt.keys import X25519Identity
from s3sink._crypt.stream import _into
from s3sink.errors import DecryptError, IdentityError, NoIdentityError, RecipientError

CHUNK = 64 * 1024
SECRET = bytes(range(32))


def _x25519_pair(secret: bytes = SECRET) -> tuple[Recipient, Identity, str]:
    identity = X25519Identity(secret)
    text = bech32.encode("age-secret-key-", secret).upper()
    return parse_recipient(bech32.encode("age", identity.public)), identity, text


RECIPIENT, IDENTITY, IDENTITY_TEXT = _x25519_pair()


def _encrypt(data: bytes, recipients: list[Recipient], cuts: list[int] | None = None) -> bytes:
    encryptor = Encryptor(recipients)
    out = bytearray()
    last = 0
    for cut in sorted(cuts or []):
        out += encryptor.update(data[last:cut])
        last = cut
    out += encryptor.update(memoryview(data)[last:])
    out += encryptor.finish()
    return bytes(out)


def _decrypt(blob: bytes, identities: list[Identity], step: int = 1 << 20) -> bytes:
    decryptor = Decryptor(identities)
    out = bytearray()
    for at in range(0, len(blob), step):
        out += decryptor.update(blob[at : at + step])
    return bytes(out + decryptor.finish())


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    """Plaintexts around the 64 KiB chunk size come back; the ciphertext's size is the
    plaintext's plus ``overhead`` exactly (an empty plaintext is one empty final chunk)."""
    data = os.urandom(size)
    encryptor = Encryptor([RECIPIENT])
    blob = encryptor.update(data) + encryptor.finish()
    assert len(blob) == size + encryptor.overhead(size)
    assert looks_like_age(blob)
    assert _decrypt(blob, [IDENTITY]) == data


@settings(max_examples=40, deadline=None)
@given(
    size=st.sampled_from([0, 1, 65535, 65536, 65537, 131072, 200_000]),
    cuts=st.lists(st.integers(0, 200_000), max_size=6),
    step=st.sampled_from([1, 15, 16, 4096, 65552, 65553, 1 << 20]),
)
def test_round_trip_any_cuts(size: int, cuts: list[int], step: int) -> None:
    """However the plaintext is cut into ``update`` calls and the ciphertext fed to the
    decryptor, the bytes come back whole and in order."""
    data = os.urandom(size)
    blob = _encrypt(data, [RECIPIENT], [c for c in cuts if c <= size])
    step = min(step, 4096) if size > 65536 and step == 1 else step
    assert _decrypt(blob, [IDENTITY], step) == data


def test_update_holds_the_last_chunk_back() -> None:
    """``update`` never emits the chunk that may be the last; ``finish`` does, and refuses
    a second call, as ``update`` after it."""
    encryptor = Encryptor([RECIPIENT])
    head = encryptor.update(b"x" * CHUNK)
    assert head.startswith(AGE_MAGIC)
    assert len(head) == encryptor.overhead(CHUNK) - 16  # header and nonce, no chunk
    assert len(encryptor.update(b"y")) == CHUNK + 16
    encryptor.finish()
    with pytest.raises(ValueError, match="after finish"):
        encryptor.update(b"z")
    with pytest.raises(ValueError, match="twice"):
        encryptor.finish()


def test_finish_alone_writes_the_header() -> None:
    """An encryptor never given data still writes a whole age file (empty plaintext)."""
    encryptor = Encryptor([RECIPIENT])
    blob = encryptor.finish()
    assert len(blob) == encryptor.overhead(0)
    assert _decrypt(blob, [IDENTITY]) == b""


def test_decryptor_never_releases_the_final_chunk_before_finish() -> None:
    """Fed the whole file, ``update`` returns the non-final chunks only."""
    data = os.urandom(2 * CHUNK + 10)
    decryptor = Decryptor([IDENTITY])
    assert decryptor.update(_encrypt(data, [RECIPIENT])) == data[: 2 * CHUNK]
    assert decryptor.finish() == data[2 * CHUNK :]


def _ed25519() -> tuple[Recipient, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return parse_recipient(line.decode() + " someone@host"), pem


def _rsa(bits: int = 2048) -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return line.decode(), pem


def test_ssh_recipients_and_several_at_once(tmp_path: Path) -> None:
    """ssh-ed25519 and ssh-rsa keys (OpenSSH files) decrypt a file encrypted to them and
    to an X25519 recipient; each identity alone suffices; a stranger's does not."""
    ed_recipient, ed_pem = _ed25519()
    rsa_line, rsa_pem = _rsa()
    (tmp_path / "ed").write_bytes(ed_pem)
    (tmp_path / "rsa").write_bytes(rsa_pem)
    data = os.urandom(CHUNK + 3)
    blob = _encrypt(data, [ed_recipient, parse_recipient(rsa_line), RECIPIENT])
    assert _decrypt(blob, read_identities(tmp_path / "ed")) == data
    assert _decrypt(blob, read_identities(tmp_path / "rsa")) == data
    assert _decrypt(blob, [IDENTITY]) == data
    with pytest.raises(NoIdentityError, match="no identity matches"):
        _decrypt(blob, [_x25519_pair(os.urandom(32))[1]])


def test_rsa_shorter_than_2048_bits_is_refused() -> None:
    """As age: a 1024-bit RSA key is no recipient."""
    line, _ = _rsa(1024)
    with pytest.raises(RecipientError, match="2048"):
        parse_recipient(line)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("age1qqqq", "malformed"),
        (bech32.encode("age", b"\x01" * 31), "not 32 bytes"),
        (bech32.encode("age1pq", b"\x01" * 32), "post-quantum"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not supported"),
        ("ssh-ed25519 AAAA!!!", "malformed"),
        ("hello", "not a recipient"),
        (IDENTITY_TEXT, "secret key"),
    ],
)
def test_bad_recipients(text: str, words: str) -> None:
    """Each bad recipient is a RecipientError (a UsageError: exit 2) that says why and
    never repeats a key."""
    with pytest.raises(RecipientError, match=words) as caught:
        parse_recipient(text)
    assert IDENTITY_TEXT not in str(caught.value)


def test_recipients_file(tmp_path: Path) -> None:
    """One recipient a line, comments and blank lines skipped, as ``age -R``; a bad line
    named by file and line number."""
    rsa_line, _ = _rsa()
    path = tmp_path / "recipients"
    path.write_text(f"# team\n\n{RECIPIENT}\n  {rsa_line} ops\n")
    assert [r.kind for r in read_recipients_file(path)] == ["X25519", "ssh-rsa"]
    path.write_text(f"{RECIPIENT}\n# x\nnonsense\n")
    with pytest.raises(RecipientError, match=r"recipients:3: not a recipient"):
        read_recipients_file(path)
    path.write_text("# nobody\n")
    with pytest.raises(RecipientError, match="no recipients"):
        read_recipients_file(path)
    with pytest.raises(RecipientError, match="No such file"):
        read_recipients_file(tmp_path / "missing")


def test_identity_file_as_age_keygen_writes_it(tmp_path: Path) -> None:
    """Comments and several keys; each key is tried."""
    other, _, other_text = _x25519_pair(os.urandom(32))
    path = tmp_path / "keys.txt"
    path.write_text(
        f"# created: 2026-12-05\n# public key: {RECIPIENT}\n{IDENTITY_TEXT}\n\n{other_text}\n"
    )
    identities = read_identities(path)
    assert len(identities) == 2
    data = b"several keys"
    assert _decrypt(_encrypt(data, [other]), identities) == data


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "no identities"),
        (b"# only a comment\n", "no identities"),
        (b"AGE-SECRET-KEY-1QQQQ\n", r"keys:1: a malformed identity"),
        (b"AGE-PLUGIN-YUBIKEY-1QQQQ\n", "plugin"),
        (b"age1foo\n", "not an identity"),
        (b"\xff\xfe", "not a text file"),
        (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "not a readable SSH private key",
        ),
        (AGE_MAGIC + b"-> X25519 abc\n", "encrypted identity file"),
    ],
)
def test_bad_identity_files(tmp_path: Path, content: bytes, words: str) -> None:
    """Each unusable identity file is an IdentityError that says why, naming the file."""
    path = tmp_path / "keys"
    path.write_bytes(content)
    with pytest.raises(IdentityError, match=words):
        read_identities(path)


def test_secrets_stay_out_of_reprs_and_messages(tmp_path: Path) -> None:
    """Neither an identity's repr nor a decryptor's shows a secret."""
    path = tmp_path / "keys"
    path.write_text(IDENTITY_TEXT + "\n")
    (identity,) = read_identities(path)
    assert SECRET.hex() not in repr(identity)
    assert IDENTITY_TEXT.lower() not in repr(identity).lower()
    assert "X25519" in repr(identity)
    assert "key" not in repr(Decryptor([identity])).lower()


def _flip(blob: bytes, at: int) -> bytes:
    mutable = bytearray(blob)
    mutable[at] ^= 0x01
    return bytes(mutable)


def test_every_tampering_fails() -> None:
    """A flipped bit in the MAC, the nonce, any chunk or the final tag, a cut, or bytes
    appended: DecryptError. A flip inside a stanza unwraps no file key: no identity
    matches (as age says too)."""
    data = os.urandom(2 * CHUNK + 100)
    blob = _encrypt(data, [RECIPIENT])
    header = blob.index(b"\n---") + 48
    share = bytearray(blob)
    share[40] = ord("A") if share[40] != ord("A") else ord("B")  # another valid share
    with pytest.raises(NoIdentityError):
        _decrypt(bytes(share), [IDENTITY])
    variants = [_flip(blob, at) for at in (header - 5, header + 3, header + 20)]
    variants += [_flip(blob, len(blob) - 1), blob[:-1], blob[: header + 16 + CHUNK + 16]]
    variants += [blob + b"\x00", blob[: header + 8]]
    for variant in variants:
        with pytest.raises(DecryptError):
            _decrypt(variant, [IDENTITY], step=4096)


def test_error_is_final() -> None:
    """After a failure the decryptor stays failed: no later call succeeds."""
    decryptor = Decryptor([IDENTITY])
    with pytest.raises(DecryptError):
        decryptor.update(b"age-encryption.org/v2\n" + b"x" * 100)
    with pytest.raises(DecryptError, match="already failed"):
        decryptor.finish()


def test_not_age_and_looks_like_age() -> None:
    """Only the exact version line is age."""
    assert looks_like_age(AGE_MAGIC + b"-> X25519")
    assert not looks_like_age(b"age-encryption.org/v2\n")
    assert not looks_like_age(b"\x28\xb5\x2f\xfd")


def test_header_that_never_ends_is_refused() -> None:
    """A header with no MAC line after 1 MiB is refused rather than buffered forever."""
    decryptor = Decryptor([IDENTITY])
    with pytest.raises(DecryptError, match="does not end"):
        decryptor.update(AGE_MAGIC + b"-> X25519 " + b"A" * (2 << 20))


def test_scrypt_is_refused_clearly() -> None:
    """A passphrase-encrypted file: no identity matches, and the message says why."""
    blob = _encrypt(b"x", [RECIPIENT]).replace(b"-> X25519", b"-> scrypt", 1)
    with pytest.raises(NoIdentityError, match="passphrase"):
        _decrypt(blob, [IDENTITY])


class _OldAead:
    """cryptography before encrypt_into: only the allocating methods."""

    def encrypt(self, nonce: bytes, data: bytes, aad: None) -> bytes:
        return bytes(data) + nonce[:4]


def test_copying_fallback_for_old_cryptography() -> None:
    """Without ``encrypt_into``, the allocating method's output is copied into place."""
    out = bytearray(7)
    _into(_OldAead(), "encrypt")(b"abcdefghijkl", memoryview(b"xyz"), memoryview(out))  # type: ignore[arg-type]
    assert out == b"xyzabcd"


def test_update_view_is_update_without_the_copy() -> None:
    """``update_view`` (both sides) gives the bytes ``update`` would, as a view into one
    reused buffer: a round trip through views only is whole."""
    data = os.urandom(5 * CHUNK + 123)
    encryptor = Encryptor([RECIPIENT])
    blob = bytearray()
    for at in range(0, len(data), 2 * CHUNK):
        blob += encryptor.update_view(data[at : at + 2 * CHUNK])
    blob += encryptor.finish()
    decryptor = Decryptor([IDENTITY])
    plain = bytearray()
    for at in range(0, len(blob), 3 * CHUNK):
        view = decryptor.update_view(bytes(blob[at : at + 3 * CHUNK]))
        assert isinstance(view, memoryview)
        plain += view
    assert bytes(plain + decryptor.finish()) == data
