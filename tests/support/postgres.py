"""A throwaway PostgreSQL server for the dump and backup tests, as a ``LocalServer``.

``PostgresServer()`` creates a cluster (``initdb`` into a temporary directory, removed by
``stop()``); ``PostgresServer(data=DIR)`` starts a server on an existing data directory (a
restored base backup). Either listens on 127.0.0.1 only, on a free port, with ``fsync=off``.

The binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``; the
newest with every program used here); ``.ci/run`` installs it. Without them ``start()`` raises
``PostgresUnavailable``, which the fixtures turn into a skip, or a failure under CI. As root,
``initdb``, ``pg_ctl`` and ``postgres`` run as the ``postgres`` OS user (``runuser``), who owns
the directories; clients (``psql``, ``pg_dump``, ``pg_restore``) connect over TCP as the
database user ``postgres`` with trust authentication.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tests.support.localserver import HOST, LocalServer, LocalServerError, free_port

PG_GLOB = "/usr/lib/postgresql/*/bin"
TOOL_TIMEOUT = 60.0
#: The database ``create_source`` fills: ~48k rows of 512 hex characters, about 25 MiB of table
#: data, ~26 MiB as an uncompressed dump.
SOURCE_DB = "s3sink_source"
ROWS = 48_000
#: The programs a cluster and the tests need, all from one major version.
PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore")


_restore_names = (f"s3sink_restored_{n}" for n in itertools.count(1))


class PostgresError(LocalServerError):
    """The PostgreSQL server did not start (the message quotes its log)."""


class PostgresUnavailable(PostgresError):
    """The server binaries, ``runuser`` or the ``postgres`` OS user are missing."""


class Fingerprint(NamedTuple):
    """What a table holds: its row count and an md5 over every row in id order."""

    rows: int
    digest: str


def run_tool(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a helper program; on failure raise with its stderr in the message."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, **kwargs
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
        )
    return proc


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` that has every program we use."""
    candidates = [
        path
        for path in Path("/").glob(PG_GLOB.lstrip("/"))
        if all((path / name).is_file() for name in PROGRAMS)
    ]

    def major(path: Path) -> tuple[int, str]:
        version = path.parent.name
        return (int(version) if version.isdigit() else -1, version)

    return max(candidates, key=major, default=None)


