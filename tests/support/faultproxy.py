"""A threaded, HTTP/1.1-aware TCP proxy on 127.0.0.1 that injects faults between a client and S3.

Put it between a boto3 client and a ``MotoServer``::

    with FaultProxy(moto.endpoint_url) as proxy:
        client = make_client(proxy.endpoint_url)
        proxy.reset_after(1 << 20, method="PUT", path=r"[?&]partNumber=3(&|$)")
        proxy.respond(503, "SlowDown", method="PUT", path=r"^/bucket/key$", times=2)

Every request is parsed (request line, headers, a ``Content-Length`` or ``chunked`` body,
``Expect: 100-continue``, several requests per kept-alive client connection), matched against the
rules and forwarded to the upstream server; the response (``Content-Length``, chunked, or
until-close) is relayed back. Framing is relayed byte for byte; the hop-by-hop ``Connection``
headers are not: each side's connection lives as that side asks. moto's werkzeug answers
``Connection: close`` every time, so upstream it is one connection per request, while the
client's connection stays open like S3's. ``Expect: 100-continue`` is answered by the proxy
itself (the header is not forwarded), so a rule can act before the body reaches the server.

Rules are added at run time from any thread. Each rule matches a method (case-insensitive, None
for any) and a regex searched in the request target (path and query as sent, e.g.
``/bucket/key?uploadId=...&partNumber=3`` -- botocore puts ``partNumber`` last, and a bare
``partNumber=3`` would match part 30 too), counts its matches, and applies to matches number
``nth`` .. ``nth + times - 1`` (``times=None``: every match from ``nth`` on). So ``nth=2`` is
"only the 2nd matching request", ``times=3`` "the first three", ``times=None`` "every one".
Every rule counts every request it matches; the first rule (in the order added) that selects a
request applies to it, and only that one.

Faults:

* ``reset_after(n)`` -- forward ``n`` bytes of the request body as sent on the wire (chunk framing
  included), then reset the client connection (SO_LINGER 0, then close) and the upstream one. A
  body shorter than ``n`` is forwarded whole and both connections are reset before any response.
* ``drop_response()`` -- forward the whole request (the server performs it), read the response,
  then reset the client connection without sending it.
* ``stall(seconds)`` -- read the server's response, wait, then relay it unless the client has
  gone away meanwhile (e.g. after its read timeout).
* ``respond(status, code, message)`` -- read and discard the body, answer with an S3-style XML
  error; nothing reaches the server.
* ``flip_byte()`` -- read the whole request body, invert one byte of its payload (the middle
  one, or index ``at``), and forward it with the same framing and length: the server receives
  corrupted bytes under the client's headers, as after corruption in transit. The payload is
  what is inside the framing: a ``chunked`` body's chunk data, and an ``aws-chunked`` body's
  decoded data (``Content-Encoding: aws-chunked``, inside Content-Length or chunked framing),
  so chunk sizes, signatures and trailers stay intact.
* ``fix_trailer()`` -- read the whole request body and, in an ``aws-chunked`` body's trailer
  (``x-amz-checksum-<alg>:<base64>``), put the checksum of the payload as it arrived in place
  of the value the client sent (same length): the server sees a matching trailer whatever the
  client said, as if it had ignored the client's value.
* ``cut_response(n)`` -- forward the request, relay the response's head and ``n`` bytes of its
  body, then reset the client connection: a connection that breaks mid-download.
* ``pause_response(n, seconds)`` -- relay the response's head and ``n`` bytes of its body, then
  wait ``seconds`` (or until the proxy stops) before the rest: a store that stalls mid-body.
* ``flip_response_byte()`` -- relay the response with one byte of its body inverted (the middle
  one, or index ``at``), its length and framing unchanged: corruption in transit on the way
  back.
* ``on_request(hook)`` -- call ``hook()`` (in the proxy's thread) when the request arrives,
  then forward it as usual: to change the server's state between two requests, e.g. replace
  an object between two ranged GETs.
* ``refuse_all()`` / ``accept_again()`` -- "server gone": reset every open connection at once
  and stop listening (new connections are refused by the OS), or, with ``keep_listening=True``,
  accept new connections and reset them at once; ``accept_again()`` listens on the same port.

``bodies`` records, for every request body the proxy read from a client, a ``BodyTiming``:
when its first and its last bytes arrived (``time.monotonic()``) and how many there were (as
sent on the wire): what a bandwidth cap is measured with, at the receiving end.

``log`` records one ``LogEntry(method, path, fault, status)`` per request, appended when the
proxy decides the outcome and before the client sees it: ``fault`` is the applied fault's name
(``"reset_after"``, ``"drop_response"``, ``"stall"``, ``"respond"``, ``"flip_byte"``,
``"fix_trailer"``),
``"refuse_all"`` for a request cut by ``refuse_all()``, ``"connection_error"`` when the
exchange broke off (server unreachable, either side closing or timing out mid-message), else
None; ``status`` is the HTTP status the server (or ``respond``) produced, None when there was
none.

Bounds: all sockets have timeouts, waits are on events (never busy loops), and ``stop()`` resets
every connection and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from tests.support.localserver import HOST, LocalServer, LocalServerError

_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024
_MAX_HEADERS = 200
_LOOPBACK_NAMES = ("127.0.0.1", "localhost")
#: Headers that describe one connection, not the message (RFC 9110 7.6.1); not relayed.
#: (Transfer-Encoding is relayed with the raw chunked framing, so it stays.)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection"})

REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# -- public data types -------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """What a rule does; build it with ``FaultProxy.reset_after`` & co rather than by hand."""

    # "reset_after" | "drop_response" | "stall" | "respond" | "flip_byte" | "fix_trailer"
    # | "cut_response"
    # | "pause_response" | "flip_response_byte" | "on_request"
    kind: str
    n_bytes: int = 0
    seconds: float = 0.0
    status: int = 0
    code: str = ""
    message: str = ""
    at: int | None = None  # flip_byte: index in the payload, None for the middle byte
    hook: Callable[[], None] | None = None  # on_request


class LogEntry(NamedTuple):
    """One request seen by the proxy."""

    method: str
    path: str
    fault: str | None
    status: int | None


@dataclass
class BodyTiming:
    """A request body as it arrived: first and last bytes (monotonic seconds), bytes."""

    method: str
    path: str
    first: float
    last: float
    nbytes: int


class Rule:
    """A fault rule: ``method`` + ``path`` regex, a match counter and an ``nth``/``times`` window.

    ``matched`` counts the requests it matched, ``applied`` those it acted on.
    """

    def __init__(
        self,
        action: Action,
        method: str | None,
        path: str | None,
        nth: int,
        times: int | None,
    ) -> None:
        if nth < 1:
            raise ValueError("nth counts matching requests from 1")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for every matching request")
        self.action = action
        self.method = method.upper() if method is not None else None
        self.path = path
        self.nth = nth
        self.times = times
        self._pattern = re.compile(path) if path is not None else None
        self._matched = 0
        self._applied = 0

    @property
    def matched(self) -> int:
        """How many requests matched method and path so far."""
        return self._matched

    @property
    def applied(self) -> int:
        """How many of those the fault was applied to."""
        return self._applied

    def _matches(self, method: str, target: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        return self._pattern is None or self._pattern.search(target) is not None

    def _selects(self, count: int) -> bool:
        return count >= self.nth and (self.times is None or count < self.nth + self.times)

    def __repr__(self) -> str:
        return (
            f"Rule({self.action.kind}, method={self.method!r}, path={self.path!r},"
            f" nth={self.nth}, times={self.times}, matched={self._matched},"
            f" applied={self._applied})"
        )


class FaultProxyError(LocalServerError):
    """The proxy could not start, listen again, or stop its threads."""


# -- HTTP parsing ------------------------------------------------------------------------------


class _ProtocolError(Exception):
    """Malformed HTTP, or EOF in the middle of a message."""


class _Aborted(Exception):
    """The connection was cut by refuse_all() or stop()."""


class _Reader:
    """Buffered reads from a socket: lines, exact counts, whatever is available."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def _fill(self) -> bool:
        data = self._sock.recv(_CHUNK)
        if not data:
            return False
        self._buf += data
        return True

    def readline(self) -> bytes:
        """One line with its ``\\n``; ``b""`` on EOF before any byte of it."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > _MAX_LINE:
                raise _ProtocolError("line too long")
            start = len(self._buf)
            if not self._fill():
                if self._buf:
                    raise _ProtocolError("EOF in the middle of a line")
                return b""

    def read_some(self, limit: int) -> bytes:
        """Between 1 and ``limit`` bytes; ``_ProtocolError`` on EOF."""
        if not self._buf and not self._fill():
            raise _ProtocolError("EOF in the middle of a body")
        data = bytes(self._buf[:limit])
        del self._buf[:limit]
        return data

    def read_to_eof(self) -> Iterator[bytes]:
        """Everything until the peer closes."""
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            yield data
        while True:
            data = self._sock.recv(_CHUNK)
            if not data:
                return
            yield data


@dataclass
class _Head:
    """A request or response head: start line and headers, in order and as sent."""

    start_line: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        lname = name.lower()
        values = [v for k, v in self.headers if k.lower() == lname]
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        value = self.get(name)
        return [t.strip().lower() for t in value.split(",")] if value else []

    def encode(
        self, drop: frozenset[str] = frozenset(), extra: tuple[tuple[str, str], ...] = ()
    ) -> bytes:
        """The head as bytes, without the headers named in ``drop`` (lower case), plus ``extra``."""
        lines = [self.start_line]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in drop]
        lines += [f"{k}: {v}" for k, v in extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class _Request:
    method: str
    target: str
    version: str
    head: _Head
    action: Action | None
    logged: bool = False

    @property
    def fault(self) -> str | None:
        return self.action.kind if self.action is not None else None


def _read_head(reader: _Reader) -> _Head | None:
    """Read a message head; None on a clean EOF before it (the peer closed an idle connection)."""
    line = reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLFs between messages (RFC 9112 2.2)
        line = reader.readline()
    if not line:
        return None
    start_line = line.decode("latin-1").rstrip("\r\n")
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline()
        if not line:
            raise _ProtocolError("EOF in the middle of a head")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            return _Head(start_line, headers)
        name, sep, value = text.partition(":")
        if not sep or len(headers) >= _MAX_HEADERS:
            raise _ProtocolError(f"bad header line {text!r}")
        headers.append((name.strip(), value.strip()))


@dataclass(frozen=True)
class _Framing:
    kind: str  # "none" | "length" | "chunked" | "close"
    length: int = 0


def _request_framing(head: _Head) -> _Framing:
    codings = head.tokens("Transfer-Encoding")
    if codings:
        if codings[-1] != "chunked":
            raise _ProtocolError("request body with a transfer coding other than chunked")
        return _Framing("chunked")
    return _length_framing(head) or _Framing("none")


def _response_framing(head: _Head, method: str, status: int) -> _Framing:
    if method == "HEAD" or status < 200 or status in (204, 304):
        return _Framing("none")
    codings = head.tokens("Transfer-Encoding")
    if codings:
        return _Framing("chunked" if codings[-1] == "chunked" else "close")
    return _length_framing(head) or _Framing("close")


def _length_framing(head: _Head) -> _Framing | None:
    value = head.get("Content-Length")
    if value is None:
        return None
    try:
        lengths = {int(v) for v in value.split(",")}
    except ValueError:
        raise _ProtocolError(f"bad Content-Length {value!r}") from None
    if len(lengths) != 1 or min(lengths) < 0:
        raise _ProtocolError(f"bad Content-Length {value!r}")
    length = lengths.pop()
    return _Framing("length", length) if length else _Framing("none")


def _body(reader: _Reader, framing: _Framing) -> Iterator[bytes]:
    """The body's raw bytes as they were sent (chunk framing and trailers included)."""
    if framing.kind == "length":
        remaining = framing.length
        while remaining:
            data = reader.read_some(min(remaining, _CHUNK))
            remaining -= len(data)
            yield data
    elif framing.kind == "chunked":
        while True:
            line = reader.readline()
            if not line:
                raise _ProtocolError("EOF before a chunk size")
            yield line
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _ProtocolError(f"bad chunk size {size_text!r}") from None
            if size == 0:
                while True:  # trailer section, ends with an empty line
                    line = reader.readline()
                    if not line:
                        raise _ProtocolError("EOF in chunked trailers")
                    yield line
                    if line in (b"\r\n", b"\n"):
                        return
            remaining = size
            while remaining:
                data = reader.read_some(min(remaining, _CHUNK))
                remaining -= len(data)
                yield data
            crlf = reader.readline()
            if crlf not in (b"\r\n", b"\n"):
                raise _ProtocolError("chunk not followed by CRLF")
            yield crlf
    elif framing.kind == "close":
        yield from reader.read_to_eof()


