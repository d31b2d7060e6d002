"""``s3sink ls`` and ``s3sink prune`` in this process (typer's CliRunner) against moto:
--keep-last, --dry-run deletes nothing, a keep-nothing policy refused, Object Lock (a
retained object survives with no delete marker over it), a versioned bucket (markers
reported, --purge-versions), more than 1,000 objects (DeleteObjects batches, counted through
the fault proxy's log), failing deletes reported with exit 1, the prefix warning, and ls's
table, JSON lines and request count.

moto sets LastModified at upload time (whole seconds), so these tests only need relative
order: keys are put in order and their names sort the same way (the policy breaks a tie of
LastModified by key); the calendar rules are the unit tests' (tests/unit/
test_retention_policy.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from s3sink import cli
from s3sink.cli._ls import ls_app
from s3sink.cli._prune import prune_app
from tests.support.clirun import keys
from tests.support.faultproxy import FaultProxy

DELETE_PATH = r"\?delete"


def run(app: Any, *args: str) -> Result:
    """Run ``s3sink ls|prune ARGS`` in this process."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def put_many(client: Any, bucket: str, names: list[str], body: bytes = b"backup") -> None:
    """Put ``names`` in order (LastModified ascending, ties sorted the same way by name)."""
    for name in names:
        client.put_object(Bucket=bucket, Key=name, Body=body)


def versions(client: Any, bucket: str) -> tuple[list[tuple[str, bool]], list[str]]:
    """(key, is latest) of every version, and the keys with delete markers."""
    answer = client.list_object_versions(Bucket=bucket)
    found = [(v["Key"], v["IsLatest"]) for v in answer.get("Versions", [])]
    return found, [m["Key"] for m in answer.get("DeleteMarkers", [])]


@pytest.fixture
def endpoint(aws_env: None, s3_client: Any) -> str:
    """The moto endpoint, with this process's environment made safe for the command."""
    return str(s3_client.meta.endpoint_url)


def test_prune_keep_last_deletes_the_older_ones(endpoint: str, s3_client: Any, bucket: str) -> None:
    """--keep-last 2 keeps the two newest (each saying so) and deletes the rest; objects
    outside the prefix are untouched."""
    put_many(s3_client, bucket, [f"db/{n:02d}.dump" for n in range(5)] + ["other/x"])
    result = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "2", "--endpoint-url", endpoint)
    assert result.exit_code == 0, result.stderr
    assert sorted(keys(s3_client, bucket)) == ["db/03.dump", "db/04.dump", "other/x"]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["ACTION", "KEY"]
    assert lines[1].startswith("KEEP    db/04.dump")
    assert lines[1].endswith("last")
    assert lines[3].startswith("DELETE  db/02.dump")
    assert "not kept by any rule" in lines[3]
    assert "kept 2, deleted 3" in result.stderr