def as_postgres_prefix() -> list[str]:
    """Command prefix that runs the server programs as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable(
            "runuser is missing: cannot run the PostgreSQL server as a non-root user"
        )
    return [str(runuser), "-u", "postgres", "--"]


def _postgres_owner() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("there is no `postgres` OS user to run the server as") from None


class PostgresServer(LocalServer):
    """PostgreSQL on ``127.0.0.1:port``: a new cluster, or ``data``'s; see the module docstring.
    ``bin_dir`` picks the binaries (default: ``find_bin_dir()``)."""

    name = "PostgreSQL"
    error = PostgresError

    def __init__(self, data: Path | None = None, *, bin_dir: Path | None = None) -> None:
        super().__init__(port=None)
        self._given_data = data
        self._bin_dir = bin_dir
        self._root: Path | None = None  # the temporary directory of a new cluster
        self._data: Path | None = None
        self._as_pg: list[str] = []

    @property
    def bin_dir(self) -> Path:
        """Where the server's programs are (clients of the same major version beside them)."""
        if self._bin_dir is None:
            found = find_bin_dir()
            if found is None:
                raise PostgresUnavailable(f"PostgreSQL server binaries not found ({PG_GLOB})")
            self._bin_dir = found
        return self._bin_dir

    @property
    def endpoint_url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT``."""
        return f"postgresql://postgres@{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._data is not None and (self._data / "postmaster.pid").exists()

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
        return run_tool(argv).stdout.strip()

    def fingerprint(self, db: str) -> Fingerprint:
        """Row count and md5 of every ``id:payload`` row of ``db``'s table ``t``, in id order."""
        out = self.psql(
            "SELECT count(*), md5(string_agg(id::text || ':' || payload, ',' ORDER BY id)) FROM t",
            db=db,
        )
        rows, digest = out.split("|")
        return Fingerprint(int(rows), digest)

    def restore(self, dump: Path) -> str:
        """pg_restore a dump file (or a directory-format dump) into a new database; its name."""
        target = next(_restore_names)
        self.psql(f"CREATE DATABASE {target}")
        run_tool([
            self.tool("pg_restore"), "--exit-on-error", "--no-owner", *self.conn_args,
            "-d", target, str(dump),
        ])  # fmt: skip
        return target

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        bin_dir = self.bin_dir
        self._as_pg = as_postgres_prefix()
        owner = _postgres_owner() if self._as_pg else None
        if self._given_data is None:
            root = self._root = Path(tempfile.mkdtemp(prefix="s3sink-pg-"))
            data = root / "data"
            if owner is not None:
                os.chown(root, owner.pw_uid, owner.pw_gid)
            initdb = [
                *self._as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync",
            ]  # fmt: skip
            try:
                run_tool(initdb, cwd=root)
            except BaseException:
                self.stop()
                raise
            options = " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        else:
            data = self._given_data
            if owner is not None:
                for path in [data.parent, data, *data.rglob("*")]:
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            data.chmod(0o700)
            options = " -c fsync=off"
        self._data = data
        self._port = free_port()
        sockets = data.parent  # the Unix socket's directory, ours rather than /run/postgresql
        log_file = sockets / ("server.log" if self._given_data is None else "restored.log")
        start = [
            *self._as_pg, str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(log_file),
            "-w", "-t", "30",  # pg_ctl waits until the server accepts connections
            "-o", f"-c listen_addresses={HOST} -p {self._port} -k {sockets}{options}",
        ]  # fmt: skip
        try:
            run_tool(start, cwd=sockets)
        except RuntimeError as exc:
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            self.stop()
            raise PostgresError(f"{exc}\nserver log:\n{log}") from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server if it runs (fast, then immediate, then SIGKILL by pid); remove a new
        cluster's directory. Idempotent."""
        data, self._data = self._data, None
        root, self._root = self._root, None
        try:
            if data is not None:
                self._stop_server(data)
        finally:
            if root is not None:
                shutil.rmtree(root)

    def _stop_server(self, data: Path) -> None:
        pid_file = data / "postmaster.pid"
        if not pid_file.exists():
            return
        pg_ctl = str(self.bin_dir / "pg_ctl")
        for mode in ("fast", "immediate"):
            argv = [*self._as_pg, pg_ctl, "stop", "-D", str(data), "-m", mode, "-w", "-t", "20"]
            proc = subprocess.run(
                argv, capture_output=True, cwd=data.parent, timeout=30, check=False
            )
            if proc.returncode == 0 or not pid_file.exists():
                return
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)  # our own postmaster, by the pid it recorded


def create_source(server: PostgresServer) -> Fingerprint:
    """Create ``SOURCE_DB`` with table ``t`` of ~25 MiB of md5 text; return its fingerprint."""
    server.psql(f"CREATE DATABASE {SOURCE_DB}")
    # 16 different md5s per row: 512 hex characters that neither repeat nor compress much.
    payload = " || ".join(f"md5(i::text || '/{salt}')" for salt in range(16))
    # S608: the SQL is built from module constants only, no outside input.
    insert = f"INSERT INTO t SELECT i, {payload} FROM generate_series(1, {ROWS}) AS i"  # noqa: S608
    server.psql(
        f"CREATE TABLE t (id integer PRIMARY KEY, payload text NOT NULL); {insert}; ANALYZE t;",
        db=SOURCE_DB,
    )
    fingerprint = server.fingerprint(SOURCE_DB)
    assert fingerprint.rows == ROWS
    return fingerprint
