"""tests/stores: the real S3-compatible stores, SeaweedFS and Ceph RGW beside moto
(tests/support/stores.py), each started once per session when a test first needs it; the
fixtures of that store matrix."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.folders import mark_folder
from tests.support.stores import STORES, StoreServer, StoreStartError, make_store


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``stores`` marker."""
    mark_folder(items, __file__, pytest.mark.stores)


@pytest.fixture(scope="session", params=list(STORES), ids=str)
def store(request: pytest.FixtureRequest) -> Iterator[StoreServer]:
    """Each S3-compatible store in turn (moto, SeaweedFS, Ceph RGW), started on 127.0.0.1 the
    first time a test needs it and stopped when the session moves on to the next store.

    A store that cannot start skips its tests with the reason, except under CI (``CI=true``),
    whose ``.ci/run`` installs them all: there it fails them. pytest remembers the failure, so
    a broken store is tried once, not once per test.
    """
    server = make_store(request.param)
    try:
        server.start()
    except StoreStartError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"store {request.param} did not start (CI=true): {exc}", pytrace=False)
        pytest.skip(f"store {request.param} did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def store_client(store: StoreServer) -> Iterator[Any]:
    """A boto3 client straight to the store (its identity, path-style), closed afterwards."""
    client = store.client()
    yield client
    client.close()


@pytest.fixture
def store_bucket(store: StoreServer, store_client: Any) -> Iterator[str]:
    """A fresh bucket on the store; emptied and deleted afterwards."""
    name = f"s3sink-{uuid.uuid4().hex[:16]}"
    store_client.create_bucket(Bucket=name)
    yield name
    # Best effort: the store is thrown away at the end of the session anyway; this only keeps
    # RGW's RAM-backed OSD and SeaweedFS's volumes from filling up over a long session.
    with contextlib.suppress(Exception):
        uploads = store_client.list_multipart_uploads(Bucket=name).get("Uploads", [])
        for upload in uploads:
            store_client.abort_multipart_upload(
                Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for page in store_client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                store_client.delete_object(Bucket=name, Key=obj["Key"])
        store_client.delete_bucket(Bucket=name)
