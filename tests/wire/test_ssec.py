"""SSE-C through botocore's HTTP path against moto: every request of an upload and of a read
carries the key's headers. moto 5.2 ignores SSE-C (it stores the bytes in clear and serves
them without a key), so what the store does with the key is tested on SeaweedFS
(``tests/stores/test_store_ssec.py``); here, what s3sink sends."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import s3sink
from tests.support.fakes import MiB, payload
from tests.support.motoserver import make_client

KEY = bytes(range(100, 132))
KEY_B64 = base64.b64encode(KEY).decode()
KEY_MD5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()  # noqa: S324  # S3's key check
DATA = payload(11 * MiB + 3, seed=7)
ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"


@pytest.fixture
def recorded(s3_endpoint: str) -> Iterator[tuple[Any, list[tuple[str, dict[str, str]]]]]:
    """A client that records each operation's SSE-C headers as they go on the wire."""
    client = make_client(s3_endpoint)
    seen: list[tuple[str, dict[str, str]]] = []

    def hook(request: Any, operation_name: str, **_: Any) -> None:
        headers = {k.lower(): str(v) for k, v in request.headers.items()}
        seen.append((operation_name, {k: v for k, v in headers.items() if "customer" in k}))

    client.meta.events.register("before-sign.s3", hook)
    yield client, seen
    client.close()


def carries_key(headers: dict[str, str]) -> bool:
    return (
        headers.get(ALGORITHM) == "AES256"
        and headers.get(f"{ALGORITHM[:-9]}key") == KEY_B64
        and headers.get(f"{ALGORITHM[:-9]}key-md5") == KEY_MD5
    )


def test_every_request_of_an_upload_and_a_read_carries_the_key(
    recorded: tuple[Any, list[tuple[str, dict[str, str]]]], bucket: str, tmp_path: Path
) -> None:
    """sse_c_key= on the writer: CreateMultipartUpload, each UploadPart and the Complete send
    the key; on open("rb") and download_file: HeadObject and every ranged GetObject."""
    client, seen = recorded
    uri = f"s3://{bucket}/db.dump"
    with s3sink.open(uri, "wb", client=client, part_size=5 * MiB, sse_c_key=KEY) as w:
        w.write(DATA)
    ops = [op for op, _ in seen]
    assert ops.count("UploadPart") == 3
    assert {"CreateMultipartUpload", "CompleteMultipartUpload"} <= set(ops)
    assert all(carries_key(h) for _, h in seen), seen
    seen.clear()
    with s3sink.open(uri, "rb", client=client, part_size=4 * MiB, sse_c_key=KEY) as r:
        assert r.read() == DATA
    s3sink.download_file(uri, tmp_path / "out", client=client, sse_c_key=KEY)
    assert (tmp_path / "out").read_bytes() == DATA
    read_ops = {op for op, _ in seen}
    assert read_ops == {"HeadObject", "GetObject"}
    assert all(carries_key(h) for _, h in seen), seen


def test_a_small_upload_sends_the_key_with_its_put_object(
    recorded: tuple[Any, list[tuple[str, dict[str, str]]]], bucket: str, tmp_path: Path
) -> None:
    """A stream that fits one part is one PutObject, with the key; upload_file too."""
    client, seen = recorded
    source = tmp_path / "small"
    source.write_bytes(b"tiny")
    s3sink.upload_file(source, f"s3://{bucket}/small", client=client, sse_c_key=KEY)
    assert [op for op, _ in seen] == ["PutObject"]
    assert carries_key(seen[0][1])


def test_a_read_without_the_key_sends_none(
    recorded: tuple[Any, list[tuple[str, dict[str, str]]]], bucket: str
) -> None:
    """No sse_c_key, no SSE-C header (the option is not sticky on a client)."""
    client, seen = recorded
    with s3sink.open(f"s3://{bucket}/plain", "wb", client=client) as w:
        w.write(b"plain")
    assert seen
    assert all(not h for _, h in seen)