def _chunk_spans(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(offset, length) of each chunk's data in a chunk-framed buffer (HTTP ``chunked`` and
    ``aws-chunked`` share the ``HEX[;ext]CRLF data CRLF`` shape); stops at the last chunk."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        eol = data.find(b"\n", pos)
        if eol < 0:
            raise _ProtocolError("chunk size line without an end")
        size = int(bytes(data[pos:eol]).split(b";", 1)[0].strip(), 16)
        if size == 0:
            return spans
        spans.append((eol + 1, size))
        pos = eol + 1 + size
        pos = data.index(b"\n", pos) + 1  # the CRLF after the data


def _locate(spans: list[tuple[int, int]], index: int) -> int:
    """Where byte ``index`` of the concatenated spans is in the buffer they point into."""
    for offset, length in spans:
        if index < length:
            return offset + index
        index -= length
    raise IndexError("index past the end of the payload")


def _flip_payload_byte(raw: bytearray, head: _Head, framing: _Framing, at: int | None) -> None:
    """Invert one payload byte of a whole request body in place (see ``flip_byte``)."""
    # Peel the layers: HTTP chunked framing (spans into raw), then aws-chunked framing (spans
    # into what the HTTP chunks carry); map the chosen payload byte back out through both.
    if framing.kind == "chunked":
        outer = _chunk_spans(raw)
        content = bytearray().join(raw[o : o + n] for o, n in outer)
    else:
        outer, content = [(0, len(raw))], raw
    inner = [(0, len(content))]
    if "aws-chunked" in head.tokens("Content-Encoding"):
        inner = _chunk_spans(content)
    total = sum(n for _, n in inner)
    index = total // 2 if at is None else at
    if index >= total:
        raise _ProtocolError(f"flip_byte: no payload byte {index} (the payload has {total})")
    raw[_locate(outer, _locate(inner, index))] ^= 0xFF


