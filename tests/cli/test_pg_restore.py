"""The restore the README promises: ``s3sink cat s3://… -- pg_restore -d db`` from a dump that
``s3sink … -- pg_dump -Fc`` uploaded, into a fresh database, compared row by row; and a dump
corrupted on the way back never restores cleanly (exit 5, pg_restore stopped)."""

from __future__ import annotations

import itertools
import json
import subprocess

import pytest

from tests.support.clirun import S3SINK
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import server_env
from tests.support.postgres import SOURCE_DB, TOOL_TIMEOUT, Fingerprint, PostgresServer

pytestmark = pytest.mark.slow

_names = (f"restored_by_cat_{n}" for n in itertools.count())


def s3sink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*S3SINK, *args],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def dump(pg: PostgresServer, endpoint: str, uri: str) -> None:
    done = s3sink(
        uri, "--part-size", "5MiB", "--endpoint-url", endpoint, "--",
        pg.tool("pg_dump"), "-Fc", "-Z0", *pg.conn_args, SOURCE_DB,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def restore_command(pg: PostgresServer, target: str) -> list[str]:
    pg.psql(f"CREATE DATABASE {target}")
    return [pg.tool("pg_restore"), "--exit-on-error", "--no-owner", *pg.conn_args, "-d", target]


def test_cat_into_pg_restore_restores_the_database(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, bucket: str
) -> None:
    """The dump read back in ranges by s3sink cat, verified, piped into pg_restore run in
    exec mode: the restored table equals the source."""
    uri = f"s3://{bucket}/db.dump"
    dump(pg_cluster, s3_endpoint, uri)
    target = next(_names)
    done = s3sink(
        "cat", uri, "--endpoint-url", s3_endpoint, "--part-size", "4MiB", "--json",
        "--", *restore_command(pg_cluster, target),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["verified"], record["command_status"]) == (True, 0)
    assert pg_cluster.fingerprint(target) == pg_source


def test_a_dump_corrupted_on_the_way_back_never_restores_cleanly(
    pg_cluster: PostgresServer, pg_source: Fingerprint, fault_proxy: FaultProxy, bucket: str
) -> None:
    """A byte flipped in the first range: exit 5, and pg_restore is stopped before the end
    of its input (never exit 0 with wrong rows)."""
    uri = f"s3://{bucket}/db.dump"
    dump(pg_cluster, fault_proxy.endpoint_url, uri)
    fault_proxy.flip_response_byte(method="GET", path=r"/db\.dump$", at=2_000_000)
    target = next(_names)
    done = s3sink(
        "cat", uri, "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "4MiB",
        "--json", "--", *restore_command(pg_cluster, target),
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    record = json.loads(done.stdout)
    assert record["reason"] == "integrity"
    assert record["command_status"] is not None
