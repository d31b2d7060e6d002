"""--sse-c-key-file on the real stores. SeaweedFS (4.48) does SSE-C: the object needs the key
to be read at all (a GET without it or with another key is refused), and s3sink's upload,
cat, get and verify with the key round-trip. Ceph RGW as tests/support/stores.py configures
it (plain HTTP, ``rgw crypt require ssl`` left at its default, true) refuses SSE-C requests
with InvalidRequest: the upload fails with exit 1 and leaves nothing behind. moto ignores
SSE-C (tests/wire/test_ssec.py checks what s3sink sends)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import assert_nothing_written, pattern, run_cli
from tests.support.stores import StoreServer

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
DATA = pattern(12 * MiB + 5)  # three parts at --part-size 5MiB
KEY = bytes(range(200, 232))


def s3sink(store: StoreServer, args: list[str], data: bytes | None = None) -> Any:
    return run_cli(args, store.env(), data=data)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_bytes(KEY)
    return path


# moto ignores SSE-C (tests/wire/test_ssec.py checks the requests): the two stores that act on it.
@pytest.mark.parametrize("store", ["seaweedfs", "rgw"], indirect=True)
def test_sse_c_round_trips_where_the_store_does_it(
    store: StoreServer, store_client: Any, store_bucket: str, key_file: Path, tmp_path: Path
) -> None:
    """SeaweedFS: upload, cat, get and verify with the key (exit 0, the bytes back); without
    the key or with another, the store refuses the read (cat exits 1, nothing written out).
    RGW over plain HTTP: the upload exits 1, no object, no pending upload."""
    uri = f"s3://{store_bucket}/db.dump"
    ssec = ["--sse-c-key-file", str(key_file)]
    up = s3sink(store, [uri, "--part-size", "5MiB", *ssec, "--json"], DATA)
    if store.name == "rgw":
        assert up.returncode == 1, up.stderr
        assert b"InvalidRequest" in up.stderr
        assert_nothing_written(store_client, store_bucket)
        return
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["parts"] == 3
    cat = s3sink(store, ["cat", uri, *ssec])
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == DATA
    got = s3sink(store, ["get", uri, str(tmp_path / "out"), *ssec])
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out").read_bytes() == DATA
    checked = s3sink(store, ["verify", uri, *ssec, "--json"])
    assert checked.returncode == 0, checked.stderr
    without = s3sink(store, ["cat", uri, "-o", str(tmp_path / "no-key")])
    assert without.returncode == 1, without.stderr
    assert b"read with its key (--sse-c-key-file)" in without.stderr
    other = tmp_path / "other"
    other.write_bytes(bytes(32))
    wrong = s3sink(store, ["cat", uri, "--sse-c-key-file", str(other), "-o", str(tmp_path / "w")])
    assert wrong.returncode == 1, wrong.stderr
    assert b"is this the key the object was written with?" in wrong.stderr
    assert not (tmp_path / "no-key").exists()
    assert not (tmp_path / "w").exists()
