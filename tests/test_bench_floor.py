"""The bench's floor senders (scripts/benchlib/floor.py) against the discard server: counted,
not hashed, the right CRC64NVME, and an input of the wrong size refused."""

from __future__ import annotations

import base64
import importlib.util
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MiB = 1024 * 1024
BENCHLIB = Path(__file__).resolve().parents[1] / "scripts" / "benchlib"


def _load(name: str) -> ModuleType:
    """Import a benchlib script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHLIB / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


floor = _load("floor")
discard = _load("discard_server")


def _crc64nvme_b64(data: bytes) -> str:
    """S3's form of a CRC64NVME: base64 of the 8 big-endian bytes, computed by awscrt."""
    checksums = pytest.importorskip("awscrt.checksums")
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


@pytest.fixture
def server() -> Iterator[Any]:
    """An in-process discard server on a free loopback port."""
    with discard.DiscardS3Server("127.0.0.1", 0) as srv:
        yield srv


def test_floor_upload_is_counted_as_parts_and_not_hashed(server: Any) -> None:
    """The plain floor sends the minimum of S3: parts of the part size with their
    Content-Length, unsigned and without a checksum; the server counts the sum of the parts at
    Complete and, as asked, spends no MD5 on them."""
    data = os.urandom(11 * MiB + 5)
    result = floor.upload(
        io.BytesIO(data).readinto,
        url=server.url,
        bucket="bench",
        key="floor/plain",
        size=len(data),
        part_size=5 * MiB,
        buffer_size=256 * 1024,
    )
    assert result == {"size": len(data), "parts": 3}
    record = server.stats("bench/floor/plain")["object"]
    assert (record["size"], record["parts"], record["checksums"]) == (len(data), 3, {})
    counters = server.stats()["counters"]
    assert counters["payload_hash:UNSIGNED-PAYLOAD"] == 3
    assert "md5_bytes" not in counters
    assert not any(name.startswith("checksum_") for name in counters)


def test_floor_crc_sends_the_crc64nvme_of_what_it_sent(server: Any) -> None:
    """floor --crc runs CRC64NVME over every byte (in buffers that do not divide the part) and
    sends it at Complete as the object's FULL_OBJECT checksum: awscrt's value of the input."""
    data = os.urandom(7 * MiB + 12_345)
    result = floor.upload(
        io.BytesIO(data).readinto,
        url=server.url,
        bucket="bench",
        key="floor/crc",
        size=len(data),
        part_size=5 * MiB,
        buffer_size=100_000,
        crc=True,
    )
    expected = _crc64nvme_b64(data)
    assert result == {"size": len(data), "parts": 2, "crc64nvme": expected}
    record = server.stats("bench/floor/crc")["object"]
    assert record["size"] == len(data)
    assert record["checksums"] == {"crc64nvme": expected}
    assert server.stats()["counters"]["checksum_complete:crc64nvme"] == 1


@pytest.mark.parametrize(("said", "given"), [(6 * MiB, 6 * MiB - 1), (6 * MiB, 6 * MiB + 1)])
def test_floor_refuses_an_input_of_another_size(server: Any, said: int, given: int) -> None:
    """An input shorter or longer than --size fails the floor, and nothing is completed."""
    with pytest.raises(floor.FloorError, match="input"):
        floor.upload(
            io.BytesIO(b"x" * given).readinto,
            url=server.url,
            bucket="bench",
            key="floor/wrong",
            size=said,
            part_size=5 * MiB,
        )
    assert server.object_size("bench", "floor/wrong") is None
