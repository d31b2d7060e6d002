"""The S3 operations the discard server answers, by method, path and query: buckets,
PutObject, the multipart calls (UploadPart under the fault switch, Complete checking every listed
part), listings, HeadObject and GetObject (``reads.py``), and its own ``/__stats``,
``/__reset``, ``/__health``, ``/__fault`` and ``/__synthetic``."""

from __future__ import annotations

import base64
import html
import json
import time
import uuid
from xml.sax.saxutils import escape

from .reads import ReadOperations
from .s3 import (
    OBJECT_KEY_RE,
    S3_NS,
    XML_HEAD,
    ObjectRecord,
    PartFault,
    PartRecord,
    S3Error,
    UploadRecord,
    checksum_fields,
    composite_checksum,
    fake_md5,
    iso_time,
    multipart_etag,
    parse_complete_body,
    xml_checksum_name,
)
from .wire import Request, Source


class S3Connection(ReadOperations):
    """A client connection that answers S3: each request goes to its operation."""

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
        elif method in ("HEAD", "GET"):
            self._drain(body)
            self._read_object(request, bucket, key, head_only=method == "HEAD")
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
        """Serve /__stats, /__reset, /__health, /__fault and /__synthetic (``reads.py``)."""
        self._drain(body)
        if request.path == "/__fault":
            self._fault_switch(request)
        elif request.path == "/__synthetic" and request.method == "POST":
            self._create_synthetic(request)
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
