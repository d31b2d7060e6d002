"""One client connection of the discard server: the request loop (over TLS when the server
serves it), responses and S3 error documents, request bodies, and payloads dropped and counted
(hashed only when something can use the MD5). What each request does is ``operations.py``'s."""

from __future__ import annotations

import email.utils
import hashlib
import socket
import ssl
import sys
import threading
import uuid
from contextlib import suppress
from http import HTTPStatus
from typing import Protocol
from xml.sax.saxutils import escape

from .s3 import (
    MAX_SMALL_BODY,
    XML_HEAD,
    PartFault,
    S3Error,
    State,
    check_content_md5,
    checksum_fields,
    content_md5,
    declares_checksum,
    payload_hash_kind,
)
from .wire import (
    MAX_LINE,
    ChunkedBody,
    LengthBody,
    ProtocolError,
    Request,
    SocketReader,
    Source,
    decode_aws_chunked,
    read_request_head,
)


class Host(Protocol):
    """What a connection uses of the server that accepted it (``server.DiscardS3Server``)."""

    state: State
    stopping: threading.Event
    tls_context: ssl.SSLContext | None
    recv_buffer: int
    min_part_size: int
    always_md5: bool
    etag_md5: bool

    def log(self, message: str) -> None:
        """Print a diagnostic to stderr when verbose."""
        ...

    def replace_socket(self, old: socket.socket, new: socket.socket) -> None:
        """Track the TLS socket that replaced a raw one."""
        ...

    def forget(self, sock: socket.socket) -> None:
        """Stop tracking a closed connection socket."""
        ...

    def route(self, request: Request) -> tuple[str, str]:
        """Return (bucket, key) for path-style or virtual-host-style addressing."""
        ...

    def stats(self, object_name: str | None = None) -> dict[str, object]:
        """Counts so far; with ``object_name`` ("bucket/key") only that object's record."""
        ...

    def set_part_fault(self, fault: PartFault | None) -> None:
        """Set (or, with None, clear) the UploadPart fault switch."""
        ...