def test_dry_run_deletes_nothing_and_prints_the_same_table(
    endpoint: str, s3_client: Any, bucket: str
) -> None:
    """--dry-run prints the KEEP/DELETE table of the real run and deletes nothing."""
    put_many(s3_client, bucket, [f"db/{n:02d}" for n in range(4)])
    args = [f"s3://{bucket}/db/", "--keep-last", "1", "--endpoint-url", endpoint]
    dry = run(prune_app, *args, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert len(keys(s3_client, bucket)) == 4
    assert "dry run: nothing was deleted" in dry.stderr
    real = run(prune_app, *args)
    assert real.stdout == dry.stdout
    assert keys(s3_client, bucket) == ["db/03"]


@pytest.mark.parametrize("policy", [[], ["--keep-last", "0"], ["--keep-daily", "0"]])
def test_a_policy_that_keeps_nothing_is_refused(
    endpoint: str, s3_client: Any, bucket: str, policy: list[str]
) -> None:
    """No rule, or only zeros: exit 2, nothing listed or deleted."""
    put_many(s3_client, bucket, ["db/a", "db/b"])
    result = run(prune_app, f"s3://{bucket}/db/", *policy, "--endpoint-url", endpoint)
    assert result.exit_code == 2
    assert "keeps nothing" in result.stderr
    assert len(keys(s3_client, bucket)) == 2


def test_keep_within_and_min_size(endpoint: str, s3_client: Any, bucket: str) -> None:
    """--keep-within keeps what is near the newest object; --min-size: an empty object
    from a broken job neither counts nor is kept (but the newest is always kept)."""
    put_many(s3_client, bucket, ["db/1", "db/2"], b"good backup")
    put_many(s3_client, bucket, ["db/3", "db/4"], b"")
    result = run(
        prune_app, f"s3://{bucket}/db/", "--keep-last", "1", "--min-size", "5",
        "--json", "--endpoint-url", endpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert [(k["key"], k["reasons"]) for k in record["kept"]] == [
        ("db/4", ["newest object"]),
        ("db/2", ["last"]),
    ]
    assert [d["key"] for d in record["deleted"]] == ["db/3", "db/1"]
    assert "smaller than --min-size 5 B" in record["deleted"][0]["reasons"][0]
    within = run(prune_app, f"s3://{bucket}/db/", "--keep-within", "1d", "--dry-run",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert within.exit_code == 0, within.stderr
    assert within.stdout.count("within 1d") == 2


def test_object_lock_retained_object_survives_without_a_delete_marker(
    endpoint: str, s3_client: Any
) -> None:
    """In a bucket with Object Lock: a retained object and one under legal hold are
    reported as locked and left alone, with no delete marker over them; the free one is
    deleted (a marker: the bucket is versioned)."""
    bucket = f"lock-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    s3_client.put_object(
        Bucket=bucket, Key="db/1", Body=b"x", ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until, ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    s3_client.put_object(
        Bucket=bucket, Key="db/2", Body=b"x", ObjectLockLegalHoldStatus="ON",
        ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    put_many(s3_client, bucket, ["db/3", "db/4"])
    result = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "1", "--json",
                 "--endpoint-url", endpoint)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    locked = {k["key"]: k["reasons"][0] for k in record["locked"]}
    assert locked["db/1"].startswith(f"locked until {until:%Y-%m-%d}")
    assert "GOVERNANCE" in locked["db/1"]
    assert locked["db/2"] == "locked: legal hold"
    assert [d["key"] for d in record["deleted"]] == ["db/3"]
    assert record["deleted"][0]["delete_marker"] is True
    _, markers = versions(s3_client, bucket)
    assert markers == ["db/3"]
    assert sorted(keys(s3_client, bucket)) == ["db/1", "db/2", "db/4"]
    listing = run(ls_app, f"s3://{bucket}/db/", "--endpoint-url", endpoint)
    assert listing.exit_code == 0, listing.stderr
    assert f"GOVERNANCE until {until:%Y-%m-%d}" in listing.stdout
    assert "legal hold" in listing.stdout


def test_versioned_bucket_markers_and_purge_versions(
    endpoint: str, s3_client: Any, bucket: str
) -> None:
    """In a versioned bucket a delete leaves a marker (and says so); --purge-versions also
    removes the noncurrent versions of the keys deleted now, never of kept keys."""
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put_many(s3_client, bucket, ["db/1", "db/1", "db/2", "db/3", "db/3"])
    plain = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "2", "--endpoint-url", endpoint)
    assert plain.exit_code == 0, plain.stderr
    assert "a delete marker: the bucket is versioned" in plain.stdout
    assert "each left a delete marker" in plain.stderr
    found, markers = versions(s3_client, bucket)
    assert markers == ["db/1"]
    assert sorted(found) == [("db/1", False), ("db/1", False), ("db/2", True),
                             ("db/3", False), ("db/3", True)]  # fmt: skip
    put_many(s3_client, bucket, ["db/4"])
    purge = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "2", "--purge-versions",
                "--endpoint-url", endpoint)  # fmt: skip
    assert purge.exit_code == 0, purge.stderr
    found, markers = versions(s3_client, bucket)
    # db/2 deleted now: its version purged, its marker stays; db/1 was deleted by the
    # earlier run, db/3 is kept: their versions are untouched.
    assert sorted(found) == [("db/1", False), ("db/1", False), ("db/3", False),
                             ("db/3", True), ("db/4", True)]  # fmt: skip
    assert sorted(markers) == ["db/1", "db/2"]
    assert "purged db/2 version" in purge.stdout


def test_more_than_1000_objects_are_deleted_in_batches(
    aws_env: None, s3_client: Any, bucket: str, fault_proxy: FaultProxy
) -> None:
    """1,203 objects, --keep-last 3: 1,200 deleted in two DeleteObjects requests."""
    names = [f"db/{n:05d}" for n in range(1203)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3_client.put_object(Bucket=bucket, Key=n, Body=b"b"), names))
    result = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "3", "--json",
                 "--endpoint-url", fault_proxy.endpoint_url)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # Put in parallel: the LastModified order is not the names' order here.
    kept = {k["key"] for k in json.loads(result.stdout)["kept"]}
    assert sorted(keys(s3_client, bucket)) == sorted(kept)
    assert len(kept) == 3
    deletes = [e for e in fault_proxy.log if e.method == "POST" and "?delete" in e.path]
    assert len(deletes) == 2


