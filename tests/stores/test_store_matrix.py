"""The ``s3sink`` command against each real store (moto, SeaweedFS 4.48, Ceph RGW 16.2), as a
subprocess, with the store's state checked through boto3 and faults injected by FaultProxy.

What the stores do differently (measured here; the table in docs/stores.md is written from
these tests): SeaweedFS checks and echoes part and PutObject checksums and the
FULL_OBJECT value on Complete (worded as ``BadDigest: The Content-Md5 you specified did not
match``), honours conditions on Complete, and does not check the SigV4 payload hash. Ceph RGW
ignores every ``x-amz-checksum-*`` header, checks Content-MD5 and the payload hash, ignores
If-None-Match / If-Match on Complete, takes If-Match only unquoted, answers ListParts of an
aborted upload with NoSuchKey (404) and Complete with ``<ETag></ETag>``. moto checks neither
checksums nor Content-MD5, stores the FULL_OBJECT value Complete claims, echoes a PutObject
checksum it never checked, and ignores If-Match on Complete. On all three a part's ETag is
the MD5 of the bytes the store received, which is what lets s3sink verify every part.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

import pytest

from tests.support.clirun import (
    S3SINK,
    assert_nothing_written,
    body,
    error_lines,
    keys,
    pattern,
    pending,
    run_cli,
    wait_for,
    wait_or_dump,
)
from tests.support.faultproxy import FaultProxy
from tests.support.stores import StoreServer

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
MULTIPART = 12 * MiB  # three parts at --part-size 5MiB: 5 + 5 + 2
CHECKSUMS = ["crc64nvme", "crc32c", "crc32", "sha256", "md5", "off"]


def sink(
    store: StoreServer,
    args: list[str],
    data: bytes | None = None,
    *,
    endpoint: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``s3sink ARGS`` against the store (or ``endpoint``, e.g. a FaultProxy before it)."""
    env = store.env()
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    return run_cli(args, env, data=data)


@pytest.fixture
def proxy(store: StoreServer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the store."""
    with FaultProxy(store.endpoint_url) as fault_proxy:
        yield fault_proxy


def stored_checksum(client: Any, bucket: str, key: str) -> dict[str, str]:
    """The object's checksum fields as HeadObject reports them (ChecksumMode=ENABLED)."""
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    return {k: str(v) for k, v in head.items() if k.startswith("Checksum")}


# -- round trips -----------------------------------------------------------------------------


def test_multipart_stream_round_trips(
    store: StoreServer, store_client: Any, store_bucket: str
) -> None:
    """12 MiB at --part-size 5MiB is stored as three parts with the same bytes."""
    data = pattern(MULTIPART)
    result = sink(store, [f"s3://{store_bucket}/big", "--part-size", "5MiB", "--json"], data)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["size"], report["parts"]) == (MULTIPART, 3)
    assert body(store_client, store_bucket, "big") == data
    assert pending(store_client, store_bucket) == []


def test_reported_etag_is_the_stored_objects(
    store: StoreServer, store_client: Any, store_bucket: str
) -> None:
    """--json reports the ETag the stored object has (RGW's Complete answers an empty ETag:
    s3sink asks HeadObject)."""
    data = pattern(MULTIPART)
    result = sink(store, [f"s3://{store_bucket}/big", "--part-size", "5MiB", "--json"], data)
    assert result.returncode == 0, result.stderr
    head = store_client.head_object(Bucket=store_bucket, Key="big")
    assert json.loads(result.stdout)["etag"] == head["ETag"]


