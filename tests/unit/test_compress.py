"""Compression in the library (``compress=``): the spec parser, round trips through write(),
readinto_from() and write_file() for each codec, the zstd frame's checksum and content size,
the stored size and the source size, and a failing codec aborting the upload."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
import zstandard

import s3sink
from s3sink import CompressionError, State, UsageError
from s3sink._writer.compress import Compressor, CompressSpec, parse_compress
from tests.support.fakes import BUCKET, KEY, PART, URI, FakeS3, make_writer, payload, text_like


def decompress(codec: str, data: bytes) -> bytes:
    """The codec's own decompressor (the Python libraries: no CLI needed)."""
    if codec == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            return reader.read()
    return gzip.decompress(data)


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3."""
    return FakeS3()


# A multipart stream: random bytes do not compress, so the stored stream is still 3 parts.
MULTIPART = payload(12 * 1024 * 1024) + text_like(3 * 1024 * 1024)
SMALL = text_like(1024 * 1024)

CASES = [
    ("zstd:1", MULTIPART),
    ("zstd", MULTIPART),
    ("zstd:19", SMALL),
    ("gzip:1", MULTIPART),
    ("gzip", MULTIPART),
    ("gzip:6", SMALL),
    ("gzip:9", SMALL),
]


@pytest.mark.parametrize(
    ("spec", "level"),
    [("zstd", 3), ("ZSTD:19", 19), ("zstd:1", 1), ("gzip", 3), ("gzip:9", 9), (" gzip:1 ", 1)],
)
def test_specs_parse(spec: str, level: int) -> None:
    """A codec name, optionally with a level; zstd and gzip default to level 3."""
    parsed = parse_compress(spec)
    assert parsed.codec == spec.strip().lower().partition(":")[0]
    assert parsed.level == level


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("xz", "zstd[:1..19]"),
        ("zstd:0", "1..19"),
        ("zstd:20", "1..19"),
        ("zstd:-1", "1..19"),
        ("gzip:10", "1..9"),
        ("gzip:", "1..9"),
        ("gzip:fast", "1..9"),
        ("zstd:\uff13", "1..19"),  # a full-width digit is no level
        ("", "gzip[:1..9]"),
    ],
)
def test_bad_specs_name_the_valid_values(spec: str, named: str) -> None:
    """An unknown codec or a level out of range is a UsageError that says what is valid."""
    with pytest.raises(UsageError, match=named.replace("[", r"\[").replace(".", r"\.")):
        parse_compress(spec)


@pytest.mark.parametrize(("spec", "data"), CASES, ids=[c[0] for c in CASES])
def test_write_round_trips(fake: FakeS3, spec: str, data: bytes) -> None:
    """What is stored decompresses to exactly what was written; size is the stored bytes,
    source_size the bytes written."""
    with make_writer(fake, compress=spec) as writer:
        for start in range(0, len(data), 700_001):  # odd chunks, across part boundaries
            writer.write(data[start : start + 700_001])
        assert writer.bytes_written == len(data)
        assert writer.tell() == len(data)
    stored = fake.object_bytes(BUCKET, KEY)
    codec = parse_compress(spec).codec
    assert decompress(codec, stored) == data
    result = writer.result
    assert result.size == len(stored) == writer.bytes_stored
    assert result.source_size == len(data)
    assert result.compression == parse_compress(spec).name
    if data is MULTIPART:
        assert result.parts >= 2


@pytest.mark.parametrize(("spec", "data"), CASES[:2] + CASES[3:5], ids=["z1", "z", "g1", "g"])
def test_readinto_from_round_trips(fake: FakeS3, spec: str, data: bytes) -> None:
    """The pipe path (readinto_from) compresses too."""
    with make_writer(fake, compress=spec) as writer:
        assert writer.readinto_from(io.BytesIO(data)) == len(data)
    assert decompress(parse_compress(spec).codec, fake.object_bytes(BUCKET, KEY)) == data
    assert writer.result.source_size == len(data)


@pytest.mark.parametrize("spec", ["zstd", "gzip", "gzip:6"])
def test_upload_file_round_trips_and_zstd_frames_carry_size_and_checksum(
    fake: FakeS3, tmp_path: Path, spec: str
) -> None:
    """A file is read in order and compressed as a stream; a zstd frame then carries the
    file's size and, always, its content checksum."""
    data = MULTIPART if spec != "gzip:6" else SMALL
    path = tmp_path / "f.log"
    path.write_bytes(data)
    result = s3sink.upload_file(path, URI, transport=fake, part_size=PART, compress=spec)
    stored = fake.object_bytes(BUCKET, KEY)
    codec = parse_compress(spec).codec
    assert decompress(codec, stored) == data
    assert (result.size, result.source_size) == (len(stored), len(data))
    if codec == "zstd":
        frame = zstandard.get_frame_parameters(stored)
        assert frame.has_checksum
        assert frame.content_size == len(data)


def test_a_streamed_zstd_frame_carries_its_checksum(fake: FakeS3) -> None:
    """Without a known size the frame has no content size, but still its checksum, and a
    flipped byte in it is caught by decompression."""
    with make_writer(fake, compress="zstd") as writer:
        writer.write(SMALL)
    stored = bytearray(fake.object_bytes(BUCKET, KEY))
    frame = zstandard.get_frame_parameters(bytes(stored))
    assert frame.has_checksum
    assert frame.content_size == zstandard.CONTENTSIZE_UNKNOWN
    stored[-6] ^= 0xFF  # in the last block (the checksum is the last 4 bytes)
    with pytest.raises(zstandard.ZstdError):
        decompress("zstd", bytes(stored))


