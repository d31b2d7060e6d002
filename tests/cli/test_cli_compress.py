"""``--compress`` end to end: the installed command against the moto server on 127.0.0.1, in
pipe, exec, file and fifo mode, each object decompressed with the Python libraries and
compared; failures (a producer, a corrupt-on-purpose compressor) publish nothing; bad values
exit 2 before anything is read or started."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard
from awscrt import checksums

from tests.support.clirun import (
    S3SINK,
    TIMEOUT,
    assert_nothing_written,
    body,
    error_lines,
    pattern,
    pending,
)
from tests.support.clirun import run_cli as run
from tests.support.fakes import text_like

MiB = 1024 * 1024

# Incompressible bytes first, so that even compressed the stream is several 5 MiB parts.
BIG = pattern(8 * MiB) + text_like(6 * MiB)
SMALL = text_like(3 * MiB)


def decompress(codec: str, data: bytes) -> bytes:
    if codec == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            return reader.read()
    return gzip.decompress(data)


@pytest.fixture
def endpoint(s3_client: Any) -> str:
    """The (reset) moto server's endpoint URL."""
    url: str = s3_client.meta.endpoint_url
    return url


SPECS = ["zstd:1", "zstd", "zstd:19", "gzip:1", "gzip", "gzip:9"]