def test_a_failed_batch_is_reported_key_by_key_with_exit_1(
    aws_env: None, s3_client: Any, bucket: str, fault_proxy: FaultProxy
) -> None:
    """The second DeleteObjects refused (403): its keys are reported as not deleted, exit 1;
    the first batch's deletes stand."""
    names = [f"db/{n:05d}" for n in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3_client.put_object(Bucket=bucket, Key=n, Body=b"b"), names))
    fault_proxy.respond(403, "AccessDenied", "denied", method="POST", path=DELETE_PATH, nth=2)
    result = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "1", "--json",
                 "--endpoint-url", fault_proxy.endpoint_url)  # fmt: skip
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert record["ok"] is False
    assert len(record["failed"]) == 4
    assert len(record["deleted"]) == 1000
    assert all("AccessDenied" in f["error"] for f in record["failed"])
    assert len(keys(s3_client, bucket)) == 5
    errors = [line for line in result.stderr.splitlines() if line.startswith("s3sink: error:")]
    assert len(errors) == 4
    assert all("not deleted: AccessDenied" in line for line in errors)


def test_prefix_without_slash_warns_of_other_directories(
    endpoint: str, s3_client: Any, bucket: str
) -> None:
    """`db` matches `db-old/` too: both commands warn and name it."""
    put_many(s3_client, bucket, ["db/1", "db-old/1"])
    for app, extra in ((ls_app, []), (prune_app, ["--keep-last", "5", "--dry-run"])):
        result = run(app, f"s3://{bucket}/db", *extra, "--endpoint-url", endpoint)
        assert result.exit_code == 0, result.stderr
        assert "does not end in '/' and also matches db-old/" in result.stderr
    quiet = run(ls_app, f"s3://{bucket}/db/", "--endpoint-url", endpoint)
    assert "warning" not in quiet.stderr


