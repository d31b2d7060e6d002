"""Fixtures shared by the folders: one moto S3 server per session, reset before each test that
uses it (wire, cli, mount), the fault proxy in front of it, the environment of an s3sink
process, and of the command run in this process (aws_env, restore_signals); a PostgreSQL
cluster with a table to dump (tests/cli, tests/mount)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from s3sink._exec import signals as _signals
from tests.support.clirun import assert_nothing_written, cli_env, keys, pending
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import DUMMY_CREDENTIALS, SECRET, MotoServer, make_client
from tests.support.postgres import Fingerprint, PostgresServer, PostgresUnavailable, create_source


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


@pytest.fixture(scope="module")
def module_s3(moto_server: MotoServer) -> Iterator[Any]:
    """A client of the session's moto server for a whole module, whose one bucket serves every
    case of a long table (a server reset and a new bucket per case would double its run time).
    Such a module must not use ``s3_endpoint``, whose reset would wipe that bucket."""
    if not moto_server.running:
        moto_server.restart()
    client = make_client(moto_server.endpoint_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def module_bucket_name(module_s3: Any) -> str:
    """The module's bucket."""
    name = f"module-{uuid.uuid4().hex[:16]}"
    module_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def module_bucket(module_s3: Any, module_bucket_name: str) -> Iterator[str]:
    """The module's bucket, empty; whatever a failing case left in it is removed afterwards,
    so that one failure does not spread to the next cases."""
    assert_nothing_written(module_s3, module_bucket_name)
    yield module_bucket_name
    for upload in pending(module_s3, module_bucket_name):
        module_s3.abort_multipart_upload(
            Bucket=module_bucket_name, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for key in keys(module_s3, module_bucket_name):
        module_s3.delete_object(Bucket=module_bucket_name, Key=key)


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


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment for the command run in it (typer's CliRunner): dummy
    credentials (the secret key is SECRET, which must never be printed), no profile or config
    files, no proxies, no S3SINK_* settings: only 127.0.0.1 is reachable."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "*")
    for name in list(os.environ):
        if name.startswith("S3SINK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """Put back the handlers of the signals the command forwards, after the test."""
    saved = {s: signal.getsignal(s) for s in _signals.FORWARDED_SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (tests/support/postgres.py), stopped and
    deleted at the end of the session. Without the binaries its tests are skipped, except under
    CI (``CI=true``), whose ``.ci/run`` installs them: there they fail."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (CI=true: .ci/run should have installed the postgresql package)")
        pytest.skip(f"{exc}; install the postgresql package (apt-get install -y postgresql)")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_source(pg_cluster: PostgresServer) -> Fingerprint:
    """A database with table ``t`` of ~25 MiB of md5 text; returns its fingerprint."""
    return create_source(pg_cluster)
