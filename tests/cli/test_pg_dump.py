"""PostgreSQL dump round trips through the real ``s3sink`` CLI into a moto server.

A module-scoped fixture builds a throwaway PostgreSQL cluster (``initdb`` into a temporary
directory, listening on 127.0.0.1 only, on a free port, ``fsync=off``), loads a table big enough
for several 5 MiB parts, and removes the cluster afterwards. Each test streams ``pg_dump -Fc -Z0``
through ``s3sink`` (exec mode, or a named pipe with ``--fifo``), downloads the object, restores it
with ``pg_restore`` into a fresh database and compares row count and a checksum of every row.

The PostgreSQL server binaries come from Debian's ``postgresql`` package
(``/usr/lib/postgresql/*/bin``); ``.ci/run`` installs it. Without them the module is skipped,
except under CI (``CI=true``), where a missing server is a failure. As root, ``initdb``,
``pg_ctl`` and ``postgres`` run as the ``postgres`` OS user (``runuser``), which owns the
temporary directory; clients (``psql``, ``pg_dump``, ``pg_restore``) connect over TCP as the
database user ``postgres`` with trust authentication.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import pytest

from tests.support.motoserver import HOST, free_port, server_env

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
#: ~48k rows of 512 hex characters: about 25 MiB of table data, ~26 MiB as an uncompressed dump.
ROWS = 48_000
MIN_DUMP_SIZE = 10 * MiB
PG_GLOB = "/usr/lib/postgresql/*/bin"
SOURCE_DB = "s3sink_source"
TOOL_TIMEOUT = 60.0

_restore_names = (f"s3sink_restored_{n}" for n in itertools.count(1))


class Fingerprint(NamedTuple):
    """What a table holds: its row count and an md5 over every row in id order."""

    rows: int
    digest: str


@dataclass(frozen=True)
class PgCluster:
    """A running throwaway cluster: where its binaries are and how to reach it over TCP."""

    bin_dir: Path
    port: int
    root: Path

    def tool(self, name: str) -> str:
        """Absolute path of a client program of the same major version as the server."""
        return str(self.bin_dir / name)

    @property
    def conn_args(self) -> list[str]:
        """libpq options for a TCP connection as the ``postgres`` superuser."""
        return ["-h", HOST, "-p", str(self.port), "-U", "postgres"]

    def psql(self, sql: str, *, db: str = "postgres") -> str:
        """Run SQL (stopping at the first error) and return the unaligned, tuples-only output."""
        argv = [self.tool("psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
        argv += [*self.conn_args, "-d", db, "-c", sql]
        return _run(argv).stdout.strip()

    def fingerprint(self, db: str) -> Fingerprint:
        """Row count and md5 of every ``id:payload`` row of ``db``'s table ``t``, in id order."""
        out = self.psql(
            "SELECT count(*), md5(string_agg(id::text || ':' || payload, ',' ORDER BY id)) FROM t",
            db=db,
        )
        rows, digest = out.split("|")
        return Fingerprint(int(rows), digest)


def _run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a helper program; on failure raise with its stderr in the message."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, **kwargs
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
        )
    return proc


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI, whose ``.ci/run`` installs PostgreSQL first."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed the postgresql package)")
    pytest.skip(f"{reason}; install the postgresql package (apt-get install -y postgresql)")