def test_ls_table_json_and_pending_uploads(
    aws_env: None, s3_client: Any, bucket: str, fault_proxy: FaultProxy
) -> None:
    """ls: newest first, stored checksum, a key with a tab escaped, the pending upload
    in its own section; --json one object per line; a plain bucket costs no HeadObject."""
    put_many(s3_client, bucket, ["db/1.dump"])
    s3_client.put_object(Bucket=bucket, Key="db/2.dump.zst", Body=b"z" * 2048,
                         ChecksumAlgorithm="CRC64NVME")  # fmt: skip
    s3_client.put_object(Bucket=bucket, Key="db/3\tevil", Body=b"e")
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="db/4.dump")["UploadId"]
    uri, endpoint = f"s3://{bucket}/db/", fault_proxy.endpoint_url
    result = run(ls_app, uri, "--endpoint-url", endpoint)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("'db/3\\tevil'")
    assert lines[2].split()[:3] == ["db/2.dump.zst", "2", "KiB"]
    assert "CRC64NVME" in lines[2]
    assert lines[2].rstrip().endswith("zstd (name)")
    assert lines[3].startswith("db/1.dump")
    assert lines[5].startswith("PENDING UPLOAD KEY")
    assert lines[6].startswith("db/4.dump")
    assert upload in lines[6]
    assert not [e for e in fault_proxy.log if e.method == "HEAD"]
    as_json = run(ls_app, uri, "--json", "--endpoint-url", endpoint)
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["type"], r["key"]) for r in records] == [
        ("object", "db/3\tevil"), ("object", "db/2.dump.zst"), ("object", "db/1.dump"),
        ("upload", "db/4.dump"),
    ]  # fmt: skip
    assert records[1]["checksum_algorithm"] == "CRC64NVME"
    assert records[1]["size"] == 2048
    # No Object Lock on the bucket: no object can be locked, known without a HeadObject.
    assert records[1]["object_lock"] is None
    assert records[1]["object_lock_known"] is True
    assert records[3]["upload_id"] == upload


def test_ls_long_reads_the_content_type(endpoint: str, s3_client: Any, bucket: str) -> None:
    """--long asks HeadObject: the format from the Content-Type --compress sets."""
    s3_client.put_object(Bucket=bucket, Key="db/1", Body=b"z", ContentType="application/zstd")
    short = run(ls_app, f"s3://{bucket}/db/", "--endpoint-url", endpoint)
    assert short.stdout.splitlines()[1].rstrip().endswith("-")
    long = run(ls_app, f"s3://{bucket}/db/", "-l", "--endpoint-url", endpoint)
    assert long.exit_code == 0, long.stderr
    row = long.stdout.splitlines()[1]
    assert row.rstrip().endswith("zstd")
    assert "none" in row  # no Object Lock, known


def test_an_unreadable_lock_is_not_deleted_and_fails_the_run(
    aws_env: None, s3_client: Any, fault_proxy: FaultProxy
) -> None:
    """Object Lock bucket, the HeadObject of one object refused: that object is not deleted
    (its lock is unknown) and the run exits 1; the others are pruned."""
    bucket = f"lock-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    put_many(s3_client, bucket, ["db/1", "db/2", "db/3"])
    fault_proxy.respond(403, "AccessDenied", method="HEAD", path=r"/db/1$", times=None)
    result = run(prune_app, f"s3://{bucket}/db/", "--keep-last", "1", "--json",
                 "--endpoint-url", fault_proxy.endpoint_url)  # fmt: skip
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert [f["key"] for f in record["failed"]] == ["db/1"]
    assert "HeadObject failed" in record["failed"][0]["error"]
    assert [d["key"] for d in record["deleted"]] == ["db/2"]
    assert sorted(keys(s3_client, bucket)) == ["db/1", "db/3"]
    assert versions(s3_client, bucket)[1] == ["db/2"]


def test_main_dispatches_ls_and_prune(
    endpoint: str, s3_client: Any, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`s3sink ls` and `s3sink prune` are subcommands of the entry point, not sink URIs."""
    put_many(s3_client, bucket, ["db/1", "db/2"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["prune", f"s3://{bucket}/db/", "--keep-last", "1", "--endpoint-url", endpoint])
    assert exit_info.value.code == 0
    assert keys(s3_client, bucket) == ["db/2"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ls", f"s3://{bucket}", "--json", "--endpoint-url", endpoint])
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out)["key"] == "db/2"
