"""``s3sink get`` and ``s3sink verify`` in this process (typer's CliRunner) against moto: trees
restored with their directory markers, hostile keys refused and reported while the rest is
restored, existing files refused without --overwrite, a corrupted object never written and
exit 5, the recursive summary, and --decompress round trips of what --compress wrote (a
corrupted zstd frame failing)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import zstandard
from typer.testing import CliRunner, Result

import s3sink
from s3sink.cli._cat import cat_app
from s3sink.cli._get import get_app
from s3sink.cli._verify import verify_app
from tests.support.fakes import MiB, b64, payload

DATA = payload(11 * MiB + 5)  # three parts of 5 MiB
REFUSED = "s3sink: error: refused "


def run(app: Any, *args: str) -> Result:
    """Run ``s3sink get|verify ARGS`` in this process."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def upload(client: Any, uri: str, data: bytes, **options: Any) -> None:
    """``data`` at ``uri`` through s3sink's writer (5 MiB parts)."""
    options.setdefault("part_size", 5 * MiB)
    with s3sink.open(uri, "wb", client=client, **options) as writer:
        writer.write(data)


def wrong_stored_checksum(client: Any, bucket: str, key: str, data: bytes) -> None:
    """An object whose stored CRC64NVME is not its bytes' (moto keeps what PutObject claims
    when x-amz-sdk-checksum-algorithm comes with it)."""
    client.put_object(
        Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="CRC64NVME",
        ChecksumCRC64NVME=b64(b"\x01" * 8),
    )  # fmt: skip


def temporaries(root: Path) -> list[Path]:
    """Temporary files left anywhere below ``root``."""
    return [p for p in root.rglob("*") if p.name.endswith(".s3sink-tmp")]


@pytest.fixture
def endpoint(aws_env: None, s3_client: Any) -> str:
    """The moto endpoint, with this process's environment made safe for the command."""
    return str(s3_client.meta.endpoint_url)