@pytest.mark.parametrize("size", [1000, 0], ids=["small", "empty"])
def test_single_put_round_trips(
    store: StoreServer, store_client: Any, store_bucket: str, size: int
) -> None:
    """A stream shorter than one part is one PutObject: no multipart upload is left (an
    empty one only with --allow-empty)."""
    data = pattern(size)
    result = sink(store, [f"s3://{store_bucket}/small", "--json", "--allow-empty"], data)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["size"], report["parts"], report["upload_id"]) == (size, 1, None)
    assert body(store_client, store_bucket, "small") == data
    assert pending(store_client, store_bucket) == []


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_a_compressed_stream_under_a_cap_round_trips(
    store: StoreServer, store_client: Any, store_bucket: str, codec: str
) -> None:
    """--compress with --rate-limit on each store: the stored object is the compressed
    stream (its parts' checksums are those of the stored bytes), and it decompresses to the
    input."""
    import gzip

    import zstandard

    data = random.Random(7).randbytes(MULTIPART // 2) + pattern(MULTIPART // 2)
    args = [f"s3://{store_bucket}/c", "--part-size", "5MiB", "--json"]
    args += ["--compress", codec, "--rate-limit", "200MiB/s"]
    result = sink(store, args, data)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    stored = body(store_client, store_bucket, "c")
    assert (report["size"], report["source_size"]) == (len(stored), len(data))
    assert report["parts"] >= 2
    plain = (
        zstandard.ZstdDecompressor().decompressobj().decompress(stored)
        if codec == "zstd"
        else gzip.decompress(stored)
    )
    assert plain == data
    assert pending(store_client, store_bucket) == []


#: What each store does with the Object Lock s3sink sends (measured): "kept" on the object,
#: or "applied" by s3sink after the commit, because the store dropped it (moto 5 and RGW 16
#: drop the lock given to CreateMultipartUpload and keep PutObjectRetention's).
LOCK_STATE: dict[tuple[str, str], str] = {
    ("moto", "single"): "kept",
    ("moto", "multipart"): "applied",
    ("seaweedfs", "single"): "kept",
    ("seaweedfs", "multipart"): "kept",
    ("rgw", "single"): "kept",
    ("rgw", "multipart"): "applied",
}


@pytest.mark.parametrize("kind", ["single", "multipart"])
def test_object_lock_on_each_store(store: StoreServer, store_client: Any, kind: str) -> None:
    """Retention and legal hold end up on the object on every store (set after the commit
    where the store dropped them); the upload succeeds (the integrity header S3 asks for a
    locked object is on every request) and nothing is left pending."""
    import datetime as dt
    import uuid

    name = f"s3sink-lock-{uuid.uuid4().hex[:12]}"
    store_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    data = pattern(MULTIPART if kind == "multipart" else 1000)
    args = [f"s3://{name}/k", "--part-size", "5MiB", "--object-lock-mode", "GOVERNANCE"]
    args += ["--object-lock-retain-until", "2099-01-31", "--legal-hold", "--json"]
    result = sink(store, args, data)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["object_lock"] == LOCK_STATE[store.name, kind]
    assert body(store_client, name, "k") == data
    head = store_client.head_object(Bucket=name, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert head["ObjectLockRetainUntilDate"] == dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc)
    assert pending(store_client, name) == []


#: Whether the store keeps the checksum s3sink sent, by store and request kind (moto keeps a
#: PutObject checksum only because x-amz-sdk-checksum-algorithm comes with it, as from boto3).
KEEPS_CHECKSUM: dict[tuple[str, str], bool | None] = {
    ("moto", "multipart"): True,
    ("moto", "single"): True,
    ("seaweedfs", "multipart"): True,
    ("seaweedfs", "single"): True,
    ("rgw", "multipart"): False,
    ("rgw", "single"): False,
}


@pytest.mark.parametrize("kind", ["multipart", "single"])
@pytest.mark.parametrize("checksum", CHECKSUMS)
def test_each_checksum_round_trips(
    store: StoreServer, store_client: Any, store_bucket: str, checksum: str, kind: str
) -> None:
    """Every --checksum value uploads the bytes unchanged; what the store keeps (RGW: nothing)
    is the checksum s3sink reports."""
    data = pattern(MULTIPART if kind == "multipart" else 100_000)
    args = [f"s3://{store_bucket}/obj", "--part-size", "5MiB", "--checksum", checksum, "--json"]
    result = sink(store, args, data)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert body(store_client, store_bucket, "obj") == data
    stored = stored_checksum(store_client, store_bucket, "obj")
    if checksum in ("off", "md5"):
        assert report["checksum"] is None
        assert report["integrity"] == "etag-md5"
        assert stored == {}
        return
    keeps = KEEPS_CHECKSUM[store.name, kind]
    if keeps is False:
        assert stored == {}
    elif keeps or stored:
        # A COMPOSITE value ends in -N on S3 and SeaweedFS; moto leaves the suffix off.
        field = f"Checksum{checksum.upper()}"
        assert stored[field].split("-")[0] == report["checksum"].split("-")[0]


# -- housekeeping after kill -9 --------------------------------------------------------------


def _feed(stdin: IO[bytes] | None, stop: threading.Event) -> None:
    """Write 1 MiB chunks until stopped or the reader is gone."""
    assert stdin is not None
    chunk = pattern(MiB)
    try:
        while not stop.is_set():
            stdin.write(chunk)
            stdin.flush()
    except (BrokenPipeError, ValueError):
        pass


def _stored_parts(client: Any, bucket: str) -> int:
    uploads = pending(client, bucket)
    if not uploads:
        return 0
    upload = uploads[0]
    listed = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    return len(listed.get("Parts", []))


def test_kill_9_mid_stream_then_uploads_list_and_abort(
    store: StoreServer, store_client: Any, store_bucket: str
) -> None:
    """kill -9 mid-stream leaves the upload pending with no object; `uploads list --json`
    lists it and `uploads abort --upload-id` removes it."""
    uri = f"s3://{store_bucket}/stream.bin"
    process = subprocess.Popen(
        [*S3SINK, uri, "--part-size", "5MiB", "-j", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=store.env(),
    )
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(process.stdin, stop), daemon=True)
    feeder.start()
    try:
        wait_for(lambda: _stored_parts(store_client, store_bucket) >= 1, timeout=30.0)
        process.kill()
        assert wait_or_dump(process, timeout=10) == -9
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        stop.set()
        feeder.join(10)
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # buffered bytes nobody will read
            process.stdin.close()
    assert keys(store_client, store_bucket) == []
    (upload,) = pending(store_client, store_bucket)

    listed = sink(store, ["uploads", "list", f"s3://{store_bucket}", "--json"])
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [(r["uri"], r["upload_id"]) for r in records] == [(uri, upload["UploadId"])]

    upload_id = upload["UploadId"]
    aborted = sink(store, ["uploads", "abort", f"s3://{store_bucket}", "--upload-id", upload_id])
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout.startswith(f"aborted {uri} upload {upload_id} ".encode())
    assert_nothing_written(store_client, store_bucket)


# -- failures that must publish nothing ------------------------------------------------------


def test_exec_mode_failure_exits_with_its_status_and_writes_nothing(
    store: StoreServer, store_client: Any, store_bucket: str
) -> None:
    """A producer that writes 6 MB (one part sent) then exits 3: s3sink exits 123, aborts, and
    says so; no object and no upload remain (on RGW too, whose ListParts answers NoSuchKey
    once the upload is gone)."""
    # The pause lets part 1 land before the abort: moto answers a part in flight at the abort
    # with 500 (S3: 404), which botocore retries for ~15 s.
    producer = ["sh", "-c", "head -c 6000000 /dev/urandom; sleep 1; exit 3"]
    result = sink(store, [f"s3://{store_bucket}/obj", "--part-size", "5MiB", "--", *producer])
    assert_nothing_written(store_client, store_bucket)
    assert result.returncode == 123
    assert error_lines(result.stderr) == [
        "s3sink: error: sh exited with status 3; the upload was aborted and nothing was written"
    ]


@pytest.mark.parametrize("size", [1000, MULTIPART], ids=["single", "multipart"])
def test_no_overwrite_keeps_an_existing_object(
    store: StoreServer,
    store_client: Any,
    store_bucket: str,
    size: int,
) -> None:
    """--no-overwrite on an existing key exits 4 and leaves the object as it was, on stores
    that ignore the condition on Complete too (HeadObject before the first byte)."""
    store_client.put_object(Bucket=store_bucket, Key="obj", Body=b"original")
    args = [f"s3://{store_bucket}/obj", "--part-size", "5MiB", "--no-overwrite"]
    result = sink(store, args, pattern(size))
    assert body(store_client, store_bucket, "obj") == b"original"
    assert pending(store_client, store_bucket) == []
    assert result.returncode == 4, result.stderr


@pytest.mark.parametrize("size", [1000, MULTIPART], ids=["single", "multipart"])
def test_if_match_with_a_stale_etag_keeps_the_object(
    store: StoreServer,
    store_client: Any,
    store_bucket: str,
    size: int,
) -> None:
    """--if-match with an ETag the object no longer has exits 4 and leaves it as it was."""
    store_client.put_object(Bucket=store_bucket, Key="obj", Body=b"original")
    stale = '"00000000000000000000000000000000"'
    args = [f"s3://{store_bucket}/obj", "--part-size", "5MiB", "--if-match", stale]
    result = sink(store, args, pattern(size))
    assert body(store_client, store_bucket, "obj") == b"original"
    assert pending(store_client, store_bucket) == []
    assert result.returncode == 4, result.stderr


# -- a byte flipped in transit ---------------------------------------------------------------


def sends_of(proxy: FaultProxy, pattern_: str) -> int:
    """How many requests through the proxy matched ``pattern_`` (method and target)."""
    return sum(1 for e in proxy.log if re.search(pattern_, f"{e.method} {e.path}"))


@pytest.mark.parametrize("checksum", ["default", "md5", "off"])
@pytest.mark.parametrize("kind", ["part", "put"])
def test_a_flipped_byte_is_never_published(
    store: StoreServer,
    store_client: Any,
    store_bucket: str,
    proxy: FaultProxy,
    kind: str,
    checksum: str,
) -> None:
    """One byte inverted in transit (in UploadPart 1 of a 12 MiB stream, or in the PutObject
    of a 1 MiB one): the store refuses it, or its ETag shows it, and s3sink sends it again
    and publishes exactly the bytes it read; nothing is left pending."""
    if kind == "part":
        data = pattern(MULTIPART)
        target = r"^PUT /[^ ]*[?&]partNumber=1(&|$)"
        rule = proxy.flip_byte(method="PUT", path=r"[?&]partNumber=1(&|$)")
    else:
        data = pattern(MiB)
        target = rf"^PUT /{store_bucket}/obj$"
        rule = proxy.flip_byte(method="PUT", path=f"^/{store_bucket}/obj$")
    args = [f"s3://{store_bucket}/obj", "--part-size", "5MiB", "--json"]
    if checksum != "default":
        args += ["--checksum", checksum]
    result = sink(store, args, data, endpoint=proxy.endpoint_url)
    assert rule.applied == 1
    assert result.returncode == 0, result.stderr
    assert body(store_client, store_bucket, "obj") == data
    assert pending(store_client, store_bucket) == []
    # The corrupted send, the one that arrived intact, and on RGW a replacing PutObject
    # whose quoted If-Match it refuses before taking it bare.
    assert 2 <= sends_of(proxy, target) <= 3
    assert json.loads(result.stdout)["integrity"] in ("store-checksum", "etag-md5")


@pytest.mark.parametrize("checksum", ["default", "off"])
def test_a_part_corrupted_on_every_send_fails_with_nothing_published(
    store: StoreServer, store_client: Any, store_bucket: str, proxy: FaultProxy, checksum: str
) -> None:
    """Every send of part 1 corrupted: exit 1 after three sends, nothing written."""
    rule = proxy.flip_byte(method="PUT", path=r"[?&]partNumber=1(&|$)", times=100)
    args = [f"s3://{store_bucket}/obj", "--part-size", "5MiB"]
    if checksum != "default":
        args += ["--checksum", checksum]
    result = sink(store, args, pattern(MULTIPART), endpoint=proxy.endpoint_url)
    assert result.returncode == 1, result.stderr
    assert rule.applied == 3
    assert_nothing_written(store_client, store_bucket)
    assert "part 1" in error_lines(result.stderr)[0]


# -- resume ----------------------------------------------------------------------------------

RESUME_PRODUCER = """
import random, sys, time
size, seed, fail_at = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
data = random.Random(seed).randbytes(size)
out = sys.stdout.buffer
out.write(data[:fail_at] if fail_at >= 0 else data); out.flush()
if fail_at >= 0:
    time.sleep(1.0); sys.exit(3)
"""


@pytest.mark.parametrize("checksum", ["crc64nvme", "md5"])
def test_a_kept_upload_resumes_skipping_the_stored_parts(
    store: StoreServer,
    store_client: Any,
    store_bucket: str,
    proxy: FaultProxy,
    tmp_path: Any,
    checksum: str,
) -> None:
    """--resumable keeps the upload when the producer fails; --resume finds it, compares each
    stored part (ListParts' checksum where the store lists one, else the MD5 ETag) with this
    run's bytes and sends only what is missing or different. ListParts differs by store:
    SeaweedFS and moto list the parts' CRCs, Ceph RGW lists none (ETags decide)."""
    size = 3 * 5 * MiB + 77
    env = {**store.env(), "AWS_ENDPOINT_URL": proxy.endpoint_url, "XDG_STATE_HOME": str(tmp_path)}
    base = [
        f"s3://{store_bucket}/db.dump",
        "--part-size",
        "5MiB",
        "--checksum",
        checksum,
        "--resumable",
        "--json",
        "--",
        sys.executable,
        "-c",
        RESUME_PRODUCER,
        str(size),
        "1",
    ]
    first = run_cli([*base, str(2 * 5 * MiB + 3)], env)
    assert first.returncode == 123, first.stderr
    assert json.loads(first.stdout)["kept"] is True
    (upload,) = pending(store_client, store_bucket)
    listed = store_client.list_parts(
        Bucket=store_bucket, Key="db.dump", UploadId=upload["UploadId"]
    )["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2]
    since = len(proxy.log)
    second = run_cli([*base[:-6], "--resume", *base[-6:], "-1"], env)
    assert second.returncode == 0, second.stderr
    record = json.loads(second.stdout)
    assert record["parts_skipped"] == 2
    assert record["upload_id"] == upload["UploadId"]
    puts = [e for e in proxy.log[since:] if e.method == "PUT" and "partNumber=" in e.path]
    assert len(puts) == 2  # parts 3 and 4
    import random

    assert body(store_client, store_bucket, "db.dump") == random.Random(1).randbytes(size)
    assert pending(store_client, store_bucket) == []


def test_a_complete_listing_a_replaced_parts_old_etag_never_publishes_the_new_bytes(
    store: StoreServer, store_client: Any, store_bucket: str
) -> None:
    """What two runs resuming one upload at once (on two machines: no local lock between
    them) rely on: run A lists part 1 by the ETag it sent, run B sent part 1 again with other
    bytes meanwhile; A's Complete is refused (moto, Ceph RGW: InvalidPart) or publishes the
    bytes A's ETag names (SeaweedFS keeps every copy of a part, and lists both), never B's."""
    key = "raced"
    first, other, tail = pattern(5 * MiB), pattern(5 * MiB + 1)[1:], b"tail"
    upload_id = store_client.create_multipart_upload(Bucket=store_bucket, Key=key)["UploadId"]
    common = {"Bucket": store_bucket, "Key": key, "UploadId": upload_id}
    etag_a = store_client.upload_part(**common, PartNumber=1, Body=first)["ETag"]
    etag_2 = store_client.upload_part(**common, PartNumber=2, Body=tail)["ETag"]
    etag_b = store_client.upload_part(**common, PartNumber=1, Body=other)["ETag"]
    assert etag_a != etag_b
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag_a}, {"PartNumber": 2, "ETag": etag_2}]}
    if store.name == "seaweedfs":
        store_client.complete_multipart_upload(**common, MultipartUpload=parts)
        assert body(store_client, store_bucket, key) == first + tail
        return
    with pytest.raises(store_client.exceptions.ClientError, match="InvalidPart"):
        store_client.complete_multipart_upload(**common, MultipartUpload=parts)
    assert key not in keys(store_client, store_bucket)
