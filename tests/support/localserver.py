"""One base for every server a test starts: ``LocalServer``, on 127.0.0.1 and nowhere else.

The lifecycle is the same for all of them (urllib3's ``dummyserver``, pip's ``tests/lib``):
nothing runs until ``start()`` (or ``with``), which picks a free port, starts the server and
waits until it is ready, then returns the server; ``port`` and ``endpoint_url`` name it; and
``stop()`` ends it, idempotent, also from ``with``. A subclass says how to start (``_start``),
whether it still runs (``running``) and how to stop; the waiting (``wait_until``, with the
server's log in the error) and the free ports are here.

Subclasses: ``MotoServer`` (tests/support/motoserver.py), ``FaultProxy``
(tests/support/faultproxy.py), the real stores (tests/support/stores.py), ``PostgresServer``
(tests/support/postgres.py), ``FixedAnswerServer`` (below).
"""

from __future__ import annotations

import abc
import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, TypeVar

#: The only address a test server binds, and the only one a test client is pointed at.
HOST = "127.0.0.1"

_S = TypeVar("_S", bound="LocalServer")


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalServerError(RuntimeError):
    """A test server did not start, did not get ready, or died."""


class LocalServer(abc.ABC):
    """A server a test starts on ``127.0.0.1``: ``start()`` / ``stop()`` / ``with``, ``port``,
    ``endpoint_url``; see the module docstring."""

    #: What the server is called in messages.
    name: ClassVar[str] = "server"
    #: The error ``wait_until`` raises; subclasses keep their own (a subclass of this one).
    error: ClassVar[type[LocalServerError]] = LocalServerError

    def __init__(self, *, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self._port = port
        self.startup_timeout = startup_timeout

    # -- what every server has ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (the one clients use); known once the server was started."""
        if self._port is None:
            raise self.error(f"{self.name} has no port until it is started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``, for boto3's ``endpoint_url``."""
        return f"http://{HOST}:{self.port}"

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """True while the server is up."""

    def start(self: _S) -> _S:
        """Start on 127.0.0.1 and wait until the server is ready; return it. Nothing happens
        if it is running already."""
        if not self.running:
            self._start()
        return self

    @abc.abstractmethod
    def _start(self) -> None:
        """Start the server (setting ``self._port``) and wait until it is ready; raise
        ``self.error`` if it is not, leaving nothing running behind."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the server and free what it held. Idempotent."""

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for error messages (empty when it keeps none)."""
        return ""

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.endpoint_url}" if self.running else "stopped"
        return f"{type(self).__name__}({state})"

    # -- helpers for subclasses ----------------------------------------------------------------

    def wait_until(
        self,
        ready: Callable[[], bool],
        *,
        what: str | None = None,
        alive: Callable[[], None] | None = None,
        timeout: float | None = None,
        delay: float = 0.02,
        max_delay: float = 0.2,
        quote_log: bool = True,
    ) -> None:
        """Poll ``ready`` (every ``delay`` seconds, doubled up to ``max_delay``) until it holds.
        ``alive`` raises if the server died meanwhile; after ``timeout`` (the startup timeout
        unless given) raise ``self.error`` naming ``what``, quoting the log's tail unless told
        not to (by a caller that quotes it itself)."""
        limit = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            if alive is not None:
                alive()
            if ready():
                return
            if time.monotonic() > deadline:
                log = self.log_tail() if quote_log else ""
                quoted = f"; its output:\n{log}" if log else ""
                raise self.error(f"{what or self.name} not ready within {limit:.0f} s{quoted}")
            time.sleep(delay)
            delay = min(delay * 2, max_delay)

    def answers_http(self, path: str = "/", *, timeout: float = 1.0) -> bool:
        """Whether the server answers ``GET path`` at all (any status) right now."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Content-Length": "0"})
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return True


class FixedAnswerServer(LocalServer):
    """A threaded TCP server that reads each request's head and answers it with the same bytes,
    then closes the connection: e.g. a store that answers every request ``503``."""

    name = "fixed-answer server"

    def __init__(self, answer: bytes) -> None:
        super().__init__(port=None)
        self.answer = answer
        self.requests = 0  # requests answered so far
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start(self) -> None:
        listener = socket.socket()
        listener.bind((HOST, 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener, self._port = listener, listener.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()  # listening already: ready

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=5)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                conn.sendall(self.answer)
                self.requests += 1