def test_get_restores_a_tree_with_its_markers(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """Every object below the prefix at DIR/relative-key with its bytes, a multipart one too;
    a marker becomes an (empty) directory; keys beside the prefix are left out."""
    upload(s3_client, f"s3://{bucket}/base/big.bin", DATA)
    upload(s3_client, f"s3://{bucket}/base/sub/deeper/small.txt", b"small")
    s3_client.put_object(Bucket=bucket, Key="base/pg_notify/", Body=b"")
    s3_client.put_object(Bucket=bucket, Key="base/", Body=b"")
    s3_client.put_object(Bucket=bucket, Key="based-elsewhere", Body=b"no")
    target = tmp_path / "restore"
    result = run(get_app, f"s3://{bucket}/base/", str(target), "--endpoint-url", endpoint,
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (target / "big.bin").read_bytes() == DATA
    assert (target / "sub/deeper/small.txt").read_bytes() == b"small"
    assert (target / "pg_notify").is_dir()
    assert sorted(p.name for p in target.iterdir()) == ["big.bin", "pg_notify", "sub"]
    record = json.loads(result.stdout)
    assert record["ok"] is True
    assert record["summary"]["restored"] == 2
    assert all(r["verified"] for r in record["restored"])
    assert temporaries(tmp_path) == []


def test_hostile_keys_are_refused_and_the_rest_restored(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """`..` segments, a leading slash, `a/../../b`, a NUL byte, a file where a directory is
    needed and a symbolic link in DIR pointing out: each refused and named, exit 1, nothing
    written outside DIR, every other key restored."""
    hostile = [
        "t/../escape", "t//abs", "t/a/../../b", "t/nul\x00byte", "t/clash", "t/link/x",
    ]  # fmt: skip
    for key in [*hostile, "t/clash/inner", "t/ok.txt"]:
        s3_client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "dir"
    target.mkdir()
    (target / "link").symlink_to(outside)
    result = run(get_app, f"s3://{bucket}/t/", str(target), "--endpoint-url", endpoint)
    assert result.exit_code == 1, result.stderr
    refused = [line for line in result.stderr.splitlines() if line.startswith(REFUSED)]
    assert len(refused) == len(hostile)
    for key in hostile:
        assert any(f"/{key}" in line or repr(key)[1:-1] in line for line in refused), key
    assert "6 refused, 0 failed" in result.stderr.splitlines()[-1]
    assert (target / "ok.txt").read_bytes() == b"t/ok.txt"
    assert (target / "clash/inner").read_bytes() == b"t/clash/inner"
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "b").exists()
    assert temporaries(tmp_path) == []


def test_existing_files_are_refused_without_overwrite(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """An existing file is refused (exit 1) and left as it was; --overwrite replaces it."""
    s3_client.put_object(Bucket=bucket, Key="t/f", Body=b"from the store")
    (tmp_path / "f").write_bytes(b"mine")
    refused = run(get_app, f"s3://{bucket}/t/", str(tmp_path), "--endpoint-url", endpoint)
    assert refused.exit_code == 1
    assert "--overwrite" in refused.stderr
    assert (tmp_path / "f").read_bytes() == b"mine"
    single = run(get_app, f"s3://{bucket}/t/f", str(tmp_path / "f"), "--endpoint-url", endpoint)
    assert single.exit_code == 1
    assert (tmp_path / "f").read_bytes() == b"mine"
    replaced = run(get_app, f"s3://{bucket}/t/", str(tmp_path), "--endpoint-url", endpoint,
                   "--overwrite")  # fmt: skip
    assert replaced.exit_code == 0, replaced.stderr
    assert (tmp_path / "f").read_bytes() == b"from the store"


def test_a_corrupted_object_is_never_written(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A stored checksum that does not match: exit 5, no file at PATH (an existing one kept),
    no temporary file; in a tree, the good files are restored and the run exits 5."""
    wrong_stored_checksum(s3_client, bucket, "t/bad.bin", b"x" * 100_000)
    s3_client.put_object(Bucket=bucket, Key="t/good.bin", Body=b"fine")
    path = tmp_path / "bad.bin"
    path.write_bytes(b"yesterday")
    single = run(get_app, f"s3://{bucket}/t/bad.bin", str(path), "--endpoint-url", endpoint,
                 "--overwrite")  # fmt: skip
    assert single.exit_code == 5
    assert path.read_bytes() == b"yesterday"
    tree = run(get_app, f"s3://{bucket}/t/", str(tmp_path / "tree"), "--endpoint-url", endpoint)
    assert tree.exit_code == 5
    assert "CORRUPT" in tree.stderr
    assert (tmp_path / "tree/good.bin").read_bytes() == b"fine"
    assert not (tmp_path / "tree/bad.bin").exists()
    assert temporaries(tmp_path) == []


def test_verify_a_good_and_a_corrupted_object(endpoint: str, s3_client: Any, bucket: str) -> None:
    """verify: exit 0 with how it was verified; exit 5 for a stored checksum that does not
    match, with the stored and computed values in --json."""
    upload(s3_client, f"s3://{bucket}/good", DATA)
    wrong_stored_checksum(s3_client, bucket, "bad", b"y" * 4096)
    good = run(verify_app, f"s3://{bucket}/good", "--endpoint-url", endpoint, "--json")
    assert good.exit_code == 0, good.stderr
    record = json.loads(good.stdout)
    assert record["status"] == "ok"
    assert record["verified"] is True
    assert record["verified_by"] == "checksum-full-object"
    assert record["size"] == len(DATA)
    bad = run(verify_app, f"s3://{bucket}/bad", "--endpoint-url", endpoint, "--json")
    assert bad.exit_code == 5
    record = json.loads(bad.stdout)
    assert record["status"] == "corrupt"
    assert record["stored"] == b64(b"\x01" * 8)
    assert record["computed"] != record["stored"]
    plain = run(verify_app, f"s3://{bucket}/bad", "--endpoint-url", endpoint)
    assert plain.exit_code == 5
    assert plain.stderr.startswith("s3sink: error: ")


def test_verify_recursive_lines_and_summary(endpoint: str, s3_client: Any, bucket: str) -> None:
    """--recursive: a line per object and a summary on stdout; exit 5 when any failed."""
    upload(s3_client, f"s3://{bucket}/b/1", DATA)
    upload(s3_client, f"s3://{bucket}/b/2", b"two")
    wrong_stored_checksum(s3_client, bucket, "b/3", b"three")
    result = run(verify_app, f"s3://{bucket}/b/", "--recursive", "--endpoint-url", endpoint)
    assert result.exit_code == 5
    lines = result.stdout.splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 2
    assert sum(line.startswith("CORRUPT ") for line in lines) == 1
    assert lines[-1].startswith("3 objects, ")
    assert "2 ok, 0 unchecked, 1 CORRUPT, 0 unreadable" in lines[-1]
    clean = run(verify_app, f"s3://{bucket}/b/1", "--endpoint-url", endpoint)
    assert clean.exit_code == 0


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_decompress_round_trip(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path, codec: str
) -> None:
    """What --compress wrote comes back as the original bytes with --decompress (the stored
    object verified, and the format's own checksum)."""
    data = payload(3 * MiB) + b"text " * 600_000
    upload(s3_client, f"s3://{bucket}/c.{codec}", data, compress=codec)
    path = tmp_path / "out"
    result = run(get_app, f"s3://{bucket}/c.{codec}", str(path), "--decompress",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == data
    assert f"{codec} decompressed" in result.stderr


def test_a_corrupted_zstd_frame_fails(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """An object whose bytes match its stored checksum but whose zstd frame is corrupt (a
    byte flipped before upload): --decompress exits 5 and writes nothing."""
    frame = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(b"abc" * 100_000))
    frame[-2] ^= 0x01  # the frame's content checksum
    upload(s3_client, f"s3://{bucket}/bad.zst", bytes(frame))
    path = tmp_path / "out"
    result = run(get_app, f"s3://{bucket}/bad.zst", str(path), "--decompress",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert result.exit_code == 5
    assert "zstd stream is corrupt" in result.stderr
    assert not path.exists()
    assert os.listdir(tmp_path) == []


def test_an_empty_prefix_is_a_failure(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """Nothing below the prefix (a typo, a backup that never ran): get and verify --recursive
    exit 1 saying so, and get makes no directory."""
    s3_client.put_object(Bucket=bucket, Key="elsewhere/x", Body=b"x")
    verified = run(verify_app, f"s3://{bucket}/missing/", "--recursive", "--endpoint-url",
                   endpoint)  # fmt: skip
    assert verified.exit_code == 1
    assert "no object below this prefix" in verified.stderr
    got = run(get_app, f"s3://{bucket}/missing/", str(tmp_path / "d"), "--endpoint-url", endpoint)
    assert got.exit_code == 1
    assert "no object below this prefix" in got.stderr
    assert not (tmp_path / "d").exists()


def test_get_into_a_directory_takes_the_objects_name(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A single object into an existing directory lands at DIR/its last name."""
    s3_client.put_object(Bucket=bucket, Key="db/2026-12-01.dump", Body=b"dump")
    result = run(get_app, f"s3://{bucket}/db/2026-12-01.dump", str(tmp_path), "--endpoint-url",
                 endpoint)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "2026-12-01.dump").read_bytes() == b"dump"


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_cat_decompresses_too(
    endpoint: str, s3_client: Any, bucket: str, tmp_path: Path, codec: str
) -> None:
    """cat --decompress -o: the original bytes; a corrupt zstd frame exits 5 and leaves no
    file; an object that is not compressed exits 1, naming what it found."""
    data = payload(3 * MiB) + b"text " * 600_000
    upload(s3_client, f"s3://{bucket}/c.{codec}", data, compress=codec)
    out = tmp_path / "out"
    result = run(cat_app, f"s3://{bucket}/c.{codec}", "-o", str(out), "--decompress",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == data
    frame = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(b"abc" * 100_000))
    frame[-2] ^= 0x01
    upload(s3_client, f"s3://{bucket}/bad.zst", bytes(frame))
    bad = tmp_path / "bad"
    result = run(cat_app, f"s3://{bucket}/bad.zst", "-o", str(bad), "--decompress",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert result.exit_code == 5
    assert "zstd stream is corrupt" in result.stderr
    assert not bad.exists()
    upload(s3_client, f"s3://{bucket}/plain", b"plain bytes")
    result = run(cat_app, f"s3://{bucket}/plain", "-o", str(bad), "--decompress",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert result.exit_code == 1
    assert "neither zstd nor gzip" in result.stderr
    assert not bad.exists()
