"""The objects below a prefix (``s3sink._store.listing``) against moto: every page, keys exactly
as stored (hostile ones too, a NUL byte included: a restore decides what to do with them;
moto answers 404 to a PutObject of a key with a newline), sizes and ETags, and a
missing bucket as an error naming it."""

from __future__ import annotations

from typing import Any

import pytest

from s3sink._store.client import build_client
from s3sink._store.listing import list_objects
from s3sink.errors import ReadError


@pytest.fixture
def client(aws_env: None, s3_endpoint: str) -> Any:
    """s3sink's own client for the moto server."""
    return build_client(concurrency=2, endpoint_url=s3_endpoint, region="us-east-1")


def test_every_page_and_key_as_stored(client: Any, s3_client: Any, bucket: str) -> None:
    """Keys below the prefix come back whole and unchanged over several pages, `..` and
    leading-slash keys included; keys outside the prefix do not."""
    keys = [f"tree/k{n:02d}" for n in range(7)]
    keys += ["tree/../escape", "tree//abs", "tree/dir/", "tree/a\\b", "tree/nul\x00"]
    for key in [*keys, "other/x", "treeish"]:
        s3_client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = list(list_objects(client, bucket, "tree/", page_size=3))
    assert sorted(o.key for o in listed) == sorted(keys)
    sizes = {o.key: o.size for o in listed}
    assert all(sizes[k] == len(k.encode()) for k in keys)
    assert all(o.etag.startswith('"') for o in listed)


def test_a_missing_bucket_is_an_error_naming_it(client: Any) -> None:
    """NoSuchBucket: an s3sink error that names the bucket and the listing."""
    with pytest.raises(ReadError, match="ListObjectsV2 failed") as caught:
        list(list_objects(client, "no-such-bucket-here", "p/"))
    assert "no-such-bucket-here" in str(caught.value)
