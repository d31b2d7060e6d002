"""PostgreSQL dump round trips through the real ``s3sink`` CLI into a moto server.

A session fixture (tests/conftest.py) starts a throwaway PostgreSQL cluster on 127.0.0.1
(tests/support/postgres.py) and loads a table big enough for several 5 MiB parts. Each test
streams ``pg_dump -Fc -Z0`` through ``s3sink`` (exec mode, or a named pipe with ``--fifo``),
downloads the object, restores it with ``pg_restore`` into a fresh database and compares row
count and a checksum of every row; the README's restore recipe runs ``pg_restore`` under
``s3sink cat … -- pg_restore -d DB`` (plain and ``--decompress``). Without the PostgreSQL
binaries the tests are skipped, except under CI (``CI=true``), where a missing server is a
failure. Dumps and backups into ``s3sink mount``: tests/mount/test_pg_dump_mount.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import pending
from tests.support.motoserver import server_env
from tests.support.postgres import (
    SOURCE_DB,
    TOOL_TIMEOUT,
    Fingerprint,
    PostgresServer,
)

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
MIN_DUMP_SIZE = 10 * MiB


def _s3sink(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``s3sink`` console script with dummy AWS credentials."""
    script = Path(sys.executable).with_name("s3sink")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "s3sink"]
    # server_env: our environment minus proxies/profiles/endpoints, plus dummy credentials.
    return subprocess.run(
        [*argv, *args],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def _restore(pg: PostgresServer, s3_client: Any, bucket: str, key: str, work: Path) -> str:
    """Download the dump, check its size, restore it into a new database; return that name."""
    dump = work / f"{key}.downloaded"
    s3_client.download_file(bucket, key, str(dump))
    assert dump.stat().st_size > MIN_DUMP_SIZE, "the dump should span several 5 MiB parts"
    return pg.restore(dump)


def test_exec_mode_dump_round_trips(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any,
    bucket: str, tmp_path: Path,
) -> None:  # fmt: skip
    """pg_dump -Fc run by s3sink lands as a multipart object that pg_restore restores intact."""
    proc = _s3sink(
        f"s3://{bucket}/db.dump",
        "--part-size", "5MiB",
        "--endpoint-url", s3_endpoint,
        "--",
        pg_cluster.tool("pg_dump"), "-Fc", "-Z0", *pg_cluster.conn_args, SOURCE_DB,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    etag = s3_client.head_object(Bucket=bucket, Key="db.dump")["ETag"].strip('"')
    assert "-" in etag, f"expected a multipart ETag, got {etag}"
    assert int(etag.rsplit("-", 1)[1]) >= 3  # several 5 MiB parts
    restored = _restore(pg_cluster, s3_client, bucket, "db.dump", tmp_path)
    assert pg_cluster.fingerprint(restored) == pg_source
    assert pending(s3_client, bucket) == []


def test_the_compressed_capped_recipe_restores_and_a_failed_dump_publishes_nothing(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any,
    bucket: str, tmp_path: Path,
) -> None:  # fmt: skip
    """docs/command.md's recipe: ``--compress zstd --rate-limit 100MiB/s -- pg_dump -Fc -Z0``; the
    object is a zstd frame (content checksum checked on the way back) that restores intact.
    The same command for a database that does not exist publishes nothing."""
    import zstandard

    recipe = ["--compress", "zstd", "--rate-limit", "100MiB/s", "--no-overwrite", "--json"]
    dump = [pg_cluster.tool("pg_dump"), "-Fc", "-Z0", *pg_cluster.conn_args]
    proc = _s3sink(
        f"s3://{bucket}/db.dump.zst", "--endpoint-url", s3_endpoint, *recipe, "--", *dump,
        SOURCE_DB,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["compression"] == "zstd:3"
    assert result["source_size"] > MIN_DUMP_SIZE
    stored = s3_client.get_object(Bucket=bucket, Key="db.dump.zst")
    assert stored["ContentType"] == "application/zstd"
    frame = stored["Body"].read()
    params = zstandard.get_frame_parameters(frame)
    assert params.has_checksum
    plain = tmp_path / "db.dump"
    with zstandard.ZstdDecompressor().stream_reader(frame) as reader, plain.open("wb") as out:
        shutil.copyfileobj(reader, out)
    assert plain.stat().st_size == result["source_size"]
    assert pg_cluster.fingerprint(pg_cluster.restore(plain)) == pg_source
    failed = _s3sink(
        f"s3://{bucket}/gone.dump.zst", "--endpoint-url", s3_endpoint, *recipe, "--", *dump,
        "s3sink_no_such_db",
    )  # fmt: skip
    assert failed.returncode == 123, failed.stderr
    assert json.loads(failed.stdout)["reason"] == "producer-failed"
    assert json.loads(failed.stdout)["producer_status"] == 1
    listed = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == ["db.dump.zst"]
    assert pending(s3_client, bucket) == []


def test_fifo_dump_round_trips(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any,
    bucket: str, tmp_path: Path,
) -> None:  # fmt: skip
    """pg_dump -f into s3sink's --fifo round-trips intact, and the fifo is removed afterwards."""
    fifo = tmp_path / "db.fifo"
    proc = _s3sink(
        f"s3://{bucket}/db2.dump",
        "--part-size", "5MiB",
        "--endpoint-url", s3_endpoint,
        "--fifo", str(fifo),
        "--",
        pg_cluster.tool("pg_dump"), "-Fc", "-Z0", "--no-sync", "-f", str(fifo),
        *pg_cluster.conn_args, SOURCE_DB,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not os.path.lexists(fifo)
    restored = _restore(pg_cluster, s3_client, bucket, "db2.dump", tmp_path)
    assert pg_cluster.fingerprint(restored) == pg_source
    assert pending(s3_client, bucket) == []


def test_failed_dump_exits_123_and_writes_nothing(
    pg_cluster: PostgresServer, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """pg_dump of a missing database (it exits 1): s3sink exits 123 ("the command failed"), names
    pg_dump's status, and leaves no object and no open upload."""
    proc = _s3sink(
        f"s3://{bucket}/missing.dump",
        "--endpoint-url", s3_endpoint,
        "--",
        pg_cluster.tool("pg_dump"), "-Fc", *pg_cluster.conn_args, "s3sink_no_such_db",
    )  # fmt: skip
    assert proc.returncode == 123, proc.stderr
    assert "pg_dump exited with status 1" in proc.stderr
    assert "s3sink_no_such_db" in proc.stderr  # pg_dump's own message reaches the user
    assert "s3sink: error:" in proc.stderr
    assert proc.stdout == ""
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert pending(s3_client, bucket) == []


def test_failed_fifo_dump_exits_123_and_removes_the_fifo(
    pg_cluster: PostgresServer, s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """pg_dump -f FIFO of a missing database: exit 123, no object, no open upload, fifo gone."""
    fifo = tmp_path / "missing.fifo"
    proc = _s3sink(
        f"s3://{bucket}/missing2.dump",
        "--endpoint-url", s3_endpoint,
        "--fifo", str(fifo),
        "--",
        pg_cluster.tool("pg_dump"), "-Fc", "--no-sync", "-f", str(fifo),
        *pg_cluster.conn_args, "s3sink_no_such_db",
    )  # fmt: skip
    assert proc.returncode == 123, proc.stderr
    assert "s3sink_no_such_db" in proc.stderr
    assert not os.path.lexists(fifo)
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert pending(s3_client, bucket) == []


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zstd"])
def test_the_readme_restore_recipe_restores_through_cat(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, bucket: str,
    compress: bool,
) -> None:  # fmt: skip
    """The README's restore: ``s3sink cat s3://… [--decompress] -- pg_restore -d DB``, pg_restore
    reading the dump from its stdin, read back verified; the database equals the source."""
    key = "db.dump.zst" if compress else "db.dump"
    packing = ["--compress", "zstd"] if compress else []
    dumped = _s3sink(
        f"s3://{bucket}/{key}", "--part-size", "5MiB", "--endpoint-url", s3_endpoint, *packing,
        "--", pg_cluster.tool("pg_dump"), "-Fc", "-Z0", *pg_cluster.conn_args, SOURCE_DB,
    )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr
    target = f"via_cat_{'zstd' if compress else 'plain'}"
    pg_cluster.psql(f"CREATE DATABASE {target}")
    unpacking = ["--decompress"] if compress else []
    restored = _s3sink(
        "cat", f"s3://{bucket}/{key}", "--part-size", "5MiB", "--endpoint-url", s3_endpoint,
        *unpacking, "--json", "--", pg_cluster.tool("pg_restore"), "--exit-on-error",
        "--no-owner", *pg_cluster.conn_args, "-d", target,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["verified"] is True
    assert pg_cluster.fingerprint(target) == pg_source