_TRAILER = re.compile(rb"\r\nx-amz-checksum-([a-z0-9]+):([A-Za-z0-9+/=]+)\r\n\r\n")


def _fix_trailer(raw: bytearray, head: _Head, framing: _Framing) -> None:
    """Put the checksum of the aws-chunked payload in its trailer, in place (``fix_trailer``)."""
    from s3sink._store.checksums import Digest, encode

    if "aws-chunked" not in head.tokens("Content-Encoding"):
        raise _ProtocolError("fix_trailer: the body is not aws-chunked")
    # As in _flip_payload_byte: the HTTP chunks' content, then map positions back out.
    outer = _chunk_spans(raw) if framing.kind == "chunked" else [(0, len(raw))]
    content = bytearray().join(raw[o : o + n] for o, n in outer)
    found = list(_TRAILER.finditer(content))
    if not found:
        raise _ProtocolError("fix_trailer: no x-amz-checksum trailer in the body")
    algorithm, (start, end) = found[-1].group(1).decode(), found[-1].span(2)
    digest = Digest(algorithm)  # type: ignore[arg-type]  # an unknown one: ValueError
    for offset, length in _chunk_spans(content):
        digest.update(content[offset : offset + length])
    fixed = encode(digest.digest()).encode()
    if len(fixed) != end - start:
        raise _ProtocolError("fix_trailer: the trailer's value has another length")
    for index, byte in zip(range(start, end), fixed, strict=True):
        raw[_locate(outer, index)] = byte


