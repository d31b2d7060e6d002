"""The library's ``identity=`` against moto: ``s3sink.open(uri, "rb", identity=...)`` and
``download_file(..., identity=...)`` decrypt age objects (with ``decompress=True`` too), a
wrong identity fails before any byte is returned, and an altered ciphertext raises
DecryptError from the read of its last bytes while ``download_file`` leaves no file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import zstandard

import s3sink
from s3sink._crypt import Encryptor, parse_recipient
from s3sink._crypt.bech32 import encode
from s3sink._crypt.keys import X25519Identity
from s3sink.errors import DecryptError, NoIdentityError
from tests.support.fakes import MiB, payload

DATA = payload(6 * MiB + 11, seed=26)


def _identity(tmp_path: Path, name: str) -> tuple[Path, Any]:
    secret = os.urandom(32)
    path = tmp_path / name
    path.write_text("# test key\n" + encode("age-secret-key-", secret).upper() + "\n")
    return path, parse_recipient(encode("age", X25519Identity(secret).public))


def _put(client: Any, bucket: str, key: str, data: bytes, recipient: Any) -> bytes:
    encryptor = Encryptor([recipient])
    blob = encryptor.update(data) + encryptor.finish()
    with s3sink.open(f"s3://{bucket}/{key}", "wb", client=client, part_size=5 * MiB) as w:
        w.write(blob)
    return blob


def test_open_rb_with_identity_reads_the_plaintext(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """``identity=`` (a path, or a list): the plaintext; ``result.encryption`` is "age"."""
    path, recipient = _identity(tmp_path, "key")
    _put(s3_client, bucket, "k.age", DATA, recipient)
    for identity in (path, [str(path)]):
        with s3sink.open(f"s3://{bucket}/k.age", "rb", client=s3_client, identity=identity) as f:
            assert isinstance(f, s3sink.DecryptedReader)
            assert f.read() == DATA
            assert f.result is not None
            assert (f.result.encryption, f.result.verified) == ("age", True)


def test_open_rb_with_identity_and_decompress(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    """Decrypted, then decompressed (the codec from the plaintext's magic)."""
    path, recipient = _identity(tmp_path, "key")
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(DATA)
    _put(s3_client, bucket, "k.zst.age", frame, recipient)
    with s3sink.open(
        f"s3://{bucket}/k.zst.age", "rb", client=s3_client, identity=path, decompress=True
    ) as f:
        assert f.read() == DATA
        assert f.codec == "zstd"


def test_a_wrong_identity_fails_at_open(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    """NoIdentityError from ``open`` itself, naming the object."""
    _, recipient = _identity(tmp_path, "key")
    stranger, _ = _identity(tmp_path, "stranger")
    _put(s3_client, bucket, "k.age", DATA, recipient)
    with pytest.raises(NoIdentityError, match="no identity matches") as caught:
        s3sink.open(f"s3://{bucket}/k.age", "rb", client=s3_client, identity=stranger)
    assert caught.value.key == "k.age"


def test_an_altered_ciphertext_never_reads_to_a_clean_end(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A flipped bit stored with its own checksum: reads return a strict prefix, then
    DecryptError (an IntegrityError); download_file leaves the path as it was."""
    path, recipient = _identity(tmp_path, "key")
    encryptor = Encryptor([recipient])
    blob = bytearray(encryptor.update(DATA) + encryptor.finish())
    blob[-100] ^= 1  # in the final chunk
    with s3sink.open(f"s3://{bucket}/t.age", "wb", client=s3_client) as w:
        w.write(blob)
    got = bytearray()
    with (
        s3sink.open(f"s3://{bucket}/t.age", "rb", client=s3_client, identity=path) as f,
        pytest.raises(s3sink.IntegrityError) as caught,
    ):
        while chunk := f.read(1 << 20):
            got += chunk
    assert isinstance(caught.value, DecryptError)
    assert got == DATA[: len(got)]
    assert len(got) < len(DATA)
    target = tmp_path / "restored"
    target.write_bytes(b"old")
    with pytest.raises(DecryptError):
        s3sink.download_file(f"s3://{bucket}/t.age", target, client=s3_client, identity=path)
    assert target.read_bytes() == b"old"


def test_download_file_with_identity(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    """The file holds the plaintext; the result says "age"."""
    path, recipient = _identity(tmp_path, "key")
    _put(s3_client, bucket, "k.age", DATA, recipient)
    target = tmp_path / "out"
    result = s3sink.download_file(f"s3://{bucket}/k.age", target, client=s3_client, identity=path)
    assert target.read_bytes() == DATA
    assert result.encryption == "age"
