"""The discard S3 server: its HTTP framing, S3 operations, state and certificates (the
package's docstring says what it does; ``__main__.py`` is its command line)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import html
import ipaddress
import itertools
import json
import resource
import selectors
import socket
import ssl
import sys
import threading
import time
import uuid
from contextlib import suppress
from http import HTTPStatus
from types import TracebackType
from xml.sax.saxutils import escape

from .s3 import (
    MAX_SMALL_BODY,
    OBJECT_KEY_RE,
    S3_MIN_PART_SIZE,
    S3_NS,
    XML_HEAD,
    ObjectRecord,
    PartFault,
    PartRecord,
    S3Error,
    State,
    UploadRecord,
    check_content_md5,
    checksum_fields,
    composite_checksum,
    content_md5,
    declares_checksum,
    fake_md5,
    iso_time,
    multipart_etag,
    parse_complete_body,
    payload_hash_kind,
    xml_checksum_name,
)
from .wire import (
    MAX_LINE,
    ChunkedBody,
    LengthBody,
    MiB,
    ProtocolError,
    Request,
    SocketReader,
    Source,
    decode_aws_chunked,
    read_request_head,
)

DEFAULT_RECV_BUFFER = 1 * MiB
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class Connection:
    """Serves one client connection until it closes."""

    def __init__(self, server: DiscardS3Server, sock: socket.socket, peer: str) -> None:
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

        Measured (2 cores, 2 GiB from s3sink over HTTP): the server spends ~0.22 CPU s/GiB
        without MD5 and ~2.3-2.4 with it (hashlib/OpenSSL MD5 runs ~500 MiB/s per core),
        and as it shares the cores with the client, hashing every payload cut s3sink's
        crc64nvme throughput from ~615 to ~345 MiB/s. So by default MD5 is computed only when
        something can use it: a Content-MD5 to check, or no x-amz-checksum-* (header or
        declared trailer), in which case the ETag is all a client can verify the part with.
        A client that sent a checksum gets it echoed (what s3sink and the SDKs check) and a
        deterministic MD5-shaped ETag that is not the payload's MD5. ``--always-md5`` hashes
        every payload (real ETags everywhere, as on AWS) for a client that checks ETags even
        so. A client that says it will not check them (``x-discard-skip-md5: 1``, sent by the
        bench's floor sender, ``floor.py``) is not hashed either, unless it sent Content-MD5;
        with ``--no-etag-md5`` (``etag_md5=False``) no payload is hashed but to check a
        Content-MD5: for benchmarks, where this server shares the client's cores and no client
        checks an ETag, the MD5 of a tool that sends no checksum (obstore) would be charged to
        that tool's throughput (measured: 1 GiB from obstore over HTTP, 574 MiB/s with it,
        1584 without).
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
        """Route to the operation named by method, path and query."""
        method, query = request.method, request.query
        if request.path.startswith("/__"):
            self._internal(request, body)
            return
        if not bucket:
            self._count("ListBuckets")
            self._drain(body)
            self._list_buckets()
            return
        if not key:
            self._bucket_operation(request, body, bucket)
            return
        if method == "PUT" and "x-amz-copy-source" in request.headers:
            self._drain(body)
            raise S3Error(501, "NotImplemented", "the discard server keeps no data to copy")
        if method == "PUT" and "partNumber" in query and "uploadId" in query:
            self._upload_part(request, body, bucket, key)
        elif method == "PUT":
            self._put_object(request, body, bucket, key)
        elif method == "POST" and "uploads" in query:
            self._drain(body)
            self._create_upload(request, bucket, key)
        elif method == "POST" and "uploadId" in query:
            self._complete_upload(request, self._small_body(request, body), bucket, key)
        elif method == "DELETE" and "uploadId" in query:
            self._drain(body)
            self._abort_upload(query["uploadId"], bucket, key)
        elif method == "GET" and "uploadId" in query:
            self._drain(body)
            self._list_parts(query, bucket, key)
        elif method in ("HEAD", "GET") and not query:
            self._drain(body)
            self._head_object(bucket, key, head_only=method == "HEAD")
        elif method == "DELETE":
            self._drain(body)
            self._count("DeleteObject")
            with self.server.state.lock:
                self.server.state.objects.pop((bucket, key), None)
            self.send(204)
        else:
            self._drain(body)
            raise S3Error(501, "NotImplemented", f"{method} {request.target} is not supported")

    def _count(self, operation: str) -> None:
        """Count one call of an S3 operation."""
        state = self.server.state
        with state.lock:
            state.operations[operation] = state.operations.get(operation, 0) + 1

    def _drain(self, body: Source | None) -> None:
        """Drop a body that carries nothing we need."""
        if body is not None:
            body.drain()

    def _internal(self, request: Request, body: Source | None) -> None:
        """Serve /__stats, /__reset, /__health and /__fault."""
        self._drain(body)
        if request.path == "/__fault":
            self._fault_switch(request)
        elif request.path == "/__stats":
            data = self.server.stats(request.query.get("object"))
            self.send(200, json.dumps(data).encode(), content_type="application/json")
        elif request.path == "/__reset" and request.method == "POST":
            self.server.state.reset()
            self.send(200, b"{}", content_type="application/json")
        elif request.path == "/__health":
            self.send(200, b'{"ok": true}', content_type="application/json")
        else:
            raise S3Error(404, "NoSuchKey", "unknown internal path")

    def _fault_switch(self, request: Request) -> None:
        """``POST /__fault?upload_part_above=N[&status=503][&prefix=BUCKET/KEYPREFIX]`` sets
        the fault switch (see :class:`PartFault`), ``DELETE /__fault`` clears it, ``GET``
        shows it; each answers the switch as JSON (``null`` when off)."""
        state = self.server.state
        if request.method == "POST":
            query = request.query
            try:
                fault = PartFault(
                    int(query["upload_part_above"]),
                    int(query.get("status") or 503),
                    query.get("prefix", ""),
                )
            except (KeyError, ValueError) as exc:
                raise S3Error(400, "InvalidArgument", "upload_part_above=N is required") from exc
            if not 400 <= fault.status <= 599:
                raise S3Error(400, "InvalidArgument", "status must be within 400..599")
            self.server.set_part_fault(fault)
        elif request.method == "DELETE":
            self.server.set_part_fault(None)
        elif request.method != "GET":
            raise S3Error(405, "MethodNotAllowed", "use GET, POST or DELETE on /__fault")
        with state.lock:
            current = state.part_fault
        data = None if current is None else current.as_json()
        self.send(200, json.dumps(data).encode(), content_type="application/json")

    def _list_buckets(self) -> None:
        """Answer ListBuckets with the buckets seen so far."""
        with self.server.state.lock:
            names = sorted(self.server.state.buckets)
        now = iso_time(time.time())
        entries = "".join(
            f"<Bucket><Name>{escape(n)}</Name><CreationDate>{now}</CreationDate></Bucket>"
            for n in names
        )
        body = (
            f'{XML_HEAD}<ListAllMyBucketsResult xmlns="{S3_NS}"><Owner><ID>bench</ID>'
            f"<DisplayName>bench</DisplayName></Owner><Buckets>{entries}</Buckets>"
            "</ListAllMyBucketsResult>"
        )
        self.send(200, body.encode())

    def _bucket_operation(self, request: Request, body: Source | None, bucket: str) -> None:
        """Every bucket exists; answer the bucket-level calls clients make."""
        method, query = request.method, request.query
        state = self.server.state
        with state.lock:
            state.buckets.add(bucket)
        if method == "POST" and "delete" in query:
            self._count("DeleteObjects")
            text = self._small_body(request, body).decode("utf-8", errors="replace")
            keys = [html.unescape(k) for k in OBJECT_KEY_RE.findall(text)]
            with state.lock:
                for k in keys:
                    state.objects.pop((bucket, k), None)
            deleted = "".join(f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in keys)
            self.send(
                200, f'{XML_HEAD}<DeleteResult xmlns="{S3_NS}">{deleted}</DeleteResult>'.encode()
            )
            return
        self._drain(body)
        if method == "PUT" and not query:
            self._count("CreateBucket")
            self.send(200, headers={"Location": f"/{bucket}"})
        elif method == "HEAD":
            self._count("HeadBucket")
            self.send(200, headers={"x-amz-bucket-region": "us-east-1"}, head_only=True)
        elif method == "DELETE" and not query:
            self._count("DeleteBucket")
            self.send(204)
        elif method == "GET" and "location" in query:
            self._count("GetBucketLocation")
            self.send(200, f'{XML_HEAD}<LocationConstraint xmlns="{S3_NS}"/>'.encode())
        elif method == "GET" and "uploads" in query:
            self._list_uploads(bucket, query)
        elif method == "GET" and (not query or "list-type" in query or "prefix" in query):
            self._list_objects(bucket, query)
        else:
            raise S3Error(501, "NotImplemented", f"{method} {request.target} is not supported")

    def _list_uploads(self, bucket: str, query: dict[str, str]) -> None:
        """Answer ListMultipartUploads (no paging)."""
        self._count("ListMultipartUploads")
        prefix = query.get("prefix", "")
        with self.server.state.lock:
            uploads = sorted(
                (u for u in self.server.state.uploads.values() if u.bucket == bucket),
                key=lambda u: (u.key, u.initiated),
            )
        entries = "".join(
            f"<Upload><Key>{escape(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
            "<Initiator><ID>bench</ID><DisplayName>bench</DisplayName></Initiator>"
            "<Owner><ID>bench</ID><DisplayName>bench</DisplayName></Owner>"
            f"<StorageClass>STANDARD</StorageClass><Initiated>{iso_time(u.initiated)}</Initiated>"
            "</Upload>"
            for u in uploads
            if u.key.startswith(prefix)
        )
        body = (
            f'{XML_HEAD}<ListMultipartUploadsResult xmlns="{S3_NS}"><Bucket>{escape(bucket)}'
            f"</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
            f"<NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>"
            f"<Prefix>{escape(prefix)}</Prefix><MaxUploads>1000</MaxUploads>"
            f"<IsTruncated>false</IsTruncated>{entries}</ListMultipartUploadsResult>"
        )
        self.send(200, body.encode())

    def _list_objects(self, bucket: str, query: dict[str, str]) -> None:
        """Answer ListObjects(V2) with the counted objects (no paging)."""
        self._count("ListObjects")
        prefix = query.get("prefix", "")
        with self.server.state.lock:
            items = sorted(
                (k, rec)
                for (b, k), rec in self.server.state.objects.items()
                if b == bucket and k.startswith(prefix)
            )
        contents = "".join(
            f"<Contents><Key>{escape(k)}</Key><LastModified>{iso_time(rec.completed)}"
            f"</LastModified><ETag>&quot;{rec.etag}&quot;</ETag><Size>{rec.size}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for k, rec in items
        )
        v2 = f"<KeyCount>{len(items)}</KeyCount>" if query.get("list-type") == "2" else ""
        body = (
            f'{XML_HEAD}<ListBucketResult xmlns="{S3_NS}"><Name>{escape(bucket)}</Name>'
            f"<Prefix>{escape(prefix)}</Prefix>{v2}<MaxKeys>1000</MaxKeys>"
            f"<IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
        )
        self.send(200, body.encode())

    def _store(self, request: Request, bucket: str, key: str, record: ObjectRecord) -> None:
        """Record a finished object, honouring If-None-Match: * (412 when it exists)."""
        state = self.server.state
        with state.lock:
            if request.header("if-none-match") == "*" and (bucket, key) in state.objects:
                raise S3Error(412, "PreconditionFailed", "the object already exists")
            state.buckets.add(bucket)
            state.objects[(bucket, key)] = record

    def _put_object(self, request: Request, body: Source | None, bucket: str, key: str) -> None:
        """PutObject: count the payload as the whole object."""
        self._count("PutObject")
        size, checksums, md5 = self._payload(request, body, whole_object=True)
        etag = md5 or fake_md5(bucket, key, size, time.time_ns())
        self._store(
            request, bucket, key, ObjectRecord(size, etag, "put", 0, time.time(), checksums)
        )
        headers = {"ETag": f'"{etag}"'}
        headers.update({f"x-amz-checksum-{a}": v for a, v in checksums.items()})
        if checksums:
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        self.send(200, headers=headers)

    def _upload_part(self, request: Request, body: Source | None, bucket: str, key: str) -> None:
        """UploadPart: count the payload under its part number."""
        self._count("UploadPart")
        upload_id = request.query["uploadId"]
        try:
            number = int(request.query["partNumber"])
        except ValueError as exc:
            self._drain(body)
            raise S3Error(400, "InvalidArgument", "partNumber must be an integer") from exc
        state = self.server.state
        with state.lock:
            fault = state.part_fault
        if fault is not None and fault.matches(bucket, key, number):
            state.bump("faults_injected")
            code = "SlowDown" if fault.status == 503 else "InternalError"
            raise S3Error(fault.status, code, f"fault switch: part {number} > {fault.above}")
        size, checksums, md5 = self._payload(request, body)
        if not 1 <= number <= 10000:
            raise S3Error(400, "InvalidArgument", "partNumber must be within 1..10000")
        etag = md5 or fake_md5(upload_id, number, size)
        with state.lock:
            upload = state.uploads.get(upload_id)
            if upload is None or (upload.bucket, upload.key) != (bucket, key):
                raise S3Error(404, "NoSuchUpload", f"no upload {upload_id} for {bucket}/{key}")
            upload.parts[number] = PartRecord(size, etag, checksums)
        headers = {"ETag": f'"{etag}"'}
        headers.update({f"x-amz-checksum-{a}": v for a, v in checksums.items()})
        self.send(200, headers=headers)

    def _create_upload(self, request: Request, bucket: str, key: str) -> None:
        """CreateMultipartUpload: hand out an upload id."""
        self._count("CreateMultipartUpload")
        upload_id = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
        upload_id = upload_id.rstrip("=")
        algorithm = request.header("x-amz-checksum-algorithm").lower()
        checksum_type = request.header("x-amz-checksum-type").upper()
        state = self.server.state
        with state.lock:
            state.buckets.add(bucket)
            state.uploads[upload_id] = UploadRecord(
                upload_id, bucket, key, time.time(), algorithm, checksum_type
            )
        headers: dict[str, str] = {}
        if algorithm:
            headers["x-amz-checksum-algorithm"] = algorithm.upper()
            headers["x-amz-checksum-type"] = checksum_type or "COMPOSITE"
        body = (
            f'{XML_HEAD}<InitiateMultipartUploadResult xmlns="{S3_NS}">'
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>"
        )
        self.send(200, body.encode(), headers)

    def _complete_upload(self, request: Request, body: bytes, bucket: str, key: str) -> None:
        """CompleteMultipartUpload: check the listed parts and count their sum as the object."""
        self._count("CompleteMultipartUpload")
        upload_id = request.query["uploadId"]
        listed = parse_complete_body(body)
        if not listed:
            raise S3Error(400, "MalformedXML", "CompleteMultipartUpload lists no parts")
        state = self.server.state
        with state.lock:
            upload = state.uploads.get(upload_id)
            if upload is None or (upload.bucket, upload.key) != (bucket, key):
                raise S3Error(404, "NoSuchUpload", f"no upload {upload_id} for {bucket}/{key}")
            parts = self._check_parts(upload, listed)
        size = sum(p.size for p in parts)
        etag = multipart_etag([p.etag for p in parts])
        checksums = checksum_fields(request.headers)
        checksum_type = "FULL_OBJECT" if checksums else ""
        for algorithm in checksums:
            state.bump(f"checksum_complete:{algorithm}")
        if not checksums:
            checksum_type = self._composite_checksums(parts, checksums)
        record = ObjectRecord(size, etag, "multipart", len(parts), time.time(), checksums)
        self._store(request, bucket, key, record)
        with state.lock:
            state.uploads.pop(upload_id, None)
        fields = "".join(
            f"<{xml_checksum_name(a)}>{v}</{xml_checksum_name(a)}>" for a, v in checksums.items()
        )
        if checksum_type:
            fields += f"<ChecksumType>{checksum_type}</ChecksumType>"
        host = request.header("host", "127.0.0.1")
        scheme = "https" if self.server.tls_context is not None else "http"
        result = (
            f'{XML_HEAD}<CompleteMultipartUploadResult xmlns="{S3_NS}">'
            f"<Location>{scheme}://{escape(host)}/{escape(bucket)}/{escape(key)}</Location>"
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<ETag>&quot;{etag}&quot;</ETag>{fields}</CompleteMultipartUploadResult>"
        )
        headers = {f"x-amz-checksum-{a}": v for a, v in checksums.items()}
        self.send(200, result.encode(), headers)

    def _check_parts(self, upload: UploadRecord, listed: list[dict[str, str]]) -> list[PartRecord]:
        """Return the listed parts; every one must exist, ascend, match its ETag, be >= min."""
        parts: list[PartRecord] = []
        previous = 0
        for entry in listed:
            try:
                number = int(entry.get("PartNumber", ""))
            except ValueError as exc:
                raise S3Error(400, "MalformedXML", "a Part has no valid PartNumber") from exc
            if number <= previous:
                raise S3Error(400, "InvalidPartOrder", "parts must be listed in ascending order")
            previous = number
            part = upload.parts.get(number)
            if part is None:
                raise S3Error(400, "InvalidPart", f"part {number} was never uploaded")
            etag = html.unescape(entry.get("ETag", "")).strip().strip('"')
            if etag and etag != part.etag:
                raise S3Error(400, "InvalidPart", f"part {number} has ETag {part.etag}")
            parts.append(part)
        minimum = self.server.min_part_size
        for number, part in enumerate(parts[:-1], start=1):
            if part.size < minimum:
                raise S3Error(
                    400, "EntityTooSmall", f"part #{number} has {part.size} bytes (< {minimum})"
                )
        return parts

    @staticmethod
    def _composite_checksums(parts: list[PartRecord], checksums: dict[str, str]) -> str:
        """Fill ``checksums`` with composite values when every part carried one."""
        algorithms = set(parts[0].checksums) if parts else set()
        for part in parts[1:]:
            algorithms &= set(part.checksums)
        for algorithm in sorted(algorithms):
            values = [p.checksums[algorithm] for p in parts]
            checksums[algorithm] = composite_checksum(algorithm, values)
        return "COMPOSITE" if algorithms else ""

    def _abort_upload(self, upload_id: str, bucket: str, key: str) -> None:
        """AbortMultipartUpload: forget the upload and its parts."""
        self._count("AbortMultipartUpload")
        state = self.server.state
        with state.lock:
            upload = state.uploads.get(upload_id)
            if upload is None or (upload.bucket, upload.key) != (bucket, key):
                raise S3Error(404, "NoSuchUpload", f"no upload {upload_id} for {bucket}/{key}")
            del state.uploads[upload_id]
            state.counters["aborted_uploads"] = state.counters.get("aborted_uploads", 0) + 1
        self.send(204)

    def _list_parts(self, query: dict[str, str], bucket: str, key: str) -> None:
        """ListParts with max-parts (at most 1000, as S3) / part-number-marker paging: each
        part as UploadPart recorded it (number, size, ETag, the checksums it was sent with)."""
        self._count("ListParts")
        upload_id = query["uploadId"]
        try:
            marker = int(query.get("part-number-marker") or 0)
            max_parts = min(1000, int(query.get("max-parts") or 1000))
        except ValueError as exc:
            raise S3Error(
                400, "InvalidArgument", "max-parts and part-number-marker are integers"
            ) from exc
        if max_parts < 1 or marker < 0:
            raise S3Error(400, "InvalidArgument", "max-parts must be >= 1, the marker >= 0")
        state = self.server.state
        with state.lock:
            upload = state.uploads.get(upload_id)
            if upload is None or (upload.bucket, upload.key) != (bucket, key):
                raise S3Error(404, "NoSuchUpload", f"no upload {upload_id} for {bucket}/{key}")
            numbers = sorted(n for n in upload.parts if n > marker)
            page = [(n, upload.parts[n]) for n in numbers[:max_parts]]
            truncated = len(numbers) > max_parts
        now = iso_time(time.time())
        entries = "".join(
            f"<Part><PartNumber>{n}</PartNumber><LastModified>{now}</LastModified>"
            f"<ETag>&quot;{p.etag}&quot;</ETag><Size>{p.size}</Size>"
            + "".join(
                f"<{xml_checksum_name(a)}>{v}</{xml_checksum_name(a)}>"
                for a, v in p.checksums.items()
            )
            + "</Part>"
            for n, p in page
        )
        next_marker = page[-1][0] if page else marker
        body = (
            f'{XML_HEAD}<ListPartsResult xmlns="{S3_NS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            f"<PartNumberMarker>{marker}</PartNumberMarker>"
            f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
            f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{str(truncated).lower()}"
            f"</IsTruncated><StorageClass>STANDARD</StorageClass>{entries}</ListPartsResult>"
        )
        self.send(200, body.encode())

    def _head_object(self, bucket: str, key: str, *, head_only: bool) -> None:
        """HeadObject answers with the counted size; GetObject has no data to give."""
        self._count("HeadObject" if head_only else "GetObject")
        with self.server.state.lock:
            record = self.server.state.objects.get((bucket, key))
        if record is None:
            raise S3Error(404, "NoSuchKey", "the object does not exist")
        if not head_only:
            raise S3Error(501, "NotImplemented", "the discard server keeps no object data")
        headers = {
            "ETag": f'"{record.etag}"',
            "Last-Modified": email.utils.formatdate(record.completed, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        self.send(
            200,
            headers=headers,
            head_only=True,
            content_length=record.size,
            content_type="binary/octet-stream",
        )


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
        connection = Connection(self, sock, peer)
        thread = threading.Thread(target=self._run_connection, args=(connection,), daemon=True)
        with self._lock:
            if self.stopping.is_set():
                sock.close()
                return
            self._sockets.add(sock)
            self._threads.add(thread)
        thread.start()

    def _run_connection(self, connection: Connection) -> None:
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