@pytest.mark.parametrize(
    ("spec", "given", "expected"),
    [
        ("zstd", None, "application/zstd"),
        ("gzip", None, "application/gzip"),
        ("zstd", "application/x-tar+zstd", "application/x-tar+zstd"),
    ],
)
def test_content_type_follows_the_codec_unless_given(
    fake: FakeS3, spec: str, given: str | None, expected: str
) -> None:
    """The codec's Content-Type unless extra_args names one; no Content-Encoding."""
    extra = {"ContentType": given} if given else None
    with make_writer(fake, compress=spec, extra_args=extra) as writer:
        writer.write(b"x" * 1000)
    stored = fake.objects[(BUCKET, KEY)]
    assert stored.extra.get("ContentType") == expected
    assert "ContentEncoding" not in stored.extra


def test_an_empty_stream_is_a_valid_empty_frame(fake: FakeS3) -> None:
    """Nothing written still stores a frame that decompresses to nothing."""
    with make_writer(fake, compress="zstd") as writer:
        pass
    stored = fake.object_bytes(BUCKET, KEY)
    assert stored
    assert decompress("zstd", stored) == b""
    assert writer.result.source_size == 0


class FailingCodec:
    """A codec whose compressor raises after ``after`` bytes (a corrupt-on-purpose codec)."""

    name = "broken:1"
    content_type = "application/octet-stream"

    def __init__(self, after: int, *, at_finish: bool = False) -> None:
        self.after = after
        self.at_finish = at_finish
        self.closed = 0

    def compressor(self, source_size: int | None) -> Compressor:
        codec = self

        class Broken:
            seen = 0

            def compress(self, data: memoryview) -> bytes:
                self.seen += data.nbytes
                if self.seen > codec.after:
                    raise RuntimeError("corrupt on purpose")
                return bytes(data)

            def finish(self) -> bytes:
                if codec.at_finish:
                    raise RuntimeError("corrupt on purpose, at the end")
                return b""

            def close(self) -> None:
                codec.closed += 1

        return Broken()


@pytest.mark.parametrize("at_finish", [False, True], ids=["mid-stream", "at-finish"])
def test_a_failing_compressor_aborts(fake: FakeS3, at_finish: bool) -> None:
    """A codec that raises after parts were sent fails the writer with CompressionError
    (chained to the codec's error); the upload is aborted, nothing is published, and the
    compressor is closed."""
    codec = FailingCodec(10**12 if at_finish else 3 * PART, at_finish=at_finish)
    writer = make_writer(fake, compress=codec)
    failed = pytest.raises(CompressionError, match="broken:1 compression failed")
    with failed as caught, writer:
        for _ in range(5):
            writer.write(payload(PART))
        fake.wait_for_calls("upload_part", 2)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert writer.state is State.ABORTED
    assert fake.count("upload_part") >= 2
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []
    assert codec.closed == 1


def test_compress_refuses_resumable(fake: FakeS3) -> None:
    """Resuming needs byte-identical parts, which multi-threaded zstd does not promise."""
    with pytest.raises(UsageError, match="resumable"):
        make_writer(fake, compress="zstd", resumable=True, journal_dir=os.devnull)


def test_adopt_first_part_refuses_compression(fake: FakeS3) -> None:
    """The mount's hand-over takes stored bytes: with compression it must write() instead."""
    writer = make_writer(fake, compress=CompressSpec("zstd", 1))
    with pytest.raises(ValueError, match="compress"):
        writer.adopt_first_part(bytearray(10))
    writer.abort()


def test_progress_lines_show_both_sizes_the_ratio_and_the_cap() -> None:
    """The plain line: bytes read, what they compressed to and the ratio, the cap; without
    compression the line is as before."""
    from s3sink._results import Progress
    from s3sink.cli._progress import format_line

    mib = 1024 * 1024
    snapshot = Progress(10 * mib, 5 * mib, 1, 1, 5 * mib, source_bytes=30 * mib)
    assert format_line(snapshot, 3.0, 20 * mib) == (
        "s3sink: 30 MiB read, 10 MiB compressed (3.0x), 5 MiB sent, 1.7 MiB/s "
        "(cap 20 MiB/s), parts 1 done / 1 in flight, 3s"
    )
    plain = Progress(30 * mib, 20 * mib, 4, 2, 5 * mib)
    assert format_line(plain, 3.0) == (
        "s3sink: 30 MiB read, 20 MiB sent, 6.7 MiB/s, parts 4 done / 2 in flight, 3s"
    )


def test_the_bar_shows_both_sizes_the_ratio_and_the_cap() -> None:
    """The terminal line: uploaded (in source bytes) / total → compressed (ratio), and the
    cap after the rate of what was sent."""
    from s3sink._results import Progress
    from s3sink.cli._bar import fit_line

    mib = 1024 * 1024
    snapshot = Progress(10 * mib, 5 * mib, 1, 1, 5 * mib, source_bytes=30 * mib)
    line = fit_line(200, "s3://b/k", snapshot, 3.0, 60 * mib, cap=20 * mib).plain
    assert "15 MiB / 60 MiB → 10 MiB (3.0x)" in line
    assert "1.7 MiB/s (cap 20 MiB/s)" in line


def test_compress_takes_a_spec_or_a_codec(fake: FakeS3) -> None:
    """Anything but a spec string or a codec object is a TypeError, before any I/O."""
    with pytest.raises(TypeError, match="compress must be"):
        make_writer(fake, compress=3)
    with pytest.raises(UsageError, match="invalid compression"):
        make_writer(fake, compress="lz4")
    assert fake.ops() == []