class Connection:
    """Serves one client connection until it closes."""

    def __init__(self, server: Host, sock: socket.socket, peer: str) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.keep_alive = True

    def run(self) -> None:
        """Serve requests until the client closes or breaks the protocol."""
        state = self.server.state
        reader: SocketReader | None = None
        try:
            tls = self.server.tls_context
            if tls is not None:
                self.sock.settimeout(30)
                wrapped = tls.wrap_socket(self.sock, server_side=True)
                self.server.replace_socket(self.sock, wrapped)
                self.sock = wrapped
                self.sock.settimeout(None)
            reader = SocketReader(self.sock, self.server.recv_buffer)
            while self.keep_alive and not self.server.stopping.is_set():
                request = read_request_head(reader)
                if request is None:
                    break
                self.handle(request, reader)
        except ProtocolError as exc:
            state.bump("protocol_errors")
            self.server.log(f"{self.peer}: {exc}")
        except (OSError, ValueError) as exc:
            # Resets, TLS failures, and shutdown() from stop() end up here.
            if not self.server.stopping.is_set():
                state.bump("connection_errors")
                self.server.log(f"{self.peer}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a server bug is counted and shown, not hidden
            state.bump("internal_errors")
            print(f"discard-s3: {self.peer}: internal error {exc!r}", file=sys.stderr, flush=True)
        finally:
            if reader is not None:
                reader.release()
            self.server.forget(self.sock)
            with suppress(OSError):
                self.sock.close()

    # --- responses -------------------------------------------------------------------------

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/xml",
        head_only: bool = False,
        content_length: int | None = None,
    ) -> None:
        """Send a full response."""
        request_id = uuid.uuid4().hex[:16].upper()
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            "Server: s3sink-bench-discard",
            f"x-amz-request-id: {request_id}",
            f"x-amz-id-2: {request_id}",
        ]
        if status != HTTPStatus.NO_CONTENT:
            length = len(body) if content_length is None else content_length
            lines.append(f"Content-Type: {content_type}")
            lines.append(f"Content-Length: {length}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        if not self.keep_alive:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head_only:
            data += body
        self.sock.sendall(data)

    def send_error(self, error: S3Error, resource_name: str, *, head_only: bool = False) -> None:
        """Send an S3 error document."""
        self.server.state.bump("s3_errors")
        self.server.log(f"{self.peer}: {resource_name}: {error}")
        body = (
            f"{XML_HEAD}<Error><Code>{error.code}</Code>"
            f"<Message>{escape(error.message)}</Message>"
            f"<Resource>{escape(resource_name)}</Resource>"
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
        ).encode()
        self.send(error.status, body, head_only=head_only)

    # --- request handling ------------------------------------------------------------------

    def handle(self, request: Request, reader: SocketReader) -> None:
        """Dispatch one request; the body is always consumed so keep-alive stays in sync."""
        state = self.server.state
        state.bump("requests")
        connection = request.header("connection").lower()
        if request.version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in connection
        elif "close" in connection:
            self.keep_alive = False
        body = self._body_source(request, reader)
        if body is not None and request.header("expect").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        bucket, key = self.server.route(request)
        resource_name = f"/{bucket}/{key}" if key else f"/{bucket}"
        try:
            self._dispatch(request, body, bucket, key)
        except S3Error as error:
            if body is not None:
                body.drain()
            self.send_error(error, resource_name, head_only=request.method == "HEAD")

    def _body_source(self, request: Request, reader: SocketReader) -> Source | None:
        """Return the request body as a source, or None when there is none."""
        if "chunked" in request.header("transfer-encoding").lower():
            return ChunkedBody(reader)
        length_text = request.header("content-length")
        if not length_text:
            return None
        try:
            length = int(length_text)
        except ValueError as exc:
            raise ProtocolError(f"bad Content-Length {length_text!r}") from exc
        return LengthBody(reader, length) if length > 0 else None

    def _small_body(self, request: Request, body: Source | None) -> bytes:
        """Read a small body (XML) into memory; BadDigest if it does not match Content-MD5."""
        expected = content_md5(request)
        parts: list[bytes] = []
        total = 0
        while body is not None:
            part = body.read_line_part(MAX_LINE)
            if not part:
                break
            total += len(part)
            if total > MAX_SMALL_BODY:
                raise S3Error(400, "MaxMessageLengthExceeded", "request body too large")
            parts.append(part)
        data = b"".join(parts)
        if expected is not None:
            check_content_md5(expected, hashlib.md5(data, usedforsecurity=False).digest())
        return data

    def _wants_md5(self, request: Request) -> bool:
        """Whether to hash this part's payload for its ETag (a PutObject's always is).

        Measured 2026-12-01 at 367896a (2 cores, 2 GiB from s3sink over HTTP): the server spends
        ~0.22 CPU s/GiB without MD5 and ~2.3-2.4 with it (hashlib/OpenSSL MD5 runs ~500 MiB/s per
        core), and as it shares the cores with the client, hashing every payload cut s3sink's
        crc64nvme throughput from ~615 to ~345 MiB/s. So by default MD5 is computed only when
        something can use it: a Content-MD5 to check, or no x-amz-checksum-* (header or declared
        trailer), in which case the ETag is all a client can verify the part with. A client that
        sent a checksum gets it echoed (what s3sink and the SDKs check) and a deterministic
        MD5-shaped ETag that is not the payload's MD5. ``--always-md5`` hashes every payload (real
        ETags everywhere, as on AWS) for a client that checks ETags even so. A client that says it
        will not check them (``x-discard-skip-md5: 1``, sent by the bench's floor sender,
        ``floor.py``) is not hashed either, unless it sent Content-MD5; with ``--no-etag-md5``
        (``etag_md5=False``) no payload is hashed but to check a Content-MD5: for benchmarks, where
        this server shares the client's cores and no client checks an ETag, the MD5 of a tool that
        sends no checksum (obstore) would be charged to that tool's throughput (measured 2026-12-01
        at bd6fd5c: 1 GiB from obstore over HTTP, 574 MiB/s with it, 1584 without).
        """
        if self.server.always_md5 or "content-md5" in request.headers:
            return True
        if not self.server.etag_md5:
            return False
        return not (declares_checksum(request) or request.header("x-discard-skip-md5") == "1")

    def _payload(
        self, request: Request, body: Source | None, *, whole_object: bool = False
    ) -> tuple[int, dict[str, str], str | None]:
        """Drop an object/part payload; return (payload bytes, checksum fields sent, hex MD5
        of the payload or None when it was not computed). The MD5 is computed while draining,
        chunk by chunk from the receive buffer; BadDigest if it does not match Content-MD5.
        A PutObject's payload (``whole_object``) is always hashed: its ETag is the object's,
        and a client may check it on top of the checksum (s3sink does, for a single PUT)."""
        checksums = checksum_fields(request.headers)
        expected = content_md5(request)
        hashed = whole_object or self._wants_md5(request)
        md5 = hashlib.md5(usedforsecurity=False) if hashed else None
        update = None if md5 is None else md5.update
        size = 0
        sha = request.header("x-amz-content-sha256").upper()
        if body is not None:
            encoding = request.header("content-encoding").lower()
            trailers: dict[str, str] = {}
            if "aws-chunked" in encoding or sha.startswith("STREAMING-"):
                size, trailers = decode_aws_chunked(body, update)
                declared = request.header("x-amz-decoded-content-length")
                if declared and int(declared) != size:
                    self.server.state.bump("payload_bytes", size)
                    raise S3Error(
                        400,
                        "IncompleteBody",
                        f"decoded {size} bytes but x-amz-decoded-content-length is {declared}",
                    )
            else:
                size = body.drain(update)
            trailers.update(getattr(body, "trailers", {}))
            checksums.update(checksum_fields(trailers))
        state = self.server.state
        state.bump("payload_bytes", size)
        if md5 is not None:
            state.bump("md5_bytes", size)
            check_content_md5(expected, md5.digest())
        state.bump(f"payload_hash:{payload_hash_kind(sha)}")
        for algorithm in checksums:
            state.bump(f"checksum_sent:{algorithm}")
        if expected is not None:
            state.bump("checksum_sent:content-md5")
        return size, checksums, None if md5 is None else md5.hexdigest()

    def _dispatch(self, request: Request, body: Source | None, bucket: str, key: str) -> None:
        """Answer one request: the S3 operations (``operations.S3Connection``)."""
        raise NotImplementedError
