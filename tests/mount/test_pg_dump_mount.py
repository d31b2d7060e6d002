"""PostgreSQL through ``s3sink mount`` into a moto server: a parallel directory-format dump and
a base backup written into the mount, downloaded back, verified and restored or started. The
cluster (tests/support/postgres.py) comes from tests/conftest.py; dumps through the command's
pipes: tests/cli/test_pg_dump.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import cli_env, pending, run_cli
from tests.support.motoserver import server_env
from tests.support.postgres import SOURCE_DB, Fingerprint, PostgresServer, run_tool

pytestmark = pytest.mark.slow


def _mount(bucket: str, tmp_path: Path, s3_endpoint: str) -> Any:
    """``s3sink mount s3://BUCKET/pg`` on ``tmp_path/mnt`` (5 MiB parts), for a block."""
    from tests.support.mounted import mounted

    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: the mount tests need /dev/fuse and root")
        pytest.skip("the mount needs /dev/fuse and root")
    args = ("--endpoint-url", s3_endpoint, "--part-size", "5MiB")
    return mounted(f"s3://{bucket}/pg", tmp_path / "mnt", server_env(), *args)


def test_directory_format_parallel_dump_into_a_mount_restores(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any,
    bucket: str, tmp_path: Path,
) -> None:  # fmt: skip
    """pg_dump -Fd -j 2 (several files written at once, then fsynced through reopened
    descriptors) into ``s3sink mount``: every file is an object, and the directory downloaded
    back restores intact."""
    pg_cluster.psql("CREATE TABLE IF NOT EXISTS t2 AS SELECT * FROM t LIMIT 1000", db=SOURCE_DB)
    with _mount(bucket, tmp_path, s3_endpoint) as mount:
        run_tool(
            [
                pg_cluster.tool("pg_dump"),
                "-Fd",
                "-j",
                "2",
                "-Z0",
                *pg_cluster.conn_args,
                "-f",
                str(mount.path / "dump"),
                SOURCE_DB,
            ]
        )
        code = mount.unmount()
    assert code == 0, mount.stderr
    local = tmp_path / "downloaded"
    names = _download_tree(s3_client, bucket, "pg/dump/", local)
    assert "toc.dat" in names
    assert len(names) >= 4  # the directory's marker, toc.dat and a data file per table
    assert pg_cluster.fingerprint(pg_cluster.restore(local)) == pg_source
    assert pending(s3_client, bucket) == []


@pytest.mark.parametrize("wal_method", ["stream", "fetch"])
def test_base_backup_into_a_mount_verifies_and_starts(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any,
    bucket: str, tmp_path: Path, wal_method: str,
) -> None:  # fmt: skip
    """pg_basebackup -Fp into the mount (with ``-X stream``, the default, each WAL segment is
    zero-filled, then written from its start; backup_manifest.tmp is renamed; every file is
    reopened O_RDWR to fsync it); the tree downloaded back passes pg_verifybackup and starts
    as a server with the data."""
    with _mount(bucket, tmp_path, s3_endpoint) as mount:
        backup = run_tool(
            [
                pg_cluster.tool("pg_basebackup"),
                *pg_cluster.conn_args,
                "-D",
                str(mount.path / "base"),
                "-Fp",
                "-c",
                "fast",
                "-X",
                wal_method,
                "-v",
            ]
        )
        code = mount.unmount()
    assert code == 0, (mount.stderr, backup.stderr)
    assert pending(s3_client, bucket) == []
    # Not under tmp_path: the server runs as ``postgres``, who cannot enter pytest's.
    work = Path(tempfile.mkdtemp(prefix="s3sink-pg-restore-"))
    try:
        local = work / "data"
        keys = _download_tree(s3_client, bucket, "pg/base/", local)
        assert "backup_manifest" in keys  # written as backup_manifest.tmp, then renamed
        assert "backup_manifest.tmp" not in keys
        assert any(k.startswith("pg_wal/0") for k in keys)  # streamed WAL, zero-filled first
        assert "pg_notify/" in keys  # an empty directory, kept as its marker
        run_tool([pg_cluster.tool("pg_verifybackup"), str(local)])  # each file against the manifest
        with PostgresServer(data=local, bin_dir=pg_cluster.bin_dir) as restored:
            assert restored.fingerprint(SOURCE_DB) == pg_source
    finally:
        shutil.rmtree(work)


def _download_tree(s3_client: Any, bucket: str, prefix: str, local: Path) -> list[str]:
    """Every object under ``prefix`` into ``local`` with ``s3sink get`` (each verified,
    markers ``dir/`` as directories); the keys below ``prefix``."""
    keys: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"].removeprefix(prefix) for o in page.get("Contents", [])]
    local.mkdir(mode=0o700)
    endpoint = str(s3_client.meta.endpoint_url)
    args = ["get", f"s3://{bucket}/{prefix}", str(local), "--endpoint-url", endpoint, "-q"]
    restored = run_cli(args, cli_env())
    assert restored.returncode == 0, restored.stderr
    return keys
