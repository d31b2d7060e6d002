"""The discard S3 server itself: it listens on loopback, gives each connection its own thread
(``operations.S3Connection``), routes requests to buckets and keys, keeps the counts and answers
them (``stats``), and stops with every thread joined."""

from __future__ import annotations

import ipaddress
import itertools
import resource
import selectors
import socket
import ssl
import sys
import threading
import time
from contextlib import suppress
from types import TracebackType

from .operations import S3Connection
from .s3 import S3_MIN_PART_SIZE, PartFault, State
from .wire import MiB, Request

DEFAULT_RECV_BUFFER = 1 * MiB
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class DiscardS3Server:
    """A threaded discard S3 endpoint on loopback; use as a context manager or start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_context: ssl.SSLContext | None = None,
        recv_buffer: int = DEFAULT_RECV_BUFFER,
        min_part_size: int = S3_MIN_PART_SIZE,
        always_md5: bool = False,
        etag_md5: bool = True,
        verbose: bool = False,
    ) -> None:
        if host not in LOOPBACK_HOSTS and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the discard server listens on loopback only, not {host!r}")
        self.host = host
        self.requested_port = port
        self.tls_context = tls_context
        self.recv_buffer = recv_buffer
        self.min_part_size = min_part_size
        self.always_md5 = always_md5
        self.etag_md5 = etag_md5
        self.verbose = verbose
        self.state = State()
        self.stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._connection_ids = itertools.count(1)
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The endpoint URL to give clients."""
        scheme = "https" if self.tls_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> DiscardS3Server:
        """Bind, listen and start accepting in a background thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.requested_port))
        listener.listen(128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="discard-s3-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut every connection and join all threads."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._wake_w is not None:
            with suppress(OSError):
                self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            with suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for own in (self._listener, self._wake_r, self._wake_w):
            if own is not None:
                own.close()

    def __enter__(self) -> DiscardS3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        """Accept connections and give each its own thread."""
        assert self._listener is not None  # noqa: S101 - set by start()
        assert self._wake_r is not None  # noqa: S101 - set by start()
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping.is_set():
                events = selector.select()
                if any(key.fileobj is self._wake_r for key, _ in events):
                    return
                try:
                    sock, address = self._listener.accept()
                except OSError:
                    continue
                self._start_connection(sock, address)

    def _start_connection(self, sock: socket.socket, address: tuple[str, int]) -> None:
        """Register a connection and start its thread."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state.bump("connections")
        peer = f"conn{next(self._connection_ids)}@{address[0]}:{address[1]}"
        connection = S3Connection(self, sock, peer)
        thread = threading.Thread(target=self._run_connection, args=(connection,), daemon=True)
        with self._lock:
            if self.stopping.is_set():
                sock.close()
                return
            self._sockets.add(sock)
            self._threads.add(thread)
        thread.start()

    def _run_connection(self, connection: S3Connection) -> None:
        """Thread body: serve, then deregister."""
        try:
            connection.run()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def replace_socket(self, old: socket.socket, new: socket.socket) -> None:
        """Track the TLS socket that replaced a raw one."""
        with self._lock:
            self._sockets.discard(old)
            self._sockets.add(new)
        if self.stopping.is_set():
            with suppress(OSError):
                socket.socket.shutdown(new, socket.SHUT_RDWR)

    def forget(self, sock: socket.socket) -> None:
        """Stop tracking a closed connection socket."""
        with self._lock:
            self._sockets.discard(sock)

    def log(self, message: str) -> None:
        """Print a diagnostic to stderr when verbose."""
        if self.verbose:
            print(f"discard-s3: {message}", file=sys.stderr, flush=True)

    # --- routing and results ---------------------------------------------------------------

    def route(self, request: Request) -> tuple[str, str]:
        """Return (bucket, key) for path-style or virtual-host-style addressing."""
        path = request.path
        host = request.header("host").lower()
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        else:
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        bucket = _virtual_host_bucket(host)
        if bucket is not None:
            return bucket, path.lstrip("/")
        bucket, _, key = path.lstrip("/").partition("/")
        return bucket, key

    def stats(self, object_name: str | None = None) -> dict[str, object]:
        """Counts so far; with ``object_name`` ("bucket/key") only that object's record."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self.state.lock:
            objects = {f"{b}/{k}": rec.as_json() for (b, k), rec in self.state.objects.items()}
            data: dict[str, object] = {
                "counters": dict(self.state.counters),
                "operations": dict(self.state.operations),
                "open_uploads": len(self.state.uploads),
                "part_fault": None
                if self.state.part_fault is None
                else self.state.part_fault.as_json(),
                "cpu": {"user": usage.ru_utime, "system": usage.ru_stime},
                "maxrss_kib": usage.ru_maxrss,
            }
        with self._lock:
            data["active_connections"] = len(self._sockets)
        if object_name is not None:
            data["object"] = objects.get(object_name)
        else:
            data["objects"] = objects
        return data

    def set_part_fault(self, fault: PartFault | None) -> None:
        """Set (or, with None, clear) the UploadPart fault switch."""
        with self.state.lock:
            self.state.part_fault = fault
        self.log(f"fault switch: {None if fault is None else fault.as_json()}")

    def object_size(self, bucket: str, key: str) -> int | None:
        """The counted size of a completed object, or None."""
        with self.state.lock:
            record = self.state.objects.get((bucket, key))
        return None if record is None else record.size


def _virtual_host_bucket(host: str) -> str | None:
    """Return the bucket named by a virtual-host-style Host header, or None for path style."""
    if not host or host == "localhost" or "." not in host:
        return None
    with suppress(ValueError):
        ipaddress.ip_address(host)
        return None
    label, _, rest = host.partition(".")
    if rest.startswith(("s3.", "s3-")) or rest in ("localhost", "s3.amazonaws.com"):
        return label
    return label if rest.endswith("localhost") else None
