"""``s3sink ls`` and ``s3sink prune`` on each real store (moto, SeaweedFS, Ceph RGW), as real
processes: the listing newest first with the pending uploads, and a prune whose
DeleteObjects each store takes (some want Content-MD5, some a checksum: botocore sends what
the store needs, and every key's outcome is read back)."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.support.clirun import run_cli
from tests.support.stores import StoreServer

pytestmark = pytest.mark.slow


def s3sink(store: StoreServer, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    return run_cli(args, store.env())


def test_ls_then_prune_keep_last(store: StoreServer, store_client: Any, store_bucket: str) -> None:
    """Five backups a second apart (LastModified has second resolution), a pending upload and
    an object outside the prefix: ls shows them newest first; prune --keep-last 2 deletes the
    three oldest and nothing else, the pending upload included."""
    keys = [f"db/{i}.dump" for i in range(5)]
    for key in keys:
        store_client.put_object(Bucket=store_bucket, Key=key, Body=key.encode() * 100)
        time.sleep(1.1)
    store_client.put_object(Bucket=store_bucket, Key="db-old/x", Body=b"x")
    pending = store_client.create_multipart_upload(Bucket=store_bucket, Key="db/pending")

    listed = s3sink(store, ["ls", f"s3://{store_bucket}/db/", "--json"])
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    objects = [r["key"] for r in records if r["type"] == "object"]
    assert objects == keys[::-1]
    assert [r["key"] for r in records if r["type"] == "upload"] == ["db/pending"]

    pruned = s3sink(store, ["prune", f"s3://{store_bucket}/db/", "--keep-last", "2", "--json"])
    assert pruned.returncode == 0, pruned.stderr
    record = json.loads(pruned.stdout)
    assert [k["key"] for k in record["kept"]] == keys[:2:-1]
    assert sorted(d["key"] for d in record["deleted"]) == keys[:3]
    left = store_client.list_objects_v2(Bucket=store_bucket).get("Contents", [])
    assert sorted(o["Key"] for o in left) == sorted(["db-old/x", *keys[3:]])
    uploads = store_client.list_multipart_uploads(Bucket=store_bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [pending["UploadId"]]
