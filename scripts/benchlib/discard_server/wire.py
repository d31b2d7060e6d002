"""The discard server's HTTP/1.1 framing: request heads, bodies by Content-Length or chunked,
aws-chunked payloads (signed or unsigned chunks, trailers), and a socket reader that drops bulk
bytes through one reused buffer, showing them to a hash on the way if asked."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, unquote

KiB = 1024
MiB = 1024 * KiB
MAX_LINE = 64 * KiB
MAX_HEAD = 256 * KiB


class ProtocolError(Exception):
    """The client broke HTTP framing; the connection is closed."""


class IncompleteBodyError(ProtocolError):
    """The connection ended before the body did."""


# Fed every dropped payload byte in order, as views of the receive buffer (hashlib's update).
_Update = Callable[[memoryview], object]


class Source(Protocol):
    """A byte stream that can hand out lines and skip bytes without copying them."""

    def read_line_part(self, limit: int) -> bytes:
        """Return bytes up to and including the next LF, at most ``limit``; b"" at the end."""
        ...

    def skip(self, n: int, update: _Update | None = None) -> None:
        """Drop exactly ``n`` bytes (shown to ``update`` first); raise IncompleteBodyError if
        the stream ends first."""
        ...

    def drain(self, update: _Update | None = None) -> int:
        """Drop everything up to the end of the stream (shown to ``update`` first) and return
        how many bytes that was."""
        ...


def read_line(source: Source, limit: int = MAX_LINE) -> bytes:
    """Read one LF-terminated line (or what is left before the end) from ``source``."""
    parts: list[bytes] = []
    total = 0
    while True:
        part = source.read_line_part(limit - total)
        if not part:
            break
        parts.append(part)
        total += len(part)
        if part.endswith(b"\n"):
            break
        if total >= limit:
            raise ProtocolError("line too long")
    return b"".join(parts)


class SocketReader:
    """Buffered reads from a socket; ``skip`` drops bulk bytes through one reused buffer."""

    __slots__ = ("_buf", "_end", "_size", "_sock", "_start", "_view")

    def __init__(self, sock: socket.socket, size: int) -> None:
        self._sock = sock
        self._size = size
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0

    def release(self) -> None:
        """Free the buffer view so the bytearray can be collected."""
        self._view.release()

    def _fill(self) -> bool:
        """Receive more bytes after the pending ones; False at end of stream."""
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == self._size:
            if self._start == 0:
                raise ProtocolError("line longer than the receive buffer")
            pending = self._end - self._start
            self._buf[:pending] = self._buf[self._start : self._end]
            self._start, self._end = 0, pending
        got = self._sock.recv_into(self._view[self._end :])
        if not got:
            return False
        self._end += got
        return True

    def read_line_part(self, limit: int) -> bytes:
        """Return bytes up to and including the next LF, at most ``limit``; b"" at the end."""
        if self._start == self._end and not self._fill():
            return b""
        stop = min(self._end, self._start + limit)
        newline = self._buf.find(b"\n", self._start, stop)
        end = newline + 1 if newline >= 0 else stop
        out = bytes(self._view[self._start : end])
        self._start = end
        return out

    def skip(self, n: int, update: _Update | None = None) -> None:
        """Drop exactly ``n`` bytes; bytes past them stay buffered for the next request.

        ``update`` (e.g. an MD5's) sees each received slice once, in the same pass, straight
        from the receive buffer: no copy.
        """
        pending = self._end - self._start
        view = self._view
        if pending >= n:
            if update is not None and n:
                update(view[self._start : self._start + n])
            self._start += n
            return
        if update is not None and pending:
            update(view[self._start : self._end])
        n -= pending
        self._start = self._end = 0
        size, recv_into = self._size, self._sock.recv_into
        while n >= size:
            got = recv_into(view, size)
            if not got:
                raise IncompleteBodyError("connection closed inside a body")
            if update is not None:
                update(view[:got])
            n -= got
        while n > 0:
            got = recv_into(view)
            if not got:
                raise IncompleteBodyError("connection closed inside a body")
            if got <= n:
                if update is not None:
                    update(view[:got])
                n -= got
            else:
                if update is not None:
                    update(view[:n])
                self._start, self._end, n = n, got, 0

    def drain(self, update: _Update | None = None) -> int:
        """Not meaningful for a whole connection; bodies use their own framing."""
        raise ProtocolError("a connection has no end to drain to")


class LengthBody:
    """A body of known Content-Length."""

    __slots__ = ("_left", "_reader", "trailers")

    def __init__(self, reader: SocketReader, length: int) -> None:
        self._reader = reader
        self._left = length
        self.trailers: dict[str, str] = {}

    def read_line_part(self, limit: int) -> bytes:
        """Return the next line part within the body; b"" at its end."""
        if self._left == 0:
            return b""
        part = self._reader.read_line_part(min(limit, self._left))
        if not part:
            raise IncompleteBodyError("connection closed inside a body")
        self._left -= len(part)
        return part

    def skip(self, n: int, update: _Update | None = None) -> None:
        """Drop ``n`` body bytes."""
        if n > self._left:
            raise IncompleteBodyError("aws-chunked framing runs past Content-Length")
        self._reader.skip(n, update)
        self._left -= n

    def drain(self, update: _Update | None = None) -> int:
        """Drop the rest of the body."""
        left = self._left
        self._reader.skip(left, update)
        self._left = 0
        return left


class ChunkedBody:
    """A ``Transfer-Encoding: chunked`` body; its trailers end up in ``trailers``."""

    __slots__ = ("_done", "_left", "_need_crlf", "_reader", "trailers")

    def __init__(self, reader: SocketReader) -> None:
        self._reader = reader
        self._left = 0
        self._done = False
        self._need_crlf = False
        self.trailers: dict[str, str] = {}

    def _next_chunk(self) -> bool:
        """Read the next chunk header; False after the last chunk and the trailers."""
        if self._need_crlf:
            if read_line(self._reader).strip():
                raise ProtocolError("chunk data not followed by CRLF")
            self._need_crlf = False
        line = read_line(self._reader)
        if not line:
            raise IncompleteBodyError("connection closed inside a chunked body")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError(f"bad chunk size line {line[:40]!r}") from exc
        if size == 0:
            self.trailers.update(_read_trailers(self._reader))
            self._done = True
            return False
        self._left = size
        self._need_crlf = True
        return True

    def read_line_part(self, limit: int) -> bytes:
        """Return the next line part of the decoded body; b"" at its end."""
        if self._left == 0 and (self._done or not self._next_chunk()):
            return b""
        part = self._reader.read_line_part(min(limit, self._left))
        if not part:
            raise IncompleteBodyError("connection closed inside a chunk")
        self._left -= len(part)
        return part

    def skip(self, n: int, update: _Update | None = None) -> None:
        """Drop ``n`` decoded body bytes."""
        while n:
            if self._left == 0 and (self._done or not self._next_chunk()):
                raise IncompleteBodyError("aws-chunked framing runs past the chunked body")
            take = min(n, self._left)
            self._reader.skip(take, update)
            self._left -= take
            n -= take

    def drain(self, update: _Update | None = None) -> int:
        """Drop the rest of the decoded body, trailers included."""
        total = 0
        while not self._done:
            if self._left == 0 and not self._next_chunk():
                break
            total += self._left
            self._reader.skip(self._left, update)
            self._left = 0
        return total


def _read_trailers(source: Source) -> dict[str, str]:
    """Read ``name: value`` lines up to a blank line (or the end) into a lower-cased dict."""
    trailers: dict[str, str] = {}
    while True:
        line = read_line(source)
        if not line.strip():
            return trailers
        name, _, value = line.decode("latin-1").partition(":")
        trailers[name.strip().lower()] = value.strip()


def decode_aws_chunked(source: Source, update: _Update | None = None) -> tuple[int, dict[str, str]]:
    """Drop an aws-chunked payload; return (decoded payload bytes, trailers). ``update``
    sees the decoded payload only (no framing, signatures or trailers)."""
    total = 0
    while True:
        line = read_line(source)
        if not line:
            raise IncompleteBodyError("aws-chunked payload ended without a final chunk")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError(f"bad aws-chunked size line {line[:40]!r}") from exc
        if size == 0:
            break
        source.skip(size, update)
        total += size
        if read_line(source).strip():
            raise ProtocolError("aws-chunked data not followed by CRLF")
    trailers = _read_trailers(source)
    source.drain()
    return total, trailers


@dataclass
class Request:
    """One parsed request head."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        """Return a header by lower-case name."""
        return self.headers.get(name, default)


def read_request_head(reader: SocketReader) -> Request | None:
    """Read a request line and headers; None when the client closed between requests."""
    line = read_line(reader)
    while line in (b"\r\n", b"\n"):
        line = read_line(reader)
    if not line:
        return None
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError as exc:
        raise ProtocolError(f"bad request line {line[:80]!r}") from exc
    headers: dict[str, str] = {}
    size = len(line)
    while True:
        line = read_line(reader)
        size += len(line)
        if size > MAX_HEAD:
            raise ProtocolError("request head too large")
        if not line:
            raise IncompleteBodyError("connection closed inside a request head")
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    path, _, query = target.partition("?")
    if path.startswith(("http://", "https://")):
        path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
    return Request(
        method=method.upper(),
        target=target,
        version=version,
        headers=headers,
        path=unquote(path),
        query=dict(parse_qsl(query, keep_blank_values=True)),
    )
