"""Batched TLS (``_store/tls.py``) and 1 MiB sends (``_store/connections.py``) against a real
TLS server on 127.0.0.1: the bench's discard server with a throw-away CA, which checks every
part's CRC64NVME and the object's, and serves synthetic objects to read back.

The record-size checks watch the TCP socket under the TLS layer: Python's ``ssl.SSLSocket``
writes each record (at most 16 KiB of plaintext) in a syscall of its own, so writes larger
than one record prove that records are batched."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import s3sink
from s3sink._store import tls
from s3sink._store.client import build_client
from s3sink._store.connections import tune_connections
from tests.support.benchlib import load

MiB = 1024 * 1024
RECORD = 16 * 1024 + 256  # the most one TLS record can take on the wire, with its overhead


class Recorder:
    """A TCP socket whose ``sendall`` and ``recv_into`` sizes are recorded."""

    def __init__(self, sock: socket.socket, log: dict[str, list[int]]) -> None:
        self._sock = sock
        self._log = log

    def sendall(self, data: Any) -> None:
        self._log["sent"].append(memoryview(data).nbytes)
        self._sock.sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        n = self._sock.recv_into(buffer, nbytes)
        self._log["received"].append(n)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Every batched TLS connection made in the test records its socket's I/O sizes."""
    log: dict[str, list[int]] = {"sent": [], "received": [], "connections": []}
    original = tls.BatchingContext.wrap_socket

    def wrap(self: tls.BatchingContext, sock: socket.socket, **kwargs: Any) -> tls.BatchedTLS:
        log["connections"].append(1)
        return original(self, Recorder(sock, log), **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tls.BatchingContext, "wrap_socket", wrap)
    return log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    target = load("harness.targets").DiscardTarget(True, tmp_path_factory.mktemp("tls"))
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def https_env(server: Any, monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Any:
    """The discard server, its CA trusted; dummy credentials, nothing but 127.0.0.1."""
    monkeypatch.setenv("AWS_CA_BUNDLE", server.ca_file)
    return server


def _client(server: Any) -> Any:
    return build_client(concurrency=4, endpoint_url=server.url)


def test_an_upload_over_https_sends_many_records_per_write(
    https_env: Any, wire: dict[str, list[int]]
) -> None:
    data = bytes(range(256)) * (23 * MiB // 256)
    with s3sink.open("s3://bench/tls/up", "wb", client=_client(https_env), part_size=5 * MiB) as w:
        w.write(data)
    # The discard server checked every part's CRC64NVME and the object's.
    assert https_env.object_info("tls/up") == (len(data), 5)
    assert wire["connections"], "the upload did not go through BatchedTLS"
    big = sum(n for n in wire["sent"] if n > RECORD)
    # SSLSocket would write every record on its own: nothing larger than one record.
    assert big >= 0.95 * len(data)
    assert max(wire["sent"]) >= tls.SEND_BATCH  # a batch of 16 records in one write


def test_reading_back_over_https_takes_many_records_per_read(
    https_env: Any, wire: dict[str, list[int]]
) -> None:
    synthetic = load("synthetic_data")
    size = 20 * MiB
    https_env.create_synthetic("tls/down", size, part_size=5 * MiB)
    with s3sink.open("s3://bench/tls/down", "rb", client=_client(https_env)) as r:
        got = r.read()
    assert got == synthetic.block() * (size // MiB)
    assert wire["connections"]
    assert sum(n for n in wire["received"] if n > RECORD) >= 0.5 * size


def test_a_byte_flipped_in_a_get_over_batched_tls_is_caught(
    https_env: Any, wire: dict[str, list[int]]
) -> None:
    """What the batched path decrypts is still what the reader verifies."""
    https_env.create_synthetic("tls/bad", 12 * MiB, part_size=5 * MiB, corrupt_at=7 * MiB + 3)
    with (
        pytest.raises(s3sink.IntegrityError),
        s3sink.open("s3://bench/tls/bad", "rb", client=_client(https_env)) as r,
    ):
        r.read()
    assert wire["connections"]


def test_the_escape_hatch_keeps_pythons_sslsocket(
    https_env: Any, wire: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3SINK_BATCHED_TLS", "0")
    with s3sink.open("s3://bench/tls/plain", "wb", client=_client(https_env)) as w:
        w.write(b"x" * MiB)
    assert https_env.object_info("tls/plain") == (MiB, 0)  # one PutObject
    assert wire["connections"] == []


@pytest.mark.usefixtures("aws_env")
def test_a_server_the_ca_bundle_does_not_vouch_for_is_refused(
    server: Any, monkeypatch: pytest.MonkeyPatch, wire: dict[str, list[int]]
) -> None:
    """The certificate is still checked: batching changes the socket, not the handshake."""
    monkeypatch.setenv("AWS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    client = build_client(concurrency=1, endpoint_url=server.url, max_attempts=1)
    with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        client.head_bucket(Bucket="bench")
    assert wire["connections"], "the refused handshake was not BatchedTLS's"


def test_tune_connections_leaves_a_client_without_the_expected_pool_alone() -> None:
    class Bare:
        pass

    assert tune_connections(Bare()) is False


# -- BatchedTLS against a plain ssl server thread ----------------------------------------------


Handler = Callable[[ssl.SSLSocket], None]


@pytest.fixture
def tls_thread(server: Any) -> Iterator[Callable[[Handler], tuple[int, tls.BatchingContext]]]:
    """Start a TLS server thread (the discard server's certificate) that runs a handler on
    one connection; and give a client context that trusts it."""
    cert_dir = Path(server.ca_file).parent
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_dir / "cert.pem", cert_dir / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    threads: list[threading.Thread] = []

    def start(handler: Handler) -> tuple[int, tls.BatchingContext]:
        def serve() -> None:
            conn, _ = listener.accept()
            with served.wrap_socket(conn, server_side=True) as tls_conn:
                handler(tls_conn)

        threads.append(threading.Thread(target=serve, daemon=True))
        threads[-1].start()
        client = tls.BatchingContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(server.ca_file)
        return listener.getsockname()[1], client

    try:
        yield start
    finally:
        for thread in threads:
            thread.join(10)
        listener.close()


def _echo(conn: ssl.SSLSocket) -> None:
    """Send back what arrives, then close with close_notify."""
    total = int.from_bytes(conn.recv(8), "big")
    got = bytearray()
    while len(got) < total:
        got += conn.recv(1 << 20)
    conn.sendall(bytes(got))
    # close_notify sent; the client then closes without one of its own, as HTTP clients
    # do, which unwrap reports while it waits for the answer.
    with contextlib.suppress(ssl.SSLEOFError):
        conn.unwrap()


def test_batched_tls_round_trip_and_a_clean_end(tls_thread: Any) -> None:
    port, context = tls_thread(_echo)
    payload = hashlib.shake_256(b"tls").digest(3 * MiB + 7)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert isinstance(conn, tls.BatchedTLS)
    assert conn.version() in {"TLSv1.2", "TLSv1.3"}
    conn.sendall(len(payload).to_bytes(8, "big"))
    conn.sendall(payload)
    reader = conn.makefile("rb")
    assert reader.read(len(payload)) == payload
    assert reader.read(1) == b""  # close_notify: a clean end of the stream
    reader.close()
    conn.close()
    assert raw.fileno() == -1  # the last file closed, the socket with it


# -- 1 MiB sends over plain HTTP -------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    target = load("harness.targets").DiscardTarget(False, tmp_path_factory.mktemp("http"))
    try:
        yield target
    finally:
        target.stop()


@pytest.mark.usefixtures("aws_env")
def test_request_bodies_go_to_the_socket_a_mib_at_a_time(
    http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's default is 128 KiB per send; 1 MiB costs measurably less CPU."""
    sizes: list[int] = []
    original = http.client.HTTPConnection.send

    def send(self: http.client.HTTPConnection, data: Any) -> None:
        sizes.append(len(data))
        original(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", send)
    client = build_client(concurrency=2, endpoint_url=http_server.url, region="us-east-1")
    with s3sink.open("s3://bench/http/up", "wb", client=client, part_size=5 * MiB) as w:
        w.write(b"\x5a" * (11 * MiB))
    assert http_server.object_info("http/up") == (11 * MiB, 3)
    assert sizes.count(MiB) >= 10


def test_a_response_cut_short_is_an_error_not_a_short_body(tls_thread: Any) -> None:
    """The server's TCP connection ends mid-body without close_notify: the HTTP layer sees
    fewer bytes than Content-Length promised (botocore retries such a read)."""

    def cut(conn: ssl.SSLSocket) -> None:
        conn.recv(65536)  # the request
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 300_000)
        conn.shutdown(socket.SHUT_RDWR)  # no close_notify

    port, context = tls_thread(cut)
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    connection.request("GET", "/")
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()


def test_a_server_that_goes_silent_times_out(tls_thread: Any) -> None:
    done = threading.Event()

    def silent(conn: ssl.SSLSocket) -> None:
        conn.recv(65536)
        done.wait(10)

    port, context = tls_thread(silent)
    raw = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
    conn.sendall(b"GET / HTTP/1.1\r\n\r\n")
    try:
        with pytest.raises(TimeoutError):
            conn.recv_into(bytearray(10))
    finally:
        done.set()
        conn.close()
