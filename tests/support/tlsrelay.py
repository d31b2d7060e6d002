"""A TLS front for a plain-HTTP test server on 127.0.0.1: HTTPS in, the same bytes out to the
server (moto has no TLS of its own worth using), with a throw-away CA made by the bench's
``discard_server.tls`` (``ca_file`` is what a client trusts: ``AWS_CA_BUNDLE``).

    with TlsRelay(moto.port, tmp_path) as relay:
        client = make_client(relay.endpoint_url)  # https://127.0.0.1:PORT

One thread accepts; each connection gets a thread that does the handshake, then relays both
ways until either side closes. Every socket has a timeout and ``stop()`` joins every thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from pathlib import Path
from types import TracebackType

from tests.support.benchlib import load
from tests.support.localserver import HOST

_TIMEOUT = 10.0
_POLL = 0.2


class TlsRelay:
    """HTTPS on ``endpoint_url``, relayed as plain bytes to ``HOST:upstream_port``."""

    def __init__(self, upstream_port: int, directory: Path) -> None:
        files = load("discard_server.tls").make_certificates(directory)
        self.ca_file: Path = files.ca_file
        self._context: ssl.SSLContext = files.server_context()
        self._upstream = (HOST, upstream_port)
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name="tlsrelay", daemon=True)

    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://{HOST}:{self.port}"

    def __enter__(self) -> TlsRelay:
        self._accepter.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, end every connection, join every thread."""
        self._stopping.set()
        if self._accepter.is_alive():
            self._accepter.join(_TIMEOUT)
        self._listener.close()
        for thread in list(self._threads):
            thread.join(_TIMEOUT)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(_TIMEOUT)
        with contextlib.ExitStack() as stack:
            stack.enter_context(raw)
            try:
                tls = stack.enter_context(self._context.wrap_socket(raw, server_side=True))
                upstream = stack.enter_context(
                    socket.create_connection(self._upstream, timeout=_TIMEOUT)
                )
            except (OSError, ssl.SSLError):
                return  # a client that gave up during the handshake, or no upstream
            with contextlib.suppress(OSError, ssl.SSLError):
                self._relay(tls, upstream)

    def _relay(self, tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        peer = {tls: upstream, upstream: tls}
        while not self._stopping.is_set():
            # Bytes already decrypted inside the SSL object do not wake select.
            ready = [tls] if tls.pending() else select.select([tls, upstream], [], [], _POLL)[0]
            for sock in ready:
                data = sock.recv(64 * 1024)
                if not data:
                    return
                peer[sock].sendall(data)