def _find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` that has every program we use."""
    needed = ("initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore")
    candidates = [
        path
        for path in Path("/").glob(PG_GLOB.lstrip("/"))
        if all((path / name).is_file() for name in needed)
    ]

    def major(path: Path) -> tuple[int, str]:
        version = path.parent.name
        return (int(version) if version.isdigit() else -1, version)

    return max(candidates, key=major, default=None)


def _as_postgres_prefix() -> list[str]:
    """Command prefix that runs the server programs as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        _unavailable("runuser is missing: cannot run the PostgreSQL server as a non-root user")
    return [str(runuser), "-u", "postgres", "--"]


def _stop_cluster(as_pg: list[str], pg_ctl: str, data: Path, root: Path) -> None:
    """Stop the server if it is running (fast, then immediate, then SIGKILL by pid)."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    for mode in ("fast", "immediate"):
        argv = [*as_pg, pg_ctl, "stop", "-D", str(data), "-m", mode, "-w", "-t", "20"]
        proc = subprocess.run(argv, capture_output=True, cwd=root, timeout=30, check=False)
        if proc.returncode == 0 or not pid_file.exists():
            return
    pid = int(pid_file.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)  # our own postmaster, by the pid it recorded


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster on 127.0.0.1:free port; stopped and deleted afterwards."""
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        _unavailable(f"PostgreSQL server binaries not found ({PG_GLOB}/pg_ctl)")
    as_pg = _as_postgres_prefix()
    owner = None
    if as_pg:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("there is no `postgres` OS user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="s3sink-pg-"))
    data = root / "data"
    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        initdb = [
            *as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
            "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync",
        ]  # fmt: skip
        _run(initdb, cwd=root)
        port = free_port()
        server_options = (
            f"-c listen_addresses={HOST} -p {port} -k {root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log_file = root / "server.log"
        start = [
            *as_pg, pg_ctl, "start", "-D", str(data), "-l", str(log_file), "-w", "-t", "30",
            "-o", server_options,
        ]  # fmt: skip
        try:
            _run(start, cwd=root)
        except RuntimeError as exc:
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            raise RuntimeError(f"{exc}\nserver log:\n{log}") from None
        yield PgCluster(bin_dir=bin_dir, port=port, root=root)
    finally:
        try:
            _stop_cluster(as_pg, pg_ctl, data, root)
        finally:
            shutil.rmtree(root)


@pytest.fixture(scope="module")
def pg_source(pg_cluster: PgCluster) -> Fingerprint:
    """A database with table ``t`` of ~25 MiB of md5 text; returns its fingerprint."""
    pg_cluster.psql(f"CREATE DATABASE {SOURCE_DB}")
    # 16 different md5s per row: 512 hex characters that neither repeat nor compress much.
    payload = " || ".join(f"md5(i::text || '/{salt}')" for salt in range(16))
    # S608: the SQL is built from module constants only, no outside input.
    insert = f"INSERT INTO t SELECT i, {payload} FROM generate_series(1, {ROWS}) AS i"  # noqa: S608
    pg_cluster.psql(
        f"CREATE TABLE t (id integer PRIMARY KEY, payload text NOT NULL); {insert}; ANALYZE t;",
        db=SOURCE_DB,
    )
    fingerprint = pg_cluster.fingerprint(SOURCE_DB)
    assert fingerprint.rows == ROWS
    return fingerprint


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


def _restore(pg: PgCluster, s3_client: Any, bucket: str, key: str, work: Path) -> str:
    """Download the dump, check its size, restore it into a new database; return that name."""
    dump = work / f"{key}.downloaded"
    s3_client.download_file(bucket, key, str(dump))
    assert dump.stat().st_size > MIN_DUMP_SIZE, "the dump should span several 5 MiB parts"
    return _pg_restore(pg, dump)


def _pg_restore(pg: PgCluster, dump: Path) -> str:
    """pg_restore a dump file (or a directory-format dump) into a new database; its name."""
    target = next(_restore_names)
    pg.psql(f"CREATE DATABASE {target}")
    _run([
        pg.tool("pg_restore"), "--exit-on-error", "--no-owner", *pg.conn_args,
        "-d", target, str(dump),
    ])  # fmt: skip
    return target


def _pending_uploads(s3_client: Any, bucket: str) -> list[Any]:
    """Multipart uploads still open in ``bucket``."""
    uploads: list[Any] = s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def test_exec_mode_dump_round_trips(
    pg_cluster: PgCluster, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any, bucket: str,
    tmp_path: Path,
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
    assert _pending_uploads(s3_client, bucket) == []


def test_the_compressed_capped_recipe_restores_and_a_failed_dump_publishes_nothing(
    pg_cluster: PgCluster, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The README's recipe: ``--compress zstd --rate-limit 100MiB/s -- pg_dump -Fc -Z0``; the
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
    assert pg_cluster.fingerprint(_pg_restore(pg_cluster, plain)) == pg_source
    failed = _s3sink(
        f"s3://{bucket}/gone.dump.zst", "--endpoint-url", s3_endpoint, *recipe, "--", *dump,
        "s3sink_no_such_db",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["reason"] == "producer-failed"
    listed = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == ["db.dump.zst"]
    assert _pending_uploads(s3_client, bucket) == []


def test_fifo_dump_round_trips(
    pg_cluster: PgCluster, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any, bucket: str,
    tmp_path: Path,
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
    assert _pending_uploads(s3_client, bucket) == []


def test_failed_dump_exits_with_its_status_and_writes_nothing(
    pg_cluster: PgCluster, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """pg_dump of a missing database: s3sink exits 1 and leaves no object and no open upload."""
    proc = _s3sink(
        f"s3://{bucket}/missing.dump",
        "--endpoint-url", s3_endpoint,
        "--",
        pg_cluster.tool("pg_dump"), "-Fc", *pg_cluster.conn_args, "s3sink_no_such_db",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "s3sink_no_such_db" in proc.stderr  # pg_dump's own message reaches the user
    assert "s3sink: error:" in proc.stderr
    assert proc.stdout == ""
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert _pending_uploads(s3_client, bucket) == []


def test_failed_fifo_dump_exits_with_its_status_and_removes_the_fifo(
    pg_cluster: PgCluster, s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """pg_dump -f FIFO of a missing database: exit 1, no object, no open upload, fifo gone."""
    fifo = tmp_path / "missing.fifo"
    proc = _s3sink(
        f"s3://{bucket}/missing2.dump",
        "--endpoint-url", s3_endpoint,
        "--fifo", str(fifo),
        "--",
        pg_cluster.tool("pg_dump"), "-Fc", "--no-sync", "-f", str(fifo),
        *pg_cluster.conn_args, "s3sink_no_such_db",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "s3sink_no_such_db" in proc.stderr
    assert not os.path.lexists(fifo)
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert _pending_uploads(s3_client, bucket) == []


def _mount(bucket: str, tmp_path: Path, s3_endpoint: str) -> Any:
    """``s3sink mount s3://BUCKET/pg`` on ``tmp_path/mnt`` (5 MiB parts), for a block."""
    from tests.support.mounted import mounted

    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        _unavailable("the mount needs /dev/fuse and root")
    args = ("--endpoint-url", s3_endpoint, "--part-size", "5MiB")
    return mounted(f"s3://{bucket}/pg", tmp_path / "mnt", server_env(), *args)


def test_directory_format_parallel_dump_into_a_mount_restores(
    pg_cluster: PgCluster, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """pg_dump -Fd -j 2 (several files written at once, then fsynced through reopened
    descriptors) into ``s3sink mount``: every file is an object, and the directory downloaded
    back restores intact."""
    pg_cluster.psql("CREATE TABLE IF NOT EXISTS t2 AS SELECT * FROM t LIMIT 1000", db=SOURCE_DB)
    with _mount(bucket, tmp_path, s3_endpoint) as mount:
        _run(
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
    assert pg_cluster.fingerprint(_pg_restore(pg_cluster, local)) == pg_source
    assert _pending_uploads(s3_client, bucket) == []


@pytest.mark.parametrize("wal_method", ["stream", "fetch"])
def test_base_backup_into_a_mount_verifies_and_starts(
    pg_cluster: PgCluster, pg_source: Fingerprint, s3_endpoint: str, s3_client: Any, bucket: str,
    tmp_path: Path, wal_method: str,
) -> None:  # fmt: skip
    """pg_basebackup -Fp into the mount (with ``-X stream``, the default, each WAL segment is
    zero-filled, then written from its start; backup_manifest.tmp is renamed; every file is
    reopened O_RDWR to fsync it); the tree downloaded back passes pg_verifybackup and starts
    as a server with the data."""
    with _mount(bucket, tmp_path, s3_endpoint) as mount:
        backup = _run(
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
    assert _pending_uploads(s3_client, bucket) == []
    # Not under tmp_path: the server runs as ``postgres``, who cannot enter pytest's.
    work = Path(tempfile.mkdtemp(prefix="s3sink-pg-restore-"))
    try:
        local = work / "data"
        keys = _download_tree(s3_client, bucket, "pg/base/", local)
        assert "backup_manifest" in keys  # written as backup_manifest.tmp, then renamed
        assert "backup_manifest.tmp" not in keys
        assert any(k.startswith("pg_wal/0") for k in keys)  # streamed WAL, zero-filled first
        assert "pg_notify/" in keys  # an empty directory, kept as its marker
        _run([pg_cluster.tool("pg_verifybackup"), str(local)])  # each file against the manifest
        with _started(pg_cluster, local) as port:
            restored = dataclasses.replace(pg_cluster, port=port)
            assert restored.fingerprint(SOURCE_DB) == pg_source
    finally:
        shutil.rmtree(work)


def _download_tree(s3_client: Any, bucket: str, prefix: str, local: Path) -> list[str]:
    """Every object under ``prefix`` into ``local``, markers (``dir/``) as directories."""
    keys: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"].removeprefix(prefix) for o in page.get("Contents", [])]
    local.mkdir(mode=0o700)
    for name in keys:
        target = local / name
        if not name or name.endswith("/"):  # "" is the marker of ``prefix`` itself
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        s3_client.download_file(bucket, prefix + name, str(target))
    return keys


@contextlib.contextmanager
def _started(pg: PgCluster, data: Path) -> Iterator[int]:
    """A server on a copy of a data directory (owned by ``postgres`` when we are root)."""
    as_pg = _as_postgres_prefix()
    if as_pg:
        owner = pwd.getpwnam("postgres")
        for path in [data.parent, data, *data.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    data.chmod(0o700)
    port = free_port()
    pg_ctl = pg.tool("pg_ctl")
    options = f"-c listen_addresses={HOST} -p {port} -k {data.parent} -c fsync=off"
    log_file = data.parent / "restored.log"
    start = [*as_pg, pg_ctl, "start", "-D", str(data), "-l", str(log_file), "-w", "-t", "30"]
    try:
        _run([*start, "-o", options], cwd=data.parent)
    except RuntimeError as exc:
        log = log_file.read_text(errors="replace") if log_file.exists() else ""
        raise RuntimeError(f"{exc}\nserver log:\n{log}") from None
    try:
        yield port
    finally:
        _stop_cluster(as_pg, pg_ctl, data, data.parent)
