"""``s3sink cat`` against each real store (moto, SeaweedFS, Ceph RGW): what every upload mode
of s3sink leaves there reads back verified, by what that store keeps (SeaweedFS and moto keep
the checksums; RGW keeps none, so the ETag's MD5s check the bytes); a byte flipped on the way
back fails (5); an object replaced between ranges fails (4; RGW takes If-Match only bare, so
the reader switches to that form once); exec mode gives COMMAND the object.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import pattern, run_cli
from tests.support.faultproxy import FaultProxy
from tests.support.stores import StoreServer

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
MULTIPART = 12 * MiB + 5  # three parts at --part-size 5MiB
CHECKSUMS = ["crc64nvme", "crc32c", "crc32", "sha256", "md5", "off"]
COPY = "import shutil, sys; shutil.copyfileobj(sys.stdin.buffer, open(sys.argv[1], 'wb'))"


def s3sink(
    store: StoreServer, args: list[str], data: bytes | None = None, *, endpoint: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = store.env()
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    return run_cli(args, env, data=data)


def upload(store: StoreServer, uri: str, data: bytes, checksum: str = "crc64nvme") -> None:
    done = s3sink(store, [uri, "--part-size", "5MiB", "--checksum", checksum, "-q"], data)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def proxy(store: StoreServer) -> Iterator[FaultProxy]:
    with FaultProxy(store.endpoint_url) as fault_proxy:
        yield fault_proxy


def expected_check(store: StoreServer, checksum: str, multipart: bool) -> str:
    """How each store's copy is verified: by its checksum where it keeps one (SHA-256 of a
    multipart upload is COMPOSITE), else by the ETag (RGW keeps no checksum)."""
    if store.name == "rgw" or checksum in ("md5", "off"):
        return "etag-md5"
    if checksum == "sha256" and multipart:
        return "checksum-composite"
    return "checksum-full-object"


@pytest.mark.parametrize("checksum", CHECKSUMS)
@pytest.mark.parametrize("size", [3 * MiB, MULTIPART], ids=["single", "multipart"])
def test_every_upload_mode_reads_back_verified(
    store: StoreServer, store_bucket: str, tmp_path: Path, checksum: str, size: int
) -> None:
    """Uploaded by s3sink in each checksum mode, read back by s3sink cat (-o, --json,
    4 MiB ranges across the parts): the same bytes, verified."""
    data = pattern(size)
    uri = f"s3://{store_bucket}/k"
    upload(store, uri, data, checksum)
    target = tmp_path / "out"
    done = s3sink(store, ["cat", uri, "-o", str(target), "--part-size", "4MiB", "--json"])
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    record = json.loads(done.stdout)
    assert record["verified"] is True, record
    assert record["verified_by"] == expected_check(store, checksum, size > 5 * MiB), record


def test_exec_mode_gives_the_command_the_object(
    store: StoreServer, store_bucket: str, tmp_path: Path
) -> None:
    """s3sink cat … -- COMMAND: COMMAND reads the whole object from its stdin."""
    data = pattern(MULTIPART)
    uri = f"s3://{store_bucket}/k"
    upload(store, uri, data)
    target = tmp_path / "copy"
    done = s3sink(store, ["cat", uri, "--", sys.executable, "-c",
                          COPY, str(target)])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == data


def test_a_byte_flipped_on_the_way_back_fails(
    store: StoreServer, store_bucket: str, proxy: FaultProxy
) -> None:
    """One byte of a GET's body flipped between the store and s3sink: exit 5, never the
    object's last range on stdout."""
    data = pattern(MULTIPART)
    upload(store, f"s3://{store_bucket}/k", data)
    proxy.flip_response_byte(method="GET", path=r"/k$")
    done = s3sink(store, ["cat", f"s3://{store_bucket}/k"], endpoint=proxy.endpoint_url)
    assert done.returncode == 5, done.stderr
    assert len(done.stdout) < len(data)


def test_an_object_replaced_between_ranges_fails(
    store: StoreServer, store_client: Any, store_bucket: str, proxy: FaultProxy
) -> None:
    """Replaced when the second GET arrives: exit 4, and only the old version's bytes were
    written. The range size is given: on RGW, which answers no part numbers, the reader would
    otherwise take the 12 MiB object in one default-sized range and never send a second GET."""
    data = pattern(MULTIPART)
    upload(store, f"s3://{store_bucket}/k", data)
    proxy.on_request(
        lambda: store_client.put_object(Bucket=store_bucket, Key="k", Body=b"new" * 1000),
        method="GET",
        path=r"/k$",
        nth=2,
    )
    args = ["cat", f"s3://{store_bucket}/k", "-j", "1", "--part-size", "5MiB"]
    done = s3sink(store, args, endpoint=proxy.endpoint_url)
    assert done.returncode == 4, done.stderr
    assert done.stdout == data[: len(done.stdout)]


def upload_tree(store: StoreServer, store_client: Any, bucket: str) -> dict[str, bytes]:
    """A small tree as s3sink and its mount leave one: a multipart object, a single PUT, one
    uploaded with ``--checksum off``, and a directory marker."""
    tree = {"t/big": pattern(MULTIPART), "t/sub/small": b"small\n" * 1000, "t/sub/plain": b"p"}
    for (key, data), checksum in zip(tree.items(), ["crc64nvme", "crc32c", "off"], strict=True):
        upload(store, f"s3://{bucket}/{key}", data, checksum)
    store_client.put_object(Bucket=bucket, Key="t/empty/", Body=b"")
    return tree


def test_get_restores_a_tree_verified(
    store: StoreServer, store_client: Any, store_bucket: str, tmp_path: Path
) -> None:
    """``s3sink get s3://B/t/ DIR``: every object to DIR/relative-key, the marker as a
    directory, each read back verified by what that store keeps."""
    tree = upload_tree(store, store_client, store_bucket)
    target = tmp_path / "restore"
    done = s3sink(store, ["get", f"s3://{store_bucket}/t/", str(target), "--part-size", "5MiB"])
    assert done.returncode == 0, done.stderr
    for key, data in tree.items():
        assert (target / key.removeprefix("t/")).read_bytes() == data, key
    assert (target / "empty").is_dir()


def test_verify_recursive_checks_every_object(
    store: StoreServer, store_client: Any, store_bucket: str, proxy: FaultProxy
) -> None:
    """``verify --recursive`` reads every object below the prefix: all ok, then a byte
    flipped in one object's GET makes that one CORRUPT and the run exit 5."""
    tree = upload_tree(store, store_client, store_bucket)
    args = ["verify", f"s3://{store_bucket}/t/", "--recursive", "--json"]
    done = s3sink(store, args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["objects"] == len(tree) + 1  # the marker is an object too
    assert report["summary"]["corrupt"] == report["summary"]["failed"] == 0, report
    assert {r["uri"].split("/", 3)[3] for r in report["objects"] if r["status"] == "ok"} >= {
        "t/big", "t/sub/small"}  # fmt: skip

    proxy.flip_response_byte(method="GET", path=r"/t/big$")
    done = s3sink(store, args, endpoint=proxy.endpoint_url)
    assert done.returncode == 5, done.stderr
    statuses = {r["uri"].split("/", 3)[3]: r["status"] for r in json.loads(done.stdout)["objects"]}
    assert statuses["t/big"] == "corrupt", statuses
    assert statuses["t/sub/small"] == "ok", statuses
