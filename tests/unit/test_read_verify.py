"""What a reader checks an object against (``choose_check``) and the check itself
(``Verifier``), against values computed independently (hashlib, zlib, the crc32c package,
awscrt): every shape a store may report, ranges cut across parts."""

from __future__ import annotations

import base64
import hashlib
import itertools
import zlib

import crc32c
import pytest
from awscrt import checksums as crt

from s3sink._read.plan import iter_ranges
from s3sink._read.verify import Check, Verifier, choose_check
from s3sink._store.checksums import Digest
from s3sink._store.transport import ObjectHead
from tests.support.fakes import payload

DATA = payload(100_003, seed=11)
PARTS = [40_000, 40_000, 20_003]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324


def part_bytes(parts: list[int] = PARTS) -> list[bytes]:
    bounds = list(itertools.accumulate(parts, initial=0))
    return [DATA[a:b] for a, b in itertools.pairwise(bounds)]


def head(checksums: dict[str, str], etag: str = '"x"', **fields: object) -> ObjectHead:
    return ObjectHead(etag=etag, size=len(DATA), version_id=None, checksums=checksums, **fields)  # type: ignore[arg-type]


def run(check: Check, *, part_size: int, parts: list[int] | None = None, data: bytes = DATA):
    """Feed ``data`` through a Verifier as the reader does: worker digests, then in order."""
    verifier = Verifier(check, parts=len(parts) if parts else 1)
    for rng in iter_ranges(len(data), part_size, part_sizes=parts if check.per_part else None):
        view = memoryview(data)[rng.start : rng.end]
        algorithm = verifier.worker_algorithm(rng)
        digest = None
        if algorithm is not None:
            digest = Digest(algorithm)
            digest.update(view)
        verifier.deliver(rng, view, digest)
    return verifier.verdict()


FULL = {
    "ChecksumCRC64NVME": b64(crt.crc64nvme(DATA).to_bytes(8, "big")),
    "ChecksumCRC32C": b64(crc32c.crc32c(DATA).to_bytes(4, "big")),
    "ChecksumCRC32": b64(zlib.crc32(DATA).to_bytes(4, "big")),
    "ChecksumSHA256": b64(hashlib.sha256(DATA).digest()),
    "ChecksumSHA1": b64(hashlib.sha1(DATA).digest()),  # noqa: S324
}


@pytest.mark.parametrize("param", sorted(FULL))
@pytest.mark.parametrize("part_size", [7_001, 200_000])
def test_a_full_object_checksum_is_checked_over_any_ranges(param: str, part_size: int) -> None:
    """A FULL_OBJECT CRC (combined from the ranges) or a single PutObject's SHA (fed in
    order, or digested whole when one range holds it) matches; one byte off does not."""
    check = choose_check(head({param: FULL[param]}, checksum_type="FULL_OBJECT"))
    assert check.by == "checksum-full-object"
    verdict = run(check, part_size=part_size)
    assert verdict.ok
    assert verdict.computed == FULL[param]
    bad = bytearray(DATA)
    bad[-1] ^= 1
    assert not run(check, part_size=part_size, data=bytes(bad)).ok


def composite(param: str, digest: object, suffix: bool) -> str:
    parts = b"".join(digest(p) for p in part_bytes())  # type: ignore[operator]
    value = b64(digest(parts))  # type: ignore[operator]
    return f"{value}-{len(PARTS)}" if suffix else value


COMPOSITE_DIGESTS = {
    "ChecksumSHA256": lambda b: hashlib.sha256(b).digest(),
    "ChecksumCRC32C": lambda b: crc32c.crc32c(b).to_bytes(4, "big"),
    "ChecksumCRC32": lambda b: zlib.crc32(b).to_bytes(4, "big"),
}


@pytest.mark.parametrize("param", sorted(COMPOSITE_DIGESTS))
@pytest.mark.parametrize("suffix", [True, False], ids=["aws-N", "moto"])
@pytest.mark.parametrize("part_size", [15_000, 40_000, 1_000_000])
def test_a_composite_checksum_is_checked_part_by_part(
    param: str, suffix: bool, part_size: int
) -> None:
    """A COMPOSITE checksum (``-N`` as AWS writes it, or bare with ChecksumType COMPOSITE as
    moto does): each part's digest (its ranges combined, fed in order, or whole), then the
    digest of the digests."""
    stored = composite(param, COMPOSITE_DIGESTS[param], suffix)
    check = choose_check(head({param: stored}, checksum_type="COMPOSITE"))
    assert check.by == "checksum-composite"
    verdict = run(check, part_size=part_size, parts=PARTS)
    assert verdict.ok, (verdict.computed, stored)
    assert verdict.computed == stored
    assert not run(check, part_size=part_size, parts=[40_000, 40_001, 20_002]).ok


def test_a_single_put_etag_is_the_md5_of_the_bytes() -> None:
    """No checksum stored: a plain ETag is the MD5 of the object."""
    check = choose_check(head({}, etag=f'"{md5(DATA).hex()}"'))
    assert (check.by, check.algorithm, check.parts) == ("etag-md5", "md5", None)
    assert run(check, part_size=30_000).ok
    assert run(check, part_size=200_000).ok


@pytest.mark.parametrize("part_size", [15_000, 1_000_000])
def test_a_multipart_etag_is_the_md5_of_the_parts_md5s(part_size: int) -> None:
    """No checksum: ``md5(md5(part1) + ...)-N``, part by part."""
    etag = f'"{md5(b"".join(md5(p) for p in part_bytes())).hex()}-3"'
    check = choose_check(head({}, etag=etag))
    assert (check.by, check.parts) == ("etag-md5", 3)
    assert run(check, part_size=part_size, parts=PARTS).ok
    assert not run(check, part_size=part_size, parts=[50_000, 30_000, 20_003]).ok


def test_an_empty_part_has_the_digest_of_nothing() -> None:
    """A 0-byte part (no range reads it) still counts in a multipart ETag."""
    parts = [60_000, 0, 40_003]
    digests = [md5(DATA[:60_000]), md5(b""), md5(DATA[60_000:])]
    check = choose_check(head({}, etag=f'"{md5(b"".join(digests)).hex()}-3"'))
    assert run(check, part_size=25_000, parts=parts).ok


def test_nothing_to_check_against_says_why() -> None:
    """SSE-KMS (the ETag is no MD5) or another store's ETag: no check, and the reason."""
    kms = choose_check(head({}, etag=f'"{md5(DATA).hex()}"', etag_is_md5=False))
    assert kms.by is None
    assert "SSE-KMS" in (kms.why_not or "")
    other = choose_check(head({}, etag='"not-an-md5"'))
    assert other.by is None
    assert "no MD5" in (other.why_not or "")
    assert not run(other, part_size=10_000).ok


def test_a_checksum_wins_over_the_etag() -> None:
    """With both, the stored checksum is what is checked."""
    check = choose_check(
        head({"ChecksumCRC32": FULL["ChecksumCRC32"]}, etag=f'"{md5(DATA).hex()}"')
    )
    assert (check.by, check.algorithm) == ("checksum-full-object", "crc32")
