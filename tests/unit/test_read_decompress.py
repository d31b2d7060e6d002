"""``--decompress`` (``s3sink._read.decompress``): the codec from the Content-Type or the
magic bytes, round trips of what the upload side's compressors write, every corruption an
error (zstd's frame checksum, a stream cut short, trailing bytes), the last chunk held back
until the end checks out, and output bounded for a decompression bomb."""

from __future__ import annotations

import gzip
import io
import tracemalloc

import pytest
import zstandard

from s3sink._read.decompress import (
    DecompressError,
    DecompressingReader,
    NotCompressedError,
    detect_codec,
)
from s3sink._writer.compress import parse_compress
from tests.support.fakes import payload, text_like

DATA = payload(3 * 1024 * 1024) + text_like(5 * 1024 * 1024)
CHUNK = 256 * 1024


def _compressed(spec: str, data: bytes = DATA) -> bytes:
    """``data`` as the upload side's ``--compress SPEC`` stores it."""
    compressor = parse_compress(spec).compressor(None)
    try:
        return compressor.compress(memoryview(data)) + compressor.finish()
    finally:
        compressor.close()


def _read_all(blob: bytes, **kwargs: object) -> bytes:
    reader = DecompressingReader(io.BytesIO(blob), chunk=CHUNK, **kwargs)  # type: ignore[arg-type]
    return reader.read()


def _read_until_error(blob: bytes) -> tuple[bytes, DecompressError]:
    """What a consumer got before the read that raised, and the error."""
    reader = DecompressingReader(io.BytesIO(blob), chunk=CHUNK)
    got = bytearray()
    with pytest.raises(DecompressError) as caught:
        while chunk := reader.read(CHUNK):
            got += chunk
    return bytes(got), caught.value


@pytest.mark.parametrize("spec", ["zstd:1", "zstd:19", "gzip:1", "gzip:3", "gzip:6"])
def test_round_trip_of_the_upload_sides_compressors(spec: str) -> None:
    """What --compress wrote (ISA-L gzip, zlib gzip, multi-threaded zstd) reads back."""
    assert _read_all(_compressed(spec)) == DATA


@pytest.mark.parametrize(
    ("content_type", "head", "codec"),
    [
        ("application/zstd", b"", "zstd"),
        ("application/gzip; charset=binary", b"", "gzip"),
        ("application/octet-stream", b"\x28\xb5\x2f\xfd", "zstd"),
        (None, b"\x1f\x8b\x08\x00", "gzip"),
        (None, b"\x5a\x2a\x4d\x18", "zstd"),  # a skippable frame first
        ("text/plain", b"hello", None),
    ],
)
def test_codec_from_content_type_else_magic(
    content_type: str | None, head: bytes, codec: str | None
) -> None:
    """The Content-Type decides; without a known one, the first bytes."""
    assert detect_codec(content_type, head) == codec


def test_an_uncompressed_object_is_refused_before_any_output() -> None:
    """Neither zstd nor gzip: refused at once, naming the first bytes."""
    with pytest.raises(NotCompressedError, match="68 65 6c 6c"):
        DecompressingReader(io.BytesIO(b"hello world"))
    with pytest.raises(NotCompressedError, match="empty"):
        DecompressingReader(io.BytesIO(b""))


def test_zstd_frame_checksum_mismatch_fails_and_withholds_the_end() -> None:
    """A byte flipped in the frame's content checksum: the error comes, and the consumer
    never got all the content (the last chunk was held back)."""
    blob = bytearray(_compressed("zstd"))
    blob[-1] ^= 0x01
    got, error = _read_until_error(bytes(blob))
    assert "checksum" in str(error)
    assert len(got) < len(DATA)
    assert DATA.startswith(got)


def test_upload_side_zstd_writes_the_content_checksum() -> None:
    """--compress zstd sets the frame's Content_Checksum flag (what makes the check above
    possible), as the frame header's descriptor byte says."""
    params = zstandard.get_frame_parameters(_compressed("zstd"))
    assert params.has_checksum


