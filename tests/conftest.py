"""Shared fixtures: one moto S3 server per session, reset before each test that uses it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clirun import cli_env
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import MotoServer, make_client


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto S3 server subprocess on 127.0.0.1 with the real 5 MiB minimum part size."""
    with MotoServer(env={"S3_UPLOAD_PART_MIN_SIZE": None}) as server:
        yield server


@pytest.fixture
def s3_endpoint(moto_server: MotoServer) -> str:
    """The moto server's endpoint URL, with all state wiped (restarted if a test stopped it)."""
    if not moto_server.running:
        moto_server.restart()
    moto_server.reset()
    return moto_server.endpoint_url


@pytest.fixture
def s3_client(s3_endpoint: str) -> Iterator[Any]:
    """A boto3 S3 client talking straight to moto (dummy credentials, path-style)."""
    client = make_client(s3_endpoint)
    yield client
    client.close()


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A freshly created bucket with a unique name."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def fault_proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the (reset) moto server; stopped, all threads joined, after."""
    with FaultProxy(s3_endpoint) as proxy:
        yield proxy


@pytest.fixture
def env() -> dict[str, str]:
    """The environment of s3sink processes: dummy credentials, no profiles or proxies, no
    S3SINK_* settings from the caller, UTF-8 mode."""
    return cli_env()