def _keep_alive(head: _Head, version: str) -> bool:
    tokens = head.tokens("Connection")
    if "close" in tokens:
        return False
    return version == "HTTP/1.1" or "keep-alive" in tokens


def _error_xml(code: str, message: str, target: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(target)}</Resource><RequestId>faultproxy</RequestId></Error>"
    ).encode()


# -- sockets -----------------------------------------------------------------------------------


def _set_linger_zero(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _reset(sock: socket.socket | None) -> None:
    """Close with an RST (SO_LINGER 0) instead of a FIN."""
    if sock is not None:
        _set_linger_zero(sock)
        sock.close()


def _peer_gone(sock: socket.socket) -> bool:
    """True when the peer closed or reset the connection (checked without blocking)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Conn:
    """One client connection and its upstream connection; owned and closed by one thread."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.upstream_reader: _Reader | None = None
        self.aborted = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def interrupt(self) -> None:
        """Called from another thread: wake the owner from recv/wait so it resets and exits."""
        self.aborted.set()
        with self.lock:
            socks = [self.client, self.upstream]
        for sock in socks:
            if sock is not None:
                _set_linger_zero(sock)
                # SHUT_RD wakes a recv blocked in the owner thread without sending a FIN; the
                # owner then closes with linger 0, so the peer sees a reset.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)

    def set_upstream(self, sock: socket.socket | None) -> None:
        with self.lock:
            self.upstream = sock
            self.upstream_reader = _Reader(sock) if sock is not None else None
        if sock is not None and self.aborted.is_set():
            self.interrupt()

    def close_upstream(self, *, reset: bool) -> None:
        with self.lock:
            sock, self.upstream, self.upstream_reader = self.upstream, None, None
        if sock is not None:
            if reset:
                _reset(sock)
            else:
                sock.close()


# -- the proxy ---------------------------------------------------------------------------------


class FaultProxy(LocalServer):
    """A fault-injecting HTTP/1.1 proxy on ``127.0.0.1:port`` in front of ``upstream_url`` (a
    ``LocalServer``, its threads in this process).

    ``upstream_url`` is ``http://127.0.0.1:PORT`` (only loopback upstreams are accepted).
    ``port=0`` picks a free port. ``timeout`` bounds every socket operation (an idle client
    connection is closed after it); ``upstream_timeout`` bounds the wait for the server's
    response. Nothing listens until ``start()`` / ``__enter__``.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        port: int = 0,
        timeout: float = 30.0,
        upstream_timeout: float = 60.0,
    ) -> None:
        super().__init__(port=None)
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK_NAMES or not parts.port:
            raise ValueError(f"upstream must be http://127.0.0.1:PORT, not {upstream_url!r}")
        self._upstream = (HOST, parts.port)
        self._requested_port = port
        self._timeout = timeout
        self._upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._log: list[LogEntry] = []
        self._heads: list[tuple[str, str, dict[str, str]]] = []
        self._bodies: list[BodyTiming] = []
        self._conns: set[_Conn] = set()
        self._accepted = 0
        self._threads: set[threading.Thread] = set()
        self._listener: socket.socket | None = None
        self._refusing = False
        self._stopping = False
        self._accept_thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    name = "fault proxy"
    error = FaultProxyError

    # -- properties ----------------------------------------------------------------------------
    # (``port``, kept across refuse_all/accept_again, and ``endpoint_url`` come from LocalServer.)

    @property
    def running(self) -> bool:
        """True from ``start()`` until ``stop()``, refusing connections or not."""
        return self._accept_thread is not None

    @property
    def bodies(self) -> list[BodyTiming]:
        """Copies of the request bodies' timings, in the order their first bytes arrived."""
        with self._lock:
            return [BodyTiming(**vars(b)) for b in self._bodies]

    @property
    def log(self) -> list[LogEntry]:
        """A copy of the request log, in the order outcomes were decided."""
        with self._lock:
            return list(self._log)

    @property
    def request_headers(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, target, headers with lower-case names) of each request, as logged."""
        with self._lock:
            return list(self._heads)

    @property
    def accepted(self) -> int:
        """How many client connections were accepted and served (reset ones not counted)."""
        with self._lock:
            return self._accepted

    @property
    def rules(self) -> list[Rule]:
        """A copy of the current rules, in the order they were added."""
        with self._lock:
            return list(self._rules)

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        """Listen and start the accept thread: ready as soon as it listens."""
        self._stopping = self._refusing = False
        self._listener = self._listen(self._port or self._requested_port)
        self._port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"faultproxy-accept-{self._port}", daemon=True
        )
        self._accept_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Reset every connection, stop listening and join every thread. Idempotent.

        Raises ``FaultProxyError`` if a thread is still alive after ``timeout`` seconds.
        """
        with self._lock:
            if self._accept_thread is None:
                return
            self._stopping = True
            listener, self._listener = self._listener, None
            conns = list(self._conns)
        self._close_listener(listener)
        self._wake()
        for conn in conns:
            conn.interrupt()
        deadline = time.monotonic() + timeout
        self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in [self._accept_thread, *threads] if t.is_alive()]
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._accept_thread = self._wake_r = self._wake_w = None
        if alive:
            raise FaultProxyError(f"FaultProxy threads did not stop: {alive}")

    def __repr__(self) -> str:
        return f"FaultProxy(port={self._port}, upstream={self._upstream[1]})"

    # -- rules ---------------------------------------------------------------------------------

    def add_rule(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Add a rule (see the module docstring for matching and selection); return it."""
        rule = Rule(action, method, path, nth, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def reset_after(
        self,
        n_bytes: int,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Forward ``n_bytes`` of the request body, then reset client and upstream connections."""
        if n_bytes < 0:
            raise ValueError("n_bytes must be >= 0")
        action = Action("reset_after", n_bytes=n_bytes)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def drop_response(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Let the server perform the request, then reset the client instead of answering."""
        action = Action("drop_response")
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def stall(
        self,
        seconds: float,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Hold the server's response for ``seconds``; relay it if the client is still there."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        action = Action("stall", seconds=seconds)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def respond(
        self,
        status: int,
        code: str,
        message: str = "Injected by FaultProxy",
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Answer with an S3 XML error (e.g. 503 SlowDown) without forwarding the request."""
        action = Action("respond", status=status, code=code, message=message)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def flip_byte(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        at: int | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Forward the request with one payload byte inverted (the middle one, or index ``at``),
        its length and framing unchanged."""
        if at is not None and at < 0:
            raise ValueError("at must be >= 0")
        action = Action("flip_byte", at=at)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def fix_trailer(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Forward the request with its aws-chunked trailer's checksum replaced by the one
        its payload has: a wrong trailing checksum arrives right."""
        action = Action("fix_trailer")
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def cut_response(
        self,
        n_bytes: int,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Relay the response's head and ``n_bytes`` of its body, then reset the client."""
        if n_bytes < 0:
            raise ValueError("n_bytes must be >= 0")
        action = Action("cut_response", n_bytes=n_bytes)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def pause_response(
        self,
        n_bytes: int,
        seconds: float,
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Relay the head and ``n_bytes`` of the body, wait ``seconds``, relay the rest."""
        action = Action("pause_response", n_bytes=n_bytes, seconds=seconds)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def flip_response_byte(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        at: int | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Relay the response with one body byte inverted (the middle one, or index ``at``)."""
        if at is not None and at < 0:
            raise ValueError("at must be >= 0")
        action = Action("flip_response_byte", at=at)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def on_request(
        self,
        hook: Callable[[], None],
        *,
        method: str | None = None,
        path: str | None = None,
        nth: int = 1,
        times: int | None = 1,
    ) -> Rule:
        """Call ``hook()`` when a matching request arrives, then forward it as usual."""
        action = Action("on_request", hook=hook)
        return self.add_rule(action, method=method, path=path, nth=nth, times=times)

    def clear_rules(self) -> None:
        """Remove every rule (requests in flight keep the fault already chosen for them)."""
        with self._lock:
            self._rules.clear()

    def clear_log(self) -> None:
        """Forget the log."""
        with self._lock:
            self._log.clear()
            self._heads.clear()

    # -- server gone / back --------------------------------------------------------------------

    def refuse_all(self, *, keep_listening: bool = False, timeout: float = 5.0) -> None:
        """From now on, act as a server that is gone: reset every open connection at once.

        By default the listening socket is closed too, so new connections are refused by the
        OS. With ``keep_listening=True`` new connections are accepted and reset at once.
        botocore reports both as ``EndpointConnectionError`` (refused / reset while connecting);
        a request in flight fails at once with ``ConnectionClosedError``. Returns once every
        connection open before the call has been reset (waiting at most ``timeout`` seconds).
        """
        with self._lock:
            if self._accept_thread is None:
                raise FaultProxyError("FaultProxy is not started")
            self._refusing = True
            listener = None
            if not keep_listening:
                listener, self._listener = self._listener, None
            conns = list(self._conns)
        self._close_listener(listener)
        self._wake()
        for conn in conns:
            conn.interrupt()
        deadline = time.monotonic() + timeout
        for conn in conns:
            if conn.thread is not None:
                conn.thread.join(max(0.0, deadline - time.monotonic()))

    def accept_again(self) -> None:
        """Serve again after ``refuse_all()``, listening on the same port."""
        with self._lock:
            if self._accept_thread is None:
                raise FaultProxyError("FaultProxy is not started")
            need_listener = self._listener is None
        listener = self._listen(self.port) if need_listener else None
        with self._lock:
            if listener is not None:
                self._listener = listener
            self._refusing = False
        self._wake()

    # -- internals: accepting ------------------------------------------------------------------

    def _listen(self, port: int) -> socket.socket:
        deadline = time.monotonic() + 5.0
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((HOST, port))
                sock.listen(64)
                sock.setblocking(False)  # accept() after select() must never block
            except OSError as exc:
                sock.close()
                if port == 0 or time.monotonic() > deadline:
                    raise FaultProxyError(f"cannot listen on {HOST}:{port}: {exc}") from exc
                time.sleep(0.05)  # the old listener of this port is still going away
            else:
                return sock

    @staticmethod
    def _close_listener(listener: socket.socket | None) -> None:
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # leaves LISTEN at once, frees the port
            listener.close()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def _accept_loop(self) -> None:
        wake_r = self._wake_r
        assert wake_r is not None
        while True:
            with self._lock:
                if self._stopping:
                    return
                listener = self._listener
            watched = [wake_r] if listener is None else [wake_r, listener]
            try:
                ready, _, _ = select.select(watched, [], [])
            except (OSError, ValueError):  # the listener was closed under us; look again
                continue
            if wake_r in ready:
                with contextlib.suppress(OSError):
                    wake_r.recv(4096)
                continue
            if listener is None:
                continue
            try:
                client, _ = listener.accept()
            except BlockingIOError:
                continue  # the pending connection went away before accept()
            except OSError:
                with self._lock:
                    closed = self._listener is not listener
                if not closed:
                    time.sleep(0.05)  # e.g. out of file descriptors: don't spin
                continue
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        client.settimeout(self._timeout)
        conn = _Conn(client)
        thread = threading.Thread(
            target=self._serve, args=(conn,), name="faultproxy-conn", daemon=True
        )
        conn.thread = thread
        with self._lock:
            refuse = self._refusing or self._stopping
            if not refuse:
                self._accepted += 1
                self._conns.add(conn)
                self._threads.add(thread)
        if refuse:
            _reset(client)
        else:
            thread.start()

    # -- internals: serving --------------------------------------------------------------------

    def _serve(self, conn: _Conn) -> None:
        try:
            reader = _Reader(conn.client)
            keep_alive = True
            while keep_alive and not conn.aborted.is_set():
                keep_alive = self._serve_one(conn, reader)
        finally:
            conn.close_upstream(reset=conn.aborted.is_set())
            if conn.aborted.is_set():
                _reset(conn.client)
            else:
                conn.client.close()
            with self._lock:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())

    def _serve_one(self, conn: _Conn, reader: _Reader) -> bool:
        """Handle one request; return whether the client connection stays open."""
        try:
            head = _read_head(reader)
        except (OSError, _ProtocolError):
            return False  # idle timeout, client closed or reset, garbage: drop the connection
        if head is None:
            return False
        parts = head.start_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return False
        method, target, version = parts
        action = self._choose(method, target)
        req = _Request(method, target, version, head, action)
        try:
            return self._exchange(conn, reader, req)
        except (OSError, _ProtocolError, _Aborted):
            if conn.aborted.is_set():
                self._record(req, None, "refuse_all")
            else:
                self._record(req, None, req.fault or "connection_error")
            conn.aborted.set()  # reset the client: the exchange is broken
            return False

    def _choose(self, method: str, target: str) -> Action | None:
        chosen: Action | None = None
        with self._lock:
            for rule in self._rules:
                if rule._matches(method, target):
                    rule._matched += 1
                    if chosen is None and rule._selects(rule._matched):
                        rule._applied += 1
                        chosen = rule.action
        return chosen

    def _record(self, req: _Request, status: int | None, fault: str | None) -> None:
        """Log the request's outcome once (the first outcome decided wins)."""
        with self._lock:
            if not req.logged:
                req.logged = True
                self._log.append(LogEntry(req.method, req.target, fault, status))
                headers = {k.lower(): v for k, v in req.head.headers}
                self._heads.append((req.method, req.target, headers))

    def _exchange(self, conn: _Conn, reader: _Reader, req: _Request) -> bool:
        """Relay one request and its response, applying the request's fault; return keep-alive."""
        client, action = conn.client, req.action
        framing = _request_framing(req.head)
        client_keep_alive = _keep_alive(req.head, req.version)
        if "100-continue" in req.head.tokens("Expect") and framing.kind != "none":
            client.sendall(f"{req.version} 100 Continue\r\n\r\n".encode("latin-1"))
        body = self._timed(req, _body(reader, framing))
        if action is not None and action.hook is not None:
            action.hook()

        if action is not None and action.kind == "respond":
            for _ in body:
                pass
            self._record(req, action.status, req.fault)
            _send_error(client, req, action, keep_alive=client_keep_alive)
            return client_keep_alive

        upstream, up_reader = self._upstream_for(conn)
        upstream.sendall(req.head.encode(drop=_HOP_BY_HOP | {"expect"}))

        if action is not None and action.kind == "reset_after":
            remaining = action.n_bytes
            for piece in body:
                if remaining <= 0:
                    break
                upstream.sendall(piece[:remaining])
                remaining -= len(piece)
            self._record(req, None, req.fault)
            conn.aborted.set()  # _serve resets both connections
            return False

        if action is not None and action.kind in ("flip_byte", "fix_trailer"):
            raw = bytearray().join(body)  # whole: the payload's middle depends on its framing
            if action.kind == "flip_byte":
                _flip_payload_byte(raw, req.head, framing, action.at)
            else:
                _fix_trailer(raw, req.head, framing)
            body = iter([bytes(raw)])
        for piece in body:
            upstream.sendall(piece)

        response = _read_head(up_reader)
        while response is not None and _status(response) < 200:
            response = _read_head(up_reader)  # drop 1xx: the proxy answered Expect itself
        if response is None:
            raise _ProtocolError("upstream closed without a response")
        status = _status(response)
        up_version = response.start_line.split(" ", 1)[0]
        resp_framing = _response_framing(response, req.method, status)
        resp_body = _body(up_reader, resp_framing)
        keep_alive = resp_framing.kind != "close" and _keep_alive(response, up_version)
        # Connection is hop-by-hop: the client's connection stays open as the client asked
        # (moto's werkzeug says "Connection: close" on every response), unless the body is
        # delimited by the close itself.
        client_keep_alive = client_keep_alive and resp_framing.kind != "close"
        relayed_head = response.encode(
            drop=_HOP_BY_HOP, extra=() if client_keep_alive else (("Connection", "close"),)
        )
        self._record(req, status, req.fault)

        if action is not None and action.kind == "drop_response":
            for _ in resp_body:
                pass
            conn.aborted.set()  # _serve resets both connections
            return False

        if action is not None and action.kind in ("cut_response", "pause_response"):
            client.sendall(relayed_head)
            relayed = self._relay_part(conn, resp_body, action)
            if relayed and not keep_alive:
                conn.close_upstream(reset=False)
            return relayed and client_keep_alive

        if (
            action is not None
            and action.kind == "flip_response_byte"
            and resp_framing.kind != "none"
        ):
            raw = bytearray().join(resp_body)
            _flip_payload_byte(raw, response, resp_framing, action.at)
            resp_body = iter([bytes(raw)])

        if action is not None and action.kind == "stall":
            pieces: Iterable[bytes] = [relayed_head, *resp_body]
            if not keep_alive:
                conn.close_upstream(reset=False)
            if conn.aborted.wait(action.seconds) or _peer_gone(client):
                return False
        else:
            client.sendall(relayed_head)
            pieces = resp_body
        for piece in pieces:
            client.sendall(piece)
        if not keep_alive:
            conn.close_upstream(reset=False)
        return client_keep_alive

    @staticmethod
    def _relay_part(conn: _Conn, body: Iterator[bytes], action: Action) -> bool:
        """``cut_response``: ``n_bytes`` of ``body``, then a reset (False); ``pause_response``:
        ``n_bytes``, the pause, the rest (True, unless the proxy stopped meanwhile)."""
        remaining = action.n_bytes
        rest: list[bytes] = []
        for piece in body:
            if remaining > 0:
                conn.client.sendall(piece[:remaining])
            rest.append(piece[max(0, remaining) :])
            remaining -= len(piece)
            if remaining <= 0 and action.kind == "cut_response":
                break
        if action.kind == "cut_response" or conn.aborted.wait(action.seconds):
            conn.aborted.set()  # _serve resets both connections
            return False
        for piece in rest:
            conn.client.sendall(piece)
        return True

    def _timed(self, req: _Request, pieces: Iterator[bytes]) -> Iterator[bytes]:
        """``pieces``, with their arrival recorded in ``bodies``."""
        timing: BodyTiming | None = None
        for piece in pieces:
            now = time.monotonic()
            with self._lock:
                if timing is None:
                    timing = BodyTiming(req.method, req.target, now, now, 0)
                    self._bodies.append(timing)
                timing.last = now
                timing.nbytes += len(piece)
            yield piece

    def _upstream_for(self, conn: _Conn) -> tuple[socket.socket, _Reader]:
        """The kept-alive upstream connection, or a new one if there is none or it went stale."""
        with conn.lock:
            sock, reader = conn.upstream, conn.upstream_reader
        if sock is not None and reader is not None:
            if not _peer_gone(sock):
                return sock, reader
            conn.close_upstream(reset=False)
        if conn.aborted.is_set():
            raise _Aborted
        sock = socket.create_connection(self._upstream, timeout=self._timeout)
        sock.settimeout(self._upstream_timeout)
        conn.set_upstream(sock)
        with conn.lock:
            reader = conn.upstream_reader
        if reader is None or conn.aborted.is_set():
            raise _Aborted
        return sock, reader


def _send_error(client: socket.socket, req: _Request, action: Action, *, keep_alive: bool) -> None:
    payload = _error_xml(action.code, action.message, req.target)
    reason = REASONS.get(action.status, "Error")
    lines = [
        f"{req.version} {action.status} {reason}",
        "Content-Type: application/xml",
        f"Content-Length: {len(payload)}",
        "x-amz-request-id: faultproxy",
        "Server: FaultProxy",
    ]
    if not keep_alive:
        lines.append("Connection: close")
    client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if req.method != "HEAD":
        client.sendall(payload)


def _status(head: _Head) -> int:
    parts = head.start_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise _ProtocolError(f"bad status line {head.start_line!r}")
    try:
        return int(parts[1])
    except ValueError:
        raise _ProtocolError(f"bad status line {head.start_line!r}") from None
