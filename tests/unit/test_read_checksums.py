"""The checksums a reader computes (``Digest``) and combines (``combine_crc``), against
independent implementations (zlib, the crc32c package, awscrt, hashlib)."""

from __future__ import annotations

import hashlib
import zlib

import crc32c
import pytest
from awscrt import checksums as crt

from s3sink._store.checksums import Digest, combine_crc, crc_bytes, digest_of, is_crc
from tests.support.fakes import payload

DATA = payload(300_001, seed=7)
EXPECTED = {
    "crc64nvme": crt.crc64nvme(DATA).to_bytes(8, "big"),
    "crc32c": crc32c.crc32c(DATA).to_bytes(4, "big"),
    "crc32": zlib.crc32(DATA).to_bytes(4, "big"),
    "sha256": hashlib.sha256(DATA).digest(),
    "sha1": hashlib.sha1(DATA).digest(),  # noqa: S324
    "md5": hashlib.md5(DATA).digest(),  # noqa: S324
}


@pytest.mark.parametrize("algorithm", sorted(EXPECTED))
def test_digest_fed_in_chunks_is_the_digest_of_the_whole(algorithm: str) -> None:
    """A Digest fed chunk by chunk (memoryviews of uneven sizes) gives the digest of all the
    bytes, and counts them."""
    digest = Digest(algorithm)  # type: ignore[arg-type]
    view = memoryview(DATA)
    for start in range(0, len(DATA), 65_537):
        digest.update(view[start : start + 65_537])
    assert digest.digest() == EXPECTED[algorithm]
    assert digest.length == len(DATA)
    assert digest_of(algorithm, DATA) == EXPECTED[algorithm]  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["crc64nvme", "crc32c", "crc32"])
def test_crcs_of_ranges_combine_into_the_crc_of_the_object(algorithm: str) -> None:
    """CRC(A+B+C) from the CRCs of A, B, C and their lengths, in order, starting from 0 (the
    CRC of nothing), as a reader combines its ranges."""
    assert is_crc(algorithm)
    total = 0
    for start in range(0, len(DATA), 100_000):
        piece = Digest(algorithm)  # type: ignore[arg-type]
        piece.update(DATA[start : start + 100_000])
        total = combine_crc(algorithm, total, piece.value, piece.length)
    assert crc_bytes(algorithm, total) == EXPECTED[algorithm]


def test_hashes_do_not_combine() -> None:
    """SHA-256, SHA-1 and MD5 are no CRCs: a reader feeds them in order instead."""
    assert not any(is_crc(name) for name in ("sha256", "sha1", "md5"))
