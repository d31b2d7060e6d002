"""encrypt_to on the writer: what is stored is an age file the recipients' identities open
(decrypted here with s3sink's own age reader; tests/cli checks it with the age binary),
after compression; part sizes, checksums and size are of the ciphertext; a bad recipient is
refused at construction; no resume; the command's options resolved before anything runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import s3sink
from s3sink._crypt import Decryptor, Identity, looks_like_age, parse_recipient
from s3sink._crypt.files import parse_identity, read_identities
from s3sink._writer.encrypt import stored_size_hint
from s3sink.cli._settings import SinkOptions, writer_options
from s3sink.errors import RecipientError, UsageError
from tests.support.fakes import BUCKET, KEY, PART, URI, FakeS3, make_writer, payload

# A throwaway pair made for these tests (age-keygen, 2026-12-05): not a secret.
PUBLIC = "age1dgjus9vwh2h26fmy3epes3ts6qu0dq5m3kt2gxkkeyj3yepfk3dq6wvq2t"
SECRET = "AGE-SECRET-KEY-1X2A72AH36MLGYC05JULU824EHT4L2AA288EKKV6L3DW7V8K8QZFSDQPW05"  # noqa: S105  # a test key
CHUNK = 64 * 1024


def ssh_pair(tmp_path: Path) -> tuple[str, list[Identity]]:
    """An ssh-ed25519 recipient line and its identity, as ssh-keygen would write them."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path = tmp_path / "id_ed25519"
    path.write_bytes(private)
    return public.decode() + " test@host", read_identities(path)


def decrypt(data: bytes, identities: list[Identity]) -> bytes:
    decryptor = Decryptor(identities)
    return decryptor.update(data) + decryptor.finish()


@pytest.fixture
def fake() -> FakeS3:
    return FakeS3()


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK, 3 * CHUNK + 1, PART, 2 * PART + 7]
)
def test_the_stored_object_is_an_age_file_of_what_was_written(fake: FakeS3, size: int) -> None:
    """Any size (empty, chunk boundaries, several parts): the stored bytes are an age file
    whose plaintext is the input; size, parts and checksum are the ciphertext's."""
    data = payload(size, seed=size)
    with make_writer(fake, encrypt_to=[PUBLIC], part_size=PART) as writer:
        for start in range(0, len(data), 700_001):
            writer.write(data[start : start + 700_001])
        assert writer.bytes_written == len(data)
    stored = fake.object_bytes(BUCKET, KEY)
    assert looks_like_age(stored)
    assert decrypt(stored, [parse_identity(SECRET)]) == data
    result = writer.result
    assert (result.size, result.source_size) == (len(stored), len(data))
    assert (result.encryption, result.recipients) == ("age", 1)
    assert len(stored) <= stored_size_hint(len(data))
    assert result.parts == max(1, -(-len(stored) // PART))


def test_every_recipient_can_decrypt(fake: FakeS3, tmp_path: Path) -> None:
    """X25519 and ssh-ed25519 recipients together: each identity alone opens the object."""
    ssh_public, ssh_identities = ssh_pair(tmp_path)
    data = payload(PART + 3)
    with make_writer(fake, encrypt_to=[PUBLIC, parse_recipient(ssh_public)]) as writer:
        assert writer.readinto_from(io.BytesIO(data)) == len(data)
    stored = fake.object_bytes(BUCKET, KEY)
    assert decrypt(stored, [parse_identity(SECRET)]) == data
    assert decrypt(stored, ssh_identities) == data
    assert writer.result.recipients == 2


def test_compress_then_encrypt(fake: FakeS3, tmp_path: Path) -> None:
    """compress and encrypt_to: an age file whose plaintext is a zstd frame; upload_file
    of a file streams through both."""
    data = b"row,value\n" * 300_000
    path = tmp_path / "dump.csv"
    path.write_bytes(data)
    result = s3sink.upload_file(
        path, URI, transport=fake, part_size=PART, compress="zstd", encrypt_to=[PUBLIC]
    )
    stored = fake.object_bytes(BUCKET, KEY)
    frame = decrypt(stored, [parse_identity(SECRET)])
    assert zstandard.ZstdDecompressor().decompress(frame) == data
    assert (result.compression, result.encryption) == ("zstd:3", "age")
    assert result.size == len(stored) < len(data)


def test_upload_file_of_a_multipart_file_is_encrypted(fake: FakeS3, tmp_path: Path) -> None:
    """A file of several parts (read in order through the encryptor, not in parallel)."""
    data = payload(2 * PART + CHUNK)
    path = tmp_path / "big"
    path.write_bytes(data)
    result = s3sink.upload_file(path, URI, transport=fake, part_size=PART, encrypt_to=[PUBLIC])
    stored = fake.object_bytes(BUCKET, KEY)
    assert decrypt(stored, [parse_identity(SECRET)]) == data
    assert result.parts == 3


@pytest.mark.parametrize(
    ("encrypt_to", "error", "match"),
    [
        (["age1notakey"], RecipientError, "malformed"),
        ([SECRET], RecipientError, "secret key"),
        ([], UsageError, "encrypt_to is empty"),
        (PUBLIC, TypeError, "a list of recipients"),
        ([b"age1"], TypeError, "str or a Recipient"),
    ],
)
def test_a_bad_recipient_is_refused_when_the_writer_is_made(
    fake: FakeS3, encrypt_to: object, error: type[Exception], match: str
) -> None:
    """Before any byte: nothing reaches the store."""
    with pytest.raises(error, match=match):
        make_writer(fake, encrypt_to=encrypt_to)
    assert fake.calls == []


def test_encryption_refuses_resumable(fake: FakeS3) -> None:
    """Every upload has a new file key, which is not kept: no resume."""
    with pytest.raises(UsageError, match="encrypt_to cannot be combined with resumable"):
        make_writer(fake, encrypt_to=[PUBLIC], resumable=True)


def test_adopt_first_part_refuses_encryption(fake: FakeS3) -> None:
    """The mount's hand-over takes stored bytes: not for an encrypting writer."""
    writer = make_writer(fake, encrypt_to=[PUBLIC])
    with pytest.raises(ValueError, match="not with compress or encrypt_to"):
        writer.adopt_first_part(bytearray(b"x"))
    writer.abort()


def test_the_sink_options_resolve_recipients(tmp_path: Path) -> None:
    """--encrypt-to and --encrypt-to-file (comments, blank lines) add up; a bad one is
    named by its place, not shown (a secret key pasted by mistake); --resumable refused."""
    listing = tmp_path / "recipients"
    listing.write_text(f"# backups\n\n{PUBLIC}\n")
    opts = SinkOptions(uri="s3://b/k", encrypt_to=(PUBLIC,), encrypt_to_file=(str(listing),))
    assert len(writer_options(opts)["encrypt_to"]) == 2
    assert writer_options(SinkOptions(uri="s3://b/k"))["encrypt_to"] is None
    bad = SinkOptions(uri="s3://b/k", encrypt_to=(PUBLIC, SECRET))
    with pytest.raises(RecipientError, match="recipient 2 given") as caught:
        writer_options(bad)
    assert SECRET not in str(caught.value)
    listing.write_text("age1bad\n")
    with pytest.raises(RecipientError, match="--encrypt-to-file"):
        writer_options(SinkOptions(uri="s3://b/k", encrypt_to_file=(str(listing),)))
    kept = SinkOptions(uri="s3://b/k", encrypt_to=(PUBLIC,), resumable=True)
    with pytest.raises(UsageError, match="--encrypt-to cannot be combined with --resumable"):
        writer_options(kept)
