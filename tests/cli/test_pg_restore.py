"""The restore the README promises: ``s3sink cat s3://… -- pg_restore -d db`` from a dump that
``s3sink … -- pg_dump -Fc`` uploaded, into a fresh database, compared row by row; and a dump
corrupted on the way back never restores cleanly (exit 5, pg_restore stopped)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

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


def test_an_encrypted_dump_to_two_recipients_restores_with_either_key(
    pg_cluster: PostgresServer, pg_source: Fingerprint, s3_endpoint: str, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Issue #26's "done when": one exec-mode command dumps, compresses and encrypts to two
    recipients (an age key and an SSH key); `s3sink cat --identity KEY --decompress --
    pg_restore` restores it with the one, and the stock `age -d -i` with the other decrypts
    it to a dump pg_restore restores too: both equal the source."""
    if shutil.which("age-keygen") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("age or ssh-keygen not installed")
    age_key, ssh_key = tmp_path / "backup.key", tmp_path / "id_ed25519"
    subprocess.run(["age-keygen", "-o", age_key], check=True, capture_output=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh_key], check=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", age_key], check=True, capture_output=True, text=True
    ).stdout.strip()
    uri = f"s3://{bucket}/db.dump.zst.age"
    done = s3sink(
        uri, "--endpoint-url", s3_endpoint, "--compress", "zstd", "--encrypt-to", recipient,
        "--encrypt-to-file", f"{ssh_key}.pub", "--json", "--",
        pg_cluster.tool("pg_dump"), "-Fc", "-Z0", *pg_cluster.conn_args, SOURCE_DB,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recipients"] == 2
    first = next(_names)
    restored = s3sink(
        "cat", uri, "--endpoint-url", s3_endpoint, "--identity", str(age_key), "--decompress",
        "--", *restore_command(pg_cluster, first),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert pg_cluster.fingerprint(first) == pg_source
    stored = tmp_path / "stored.age"
    fetched = s3sink("cat", uri, "--endpoint-url", s3_endpoint, "-o", str(stored))
    assert fetched.returncode == 0, fetched.stderr
    frame = subprocess.run(
        ["age", "-d", "-i", ssh_key, stored], check=True, capture_output=True
    ).stdout
    second = next(_names)
    by_age = subprocess.run(
        restore_command(pg_cluster, second), input=zstandard.ZstdDecompressor().decompressobj()
        .decompress(frame), capture_output=True, timeout=TOOL_TIMEOUT, check=False,
    )  # fmt: skip
    assert by_age.returncode == 0, by_age.stderr
    assert pg_cluster.fingerprint(second) == pg_source