@pytest.mark.parametrize("mode", ["pipe", "exec", "file"])
@pytest.mark.parametrize("spec", SPECS)
def test_round_trip(
    env: dict[str, str],
    endpoint: str,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    spec: str,
    mode: str,
) -> None:
    """Each codec and level, in each mode: the object decompresses to the input; --json
    reports the stored size and the source size, and the checksum of the stored bytes; the
    Content-Type is the codec's."""
    data = SMALL if spec in ("zstd:19", "gzip:9") else BIG
    source = tmp_path / "input.log"
    source.write_bytes(data)
    args = [f"s3://{bucket}/out", "--endpoint-url", endpoint, "--part-size", "5MiB", "--json",
            "--compress", spec]  # fmt: skip
    if mode == "pipe":
        result = run(args, env, data=data)
    elif mode == "exec":
        result = run([*args, "--", "cat", str(source)], env)
    else:
        result = run([*args, "--file", str(source)], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    stored = body(s3_client, bucket, "out")
    codec = spec.partition(":")[0]
    assert decompress(codec, stored) == data
    assert report["size"] == len(stored)
    assert report["source_size"] == len(data)
    # The whole-object checksum is the stored (compressed) bytes'.
    crc = base64.b64encode(checksums.crc64nvme(stored).to_bytes(8, "big")).decode()
    assert (report["checksum_algorithm"], report["checksum"]) == ("crc64nvme", crc)
    assert report["compression"] == (spec if ":" in spec else f"{spec}:3")
    head = s3_client.head_object(Bucket=bucket, Key="out")
    assert head["ContentType"] == f"application/{codec}"
    assert "ContentEncoding" not in head
    if data is BIG:
        assert report["parts"] >= 2
    if codec == "zstd" and mode == "file":
        assert zstandard.get_frame_parameters(stored).content_size == len(data)
    assert pending(s3_client, bucket) == []


def test_fifo_mode_with_content_type(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A FIFO's stream is compressed too; --content-type replaces the codec's."""
    source = tmp_path / "input.log"
    source.write_bytes(BIG)
    fifo = tmp_path / "pipe"
    result = run(
        [f"s3://{bucket}/f.zst", "--endpoint-url", endpoint, "--part-size", "5MiB",
         "--compress", "zstd", "--content-type", "application/x-ndjson",
         "--fifo", str(fifo), "--", "sh", "-c", f'cat "{source}" > "{fifo}"'],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert decompress("zstd", body(s3_client, bucket, "f.zst")) == BIG
    head = s3_client.head_object(Bucket=bucket, Key="f.zst")
    assert head["ContentType"] == "application/x-ndjson"


def test_summary_and_progress_show_both_sizes_the_ratio_and_the_cap(
    env: dict[str, str], endpoint: str, bucket: str
) -> None:
    """Progress lines show bytes read, compressed bytes with the ratio, and the cap; the
    summary names the codec, the bytes read and the ratio."""
    result = run(
        [f"s3://{bucket}/p.zst", "--endpoint-url", endpoint, "--part-size", "5MiB",
         "--compress", "zstd", "--rate-limit", "4MiB/s", "--progress",
         "--progress-interval", "0.2"],
        env,
        data=BIG,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = result.stderr.decode()
    lines = [line for line in text.splitlines() if " in flight, " in line]
    assert lines, text
    assert any(" compressed (" in line and "x), " in line for line in lines), lines
    assert all("(cap 4 MiB/s)" in line for line in lines), lines
    summary = text.splitlines()[-1]
    assert "(zstd:3 of 14 MiB read, " in summary, summary


def test_a_producer_that_fails_after_writing_publishes_nothing(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """Exec mode with --compress: a command that wrote 30 MiB and exits 3 → exit 123, no
    object, no pending upload. (Multi-threaded zstd may still hold all of it in its jobs,
    so whether a part was sent before the exit is not asserted.)"""
    code = (
        "import os, sys, time; sys.stdout.buffer.write(os.urandom(30 << 20)); "
        "sys.stdout.flush(); time.sleep(0.5); sys.exit(3)"
    )
    result = run(
        [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--part-size", "5MiB",
         "--compress", "zstd", "--", sys.executable, "-c", code],
        env,
    )  # fmt: skip
    assert result.returncode == 123
    assert b"exited with status 3; " in result.stderr
    assert_nothing_written(s3_client, bucket)


# s3sink's main() with every compressor failing once 30 MiB went in: a corrupt-on-purpose
# codec in a real process (argv[1:] are s3sink's arguments).
BROKEN_CODEC_MAIN = """
import sys
from s3sink._writer import compress as _compress
from s3sink.cli import main

real = _compress.CompressSpec.compressor

class Broken:
    def __init__(self, inner):
        self.inner, self.seen = inner, 0
    def compress(self, data):
        self.seen += data.nbytes
        if self.seen > 30 << 20:
            raise ValueError("corrupt on purpose")
        return self.inner.compress(data)
    def finish(self):
        return self.inner.finish()
    def close(self):
        self.inner.close()

_compress.CompressSpec.compressor = lambda self, size: Broken(real(self, size))
main(sys.argv[1:])
"""


@pytest.mark.parametrize("mode", ["exec", "file"])
def test_a_failing_compressor_aborts(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str, tmp_path: Path, mode: str
) -> None:
    """A compressor that raises after parts were sent: exit 1 with a line naming the codec's
    error, the upload aborted, nothing published."""
    source = tmp_path / "random.bin"
    source.write_bytes(pattern(40 * MiB))  # zstd:1 has sent parts by 30 MiB in
    args = [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--part-size", "5MiB",
            "--compress", "zstd:1"]  # fmt: skip
    args += ["--", "cat", str(source)] if mode == "exec" else ["--file", str(source)]
    result = subprocess.run(
        [sys.executable, "-c", BROKEN_CODEC_MAIN, *args],
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr
    errors = error_lines(result.stderr)
    assert errors == [
        f"s3sink: error: s3://{bucket}/k: zstd:1 compression failed: ValueError: corrupt on "
        "purpose; the upload was aborted and nothing was written"
    ], result.stderr
    assert_nothing_written(s3_client, bucket)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--compress", "xz"], "expected zstd[:1..19]"),
        (["--compress", "zstd:0"], "expected 1..19"),
        (["--compress", "gzip:10"], "expected 1..9"),
        (["--rate-limit", "0"], "at least 1 KiB/s"),
        (["--rate-limit", "fast"], "expected a rate like 50MiB/s"),
        (["--rate-limit", "50MiB/h"], "expected a rate like"),
        (["--rate-limit", "-5MiB/s"], "expected a rate like"),
        (["--compress", "zstd", "--resumable"], "--compress cannot be combined with"),
        (["--compress", "gzip", "--resume"], "--compress cannot be combined with"),
    ],
)
def test_bad_values_exit_2_before_anything_is_read(
    env: dict[str, str],
    endpoint: str,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    option: list[str],
    message: str,
) -> None:
    """A bad --compress or --rate-limit: exit 2 naming the valid values; the command is
    never started and nothing reaches the store."""
    marker = tmp_path / "started"
    result = subprocess.run(
        [*S3SINK, f"s3://{bucket}/k", "--endpoint-url", endpoint, *option,
         "--", "touch", str(marker)],
        capture_output=True, env=env, timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.decode(), result.stderr
    assert not marker.exists()
    assert_nothing_written(s3_client, bucket)
    assert not os.path.exists(marker)
