"""The synthetic object of the read table: its bytes, and its CRC64NVME without reading them.

An object of any size is one 1 MiB block of pseudo-random bytes (SHAKE-256 of a fixed seed,
the same in every process and Python) repeated, cut at the size: byte ``p`` is
``block()[p % BLOCK]``. The discard server serves it from that block (``discard_server``'s
``reads``) and the read table's consumer (``readsink.py``) checks every byte it receives
against it. The object's CRC64NVME, the checksum the server stores for it, comes from the
block's CRC and the CRC combine rule (zlib's ``crc32_combine``, for CRC-64/NVME): no pass
over a gibibyte, and no awscrt needed in the server's Python.

Imported by the discard server (as ``benchlib.synthetic_data``) and by ``readsink.py`` (by its
bare name, from this folder): it imports nothing but the standard library.
"""

from __future__ import annotations

import base64
import functools
import hashlib

BLOCK = 1024 * 1024
_SEED = b"s3sink bench synthetic object v1"
# CRC-64/NVME: reflected, polynomial 0xAD93D23594C93659 (reversed below), init and
# xorout all ones; check value of b"123456789": 0xAE8B14860A799888.
_POLY = 0x9A6C9329AC4BC9B5
_MASK = (1 << 64) - 1


@functools.cache
def block() -> bytes:
    """The 1 MiB the object repeats."""
    return hashlib.shake_256(_SEED).digest(BLOCK)


@functools.cache
def _table() -> tuple[int, ...]:
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


def crc64nvme(data: bytes, crc: int = 0) -> int:
    """CRC-64/NVME of ``data``, continuing from ``crc`` (0: the start). Pure Python: about
    a second per 5 MiB, for the block and tests only."""
    table = _table()
    crc ^= _MASK
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK


def _times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, matrix[n]) for n in range(64)]


def combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-64/NVME of A + B from A's CRC, B's and B's length (zlib's crc32_combine)."""
    if length2 <= 0:
        return crc1
    odd = [_POLY] + [1 << n for n in range(63)]  # one zero bit
    even = _square(odd)  # two
    odd = _square(even)  # four
    while True:
        even = _square(odd)  # eight: one zero byte, then doubling each round
        if length2 & 1:
            crc1 = _times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _square(even)
        if length2 & 1:
            crc1 = _times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


@functools.cache
def _block_crc() -> int:
    return crc64nvme(block())


def object_crc64nvme(size: int) -> int:
    """CRC-64/NVME of the synthetic object of ``size`` bytes."""
    whole, rest = divmod(size, BLOCK)
    crc, unit, unit_length = 0, _block_crc(), BLOCK  # unit: the CRC of 2^k blocks
    while whole:
        if whole & 1:
            crc = combine(crc, unit, unit_length)
        whole >>= 1
        if whole:
            unit = combine(unit, unit, unit_length)
            unit_length *= 2
    return combine(crc, crc64nvme(block()[:rest]), rest)


def as_header(crc: int) -> str:
    """A CRC-64/NVME as S3 writes it: base64 of its 8 bytes, big-endian."""
    return base64.b64encode(crc.to_bytes(8, "big")).decode()


def md5_of_range(start: int, length: int) -> bytes:
    """The binary MD5 of the object's bytes [start, start + length)."""
    digest = hashlib.md5(usedforsecurity=False)
    data = block()
    offset = start % BLOCK
    while length:
        take = min(length, BLOCK - offset)
        digest.update(data[offset : offset + take])
        length -= take
        offset = 0
    return digest.digest()
