"""Whole-object checksums: per-part digests combined across parts equal an independent
computation over the whole stream (zlib, the crc32c package, hashlib, a reference CRC64)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import zlib

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._store.checksums import ALGORITHMS, Checksummer, encode, resolve_algorithm
from s3sink.errors import UsageError

CRCS = ("crc64nvme", "crc32c", "crc32")


def _crc64nvme_table() -> list[int]:
    poly = 0x9A6C9329AC4BC9B5  # CRC-64/NVME, reflected
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc64nvme_table()


def crc64nvme_reference(data: bytes) -> int:
    """A table-driven CRC-64/NVME, to check awscrt's use without trusting awscrt."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def whole(algorithm: str, data: bytes) -> str:
    """The full-object value S3 reports, computed without s3sink."""
    if algorithm == "crc64nvme":
        from awscrt import checksums

        return encode(checksums.crc64nvme(data).to_bytes(8, "big"))
    if algorithm == "crc32c":
        return encode(crc32c.crc32c(data).to_bytes(4, "big"))
    if algorithm == "crc32":
        return encode(zlib.crc32(data).to_bytes(4, "big"))
    raise AssertionError(algorithm)


def composite_sha256(parts: list[bytes]) -> str:
    """S3's COMPOSITE SHA-256: sha256 of the concatenated part digests, then ``-N``."""
    digests = b"".join(hashlib.sha256(p).digest() for p in parts)
    return base64.b64encode(hashlib.sha256(digests).digest()).decode() + f"-{len(parts)}"


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets."""
    bounds = [0, *sorted({min(c, len(data)) for c in cuts}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def combined(algorithm: str, parts: list[bytes]) -> str:
    """What the writer computes: a digest per part, then the combination."""
    checksummer = Checksummer(algorithm)  # type: ignore[arg-type]
    return checksummer.combine([(checksummer.digest(p), len(p)) for p in parts])


def test_crc64nvme_check_value() -> None:
    """CRC-64/NVME of "123456789" is the catalogued check value, big-endian."""
    digest = Checksummer("crc64nvme").digest(b"123456789")
    assert digest == bytes.fromhex("ae8b14860a799888")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_crc64nvme_matches_reference(data: bytes) -> None:
    """The digest equals an independent table-driven CRC-64/NVME."""
    assert Checksummer("crc64nvme").digest(data) == crc64nvme_reference(data).to_bytes(8, "big")


@pytest.mark.parametrize("algorithm", CRCS)
@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=8))
def test_combined_crc_equals_whole_object_crc(algorithm: str, data: bytes, cuts: list[int]) -> None:
    """For any split into parts, combining part CRCs gives the CRC of the whole stream."""
    assert combined(algorithm, split(data, cuts)) == whole(algorithm, data)


@pytest.mark.parametrize("algorithm", CRCS)
def test_combined_crc_on_large_random_parts(algorithm: str) -> None:
    """Multi-MiB parts of uneven size combine to the whole stream's CRC."""
    rng = random.Random(7)
    data = rng.randbytes(3 * 1024 * 1024 + 17)
    parts = split(data, [1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 + 5])
    assert combined(algorithm, parts) == whole(algorithm, data)


PART = 64


@pytest.mark.parametrize("algorithm", CRCS)
@pytest.mark.parametrize(
    "length", [0, 1, PART - 1, PART, PART + 1, 2 * PART, 2 * PART + 1], ids=lambda n: f"len{n}"
)
def test_part_boundaries(algorithm: str, length: int) -> None:
    """Empty, 1 byte, exactly a part, part+1 and so on all combine correctly."""
    data = bytes(range(256)) * 2
    data = data[:length]
    parts = [data[i : i + PART] for i in range(0, length, PART)] or [b""]
    assert combined(algorithm, parts) == whole(algorithm, data)


@pytest.mark.parametrize("algorithm", CRCS)
def test_empty_parts_are_neutral(algorithm: str) -> None:
    """Zero-length parts (and no parts at all) do not change the combination."""
    data = b"hello, world"
    assert combined(algorithm, [b"", data[:5], b"", data[5:], b""]) == whole(algorithm, data)
    assert combined(algorithm, []) == whole(algorithm, b"")


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=2048), cuts=st.lists(st.integers(0, 2048), max_size=6))
def test_sha256_is_composite_with_part_count(data: bytes, cuts: list[int]) -> None:
    """SHA-256 has no combination rule: the value is S3's COMPOSITE form ending in -N."""
    parts = split(data, cuts)
    assert combined("sha256", parts) == composite_sha256(parts)


def test_sha256_digest_is_plain_sha256() -> None:
    """A part's SHA-256 digest is hashlib's."""
    assert Checksummer("sha256").digest(b"abc") == hashlib.sha256(b"abc").digest()


@pytest.mark.parametrize(
    ("algorithm", "param", "checksum_type"),
    [
        ("crc64nvme", "ChecksumCRC64NVME", "FULL_OBJECT"),
        ("crc32c", "ChecksumCRC32C", "FULL_OBJECT"),
        ("crc32", "ChecksumCRC32", "FULL_OBJECT"),
        ("sha256", "ChecksumSHA256", "COMPOSITE"),
    ],
)
def test_parameter_names_and_types(algorithm: str, param: str, checksum_type: str) -> None:
    """Each algorithm maps to botocore's parameter name and S3's checksum type."""
    checksummer = Checksummer(algorithm)  # type: ignore[arg-type]
    assert checksummer.param == param
    assert checksummer.boto_name == param.removeprefix("Checksum")
    assert checksummer.checksum_type == checksum_type


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        (None, None),
        ("off", None),
        ("OFF", None),
        ("none", None),
        ("", None),
        ("CRC64NVME", "crc64nvme"),
        ("crc32c", "crc32c"),
        ("Crc32", "crc32"),
        ("sha256", "sha256"),
    ],
)
def test_resolve_algorithm(given_name: str | None, expected: str | None) -> None:
    """Names are case-insensitive; off/none/empty mean no checksum."""
    assert resolve_algorithm(given_name) == expected


def test_unknown_algorithm_is_a_usage_error() -> None:
    """An unknown name is a UsageError listing the choices."""
    with pytest.raises(UsageError, match="md5") as info:
        resolve_algorithm("md5")
    for name in ALGORITHMS:
        assert name in str(info.value)


def test_encode_is_base64_of_big_endian_bytes() -> None:
    """encode() is S3's header form: base64 of the raw bytes."""
    assert encode(bytes.fromhex("ae8b14860a799888")) == "rosUhgp5mIg="


@pytest.mark.parametrize("algorithm", [*CRCS, "sha256"])
@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=8))
def test_running_checksum_equals_the_digest_of_the_whole(
    algorithm: str, data: bytes, cuts: list[int]
) -> None:
    """Folded in chunk by chunk (as bytes land in a part buffer), the checksum is the
    part's digest, and ``covered`` counts every byte."""
    checksummer = Checksummer(algorithm)  # type: ignore[arg-type]
    running = checksummer.running()
    for chunk in split(data, cuts):
        running.update(memoryview(chunk))
    assert running.covered == len(data)
    assert running.digest() == checksummer.digest(data)