@pytest.mark.parametrize("spec", ["zstd", "gzip"])
@pytest.mark.parametrize("cut", [1, 4, 1000])
def test_a_stream_cut_short_fails(spec: str, cut: int) -> None:
    """A stream missing its last bytes is an error, not a short success."""
    got, error = _read_until_error(_compressed(spec)[:-cut])
    assert "truncated" in str(error) or "checksum" in str(error)
    assert len(got) < len(DATA)


def test_zstd_without_checksum_cut_at_a_block_end_still_fails() -> None:
    """Without a content checksum, a frame cut after a whole block gives libzstd nothing
    to complain about: the frame scanner still says the frame ended early."""
    blob = zstandard.ZstdCompressor(write_checksum=False).compress(DATA)
    # The frame's last block header sits 3 bytes + its payload before the end; cut there.
    header_at = _last_block_header(blob)
    got, error = _read_until_error(blob[:header_at])
    assert "truncated" in str(error)
    assert len(got) < len(DATA)


def _last_block_header(frame: bytes) -> int:
    """Offset of the last block's header in a one-frame zstd stream without checksum."""
    descriptor = frame[4]
    single = (descriptor >> 5) & 1
    fcs = (1 if single else 0, 2, 4, 8)[descriptor >> 6]
    offset = 5 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3] + fcs
    while True:
        header = int.from_bytes(frame[offset : offset + 3], "little")
        size = 1 if (header >> 1) & 3 == 1 else header >> 3
        if header & 1:
            return offset
        offset += 3 + size


@pytest.mark.parametrize("spec", ["zstd", "gzip"])
def test_concatenated_streams_read_whole(spec: str) -> None:
    """Two frames (two gzip members) one after the other read as their concatenation."""
    small = text_like(300_000)
    assert _read_all(_compressed(spec, small) * 2) == small * 2


def test_zstd_skippable_frames_are_passed_over() -> None:
    """Skippable frames before and after the data frame are not content."""
    skippable = b"\x50\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"meta!"
    small = text_like(100_000)
    assert _read_all(skippable + _compressed("zstd", small) + skippable) == small


@pytest.mark.parametrize("spec", ["zstd", "gzip"])
def test_trailing_garbage_fails(spec: str) -> None:
    """Bytes after the last frame or member are an error (they are no part of the data)."""
    _, error = _read_until_error(_compressed(spec, text_like(50_000)) + b"junk")
    assert "after the last" in str(error)


def test_gzip_crc_mismatch_fails() -> None:
    """A flipped bit in a gzip member's CRC-32 trailer is an error."""
    blob = bytearray(gzip.compress(DATA, 1))
    blob[-6] ^= 0x01
    got, error = _read_until_error(bytes(blob))
    assert "gzip" in str(error)
    assert len(got) < len(DATA)


def test_content_type_zstd_on_other_bytes_fails() -> None:
    """A Content-Type that says zstd over bytes that are not: an error, not raw output."""
    with pytest.raises(DecompressError, match="no zstd frame"):
        _read_all(b"plain text, not zstd", content_type="application/zstd")


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_a_bomb_comes_out_in_bounded_chunks(codec: str) -> None:
    """256 MiB of zeros from a few hundred KiB of input: every read returns at most one chunk
    and the Python heap never grows past a few chunks (what is returned, what is held back)."""
    zeros = bytes(16 * 1024 * 1024)
    if codec == "zstd":
        compressor = zstandard.ZstdCompressor(level=19).compressobj()
        blob = b"".join(compressor.compress(zeros) for _ in range(16)) + compressor.flush()
    else:
        member = gzip.compress(zeros, 9)
        blob = member * 16
    assert len(blob) < 1024 * 1024
    del zeros
    buffer = bytearray(4 * CHUNK)
    total = 0
    tracemalloc.start()
    try:
        reader = DecompressingReader(io.BytesIO(blob), chunk=CHUNK)
        while n := reader.readinto(buffer):
            assert n <= CHUNK
            total += n
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 256 * 1024 * 1024
    assert peak < 8 * CHUNK
