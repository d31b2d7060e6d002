"""Reading objects back from the discard server: HeadObject and GetObject (whole, one
``Range``, or one ``partNumber``) of a synthetic object, made by ``POST /__synthetic``.

A synthetic object keeps no bytes: it is ``synthetic_data``'s 1 MiB block repeated, served
straight from one buffer, with what a real store records for it: its size, S3's ETag (the
MD5, or the MD5 of the parts' MD5s and "-N" for a multipart object, computed once from the
block) and, unless ``checksum=none``, a FULL_OBJECT CRC64NVME, answered (as on AWS) to a
whole-object HeadObject or GetObject that sends ``x-amz-checksum-mode: ENABLED``, never with a
range or a part. ``If-Match`` and ``If-None-Match`` are honoured (412, 304), so is
``partNumber`` (its range, ``x-amz-mp-parts-count``). With ``corrupt=OFFSET`` the byte at
OFFSET is flipped in every response that covers it while the ETag and checksum stay those
of the right bytes: the read table's test of whether a tool checks anything.

Objects that uploads made have no bytes to give: GetObject of one answers 501, as before.
"""

from __future__ import annotations

import email.utils
import json
import re
import time

from .. import synthetic_data
from .connection import Connection
from .s3 import ObjectRecord, S3Error, Synthetic, multipart_etag
from .wire import MiB, Request

# Query parameters a GetObject/HeadObject may carry that change nothing here.
_HARMLESS_QUERY = {"x-id", "versionId", "partNumber"}
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SEND = 4 * MiB  # bytes per sendall; any window of this size is one slice of the buffer


class ReadOperations(Connection):
    """HeadObject, GetObject and ``/__synthetic`` for a connection (``operations`` uses it)."""

    def _create_synthetic(self, request: Request) -> None:
        """``POST /__synthetic?bucket=B&key=K&size=N[&part_size=P][&checksum=none]
        [&corrupt=OFFSET]`` stores a synthetic object (P: a multiple of 1 MiB, at least
        5 MiB; 0 or absent: one part); answers its record as JSON."""
        query = request.query
        try:
            bucket, key, size = query["bucket"], query["key"], int(query["size"])
            part_size = int(query.get("part_size") or 0)
            corrupt_at = int(query.get("corrupt") or -1)
        except (KeyError, ValueError) as exc:
            raise S3Error(400, "InvalidArgument", "bucket, key and size=N are required") from exc
        checksum = query.get("checksum", "crc64nvme")
        if size < 0 or checksum not in ("crc64nvme", "none"):
            raise S3Error(400, "InvalidArgument", "size >= 0; checksum crc64nvme or none")
        if part_size and (part_size % synthetic_data.BLOCK or part_size < 5 * MiB):
            raise S3Error(400, "InvalidArgument", "part_size: a multiple of 1 MiB, >= 5 MiB")
        record = synthetic_record(size, part_size, corrupt_at, checksum == "crc64nvme")
        state = self.server.state
        with state.lock:
            state.buckets.add(bucket)
            state.objects[(bucket, key)] = record
        self.send(200, json.dumps(record.as_json()).encode(), content_type="application/json")

    def _read_object(self, request: Request, bucket: str, key: str, *, head_only: bool) -> None:
        """HeadObject or GetObject."""
        self._count_read("HeadObject" if head_only else "GetObject", request)
        unknown = set(request.query) - _HARMLESS_QUERY
        if unknown:
            raise S3Error(501, "NotImplemented", f"query {sorted(unknown)} is not supported")
        with self.server.state.lock:
            record = self.server.state.objects.get((bucket, key))
        if record is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
        etag = f'"{record.etag}"'
        if_match = request.header("if-match")
        if if_match and if_match not in ("*", etag, record.etag):
            raise S3Error(412, "PreconditionFailed", "At least one of the preconditions failed")
        if request.header("if-none-match") in ("*", etag, record.etag):
            self.send(304, headers={"ETag": etag}, head_only=True, content_length=0)
            return
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(record.completed, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        synthetic = record.synthetic
        if synthetic is None:
            if not head_only:
                raise S3Error(501, "NotImplemented", "the discard server keeps no object data")
            self.send(200, headers=headers, head_only=True, content_length=record.size,
                      content_type="binary/octet-stream")  # fmt: skip
            return
        status, start, length = self._range(request, record, headers)
        self._checksum_headers(request, record, headers, whole=status == 200)
        self.send(status, headers=headers, head_only=True, content_length=length,
                  content_type="binary/octet-stream")  # fmt: skip
        if not head_only:
            self._send_synthetic(start, length, synthetic.corrupt_at)

    def _count_read(self, operation: str, request: Request) -> None:
        """Count the call (``operations``) and, in ``counters`` (which the bench reads per
        run), ``read:<operation>``, plus ``read:checksum-mode`` when the client asked for the
        stored checksum (``x-amz-checksum-mode: ENABLED``)."""
        state = self.server.state
        asked = request.header("x-amz-checksum-mode").upper() == "ENABLED"
        with state.lock:
            state.operations[operation] = state.operations.get(operation, 0) + 1
            counters = state.counters
            counters[f"read:{operation}"] = counters.get(f"read:{operation}", 0) + 1
            if asked:
                counters["read:checksum-mode"] = counters.get("read:checksum-mode", 0) + 1

    def _range(
        self, request: Request, record: ObjectRecord, headers: dict[str, str]
    ) -> tuple[int, int, int]:
        """(status, first byte, length) for the request's partNumber or Range, else all."""
        size = record.size
        part_text = request.query.get("partNumber")
        if part_text is not None:
            start, length = _part_range(record, part_text)
            headers["x-amz-mp-parts-count"] = str(max(1, record.parts))
        else:
            found = _byte_range(request.header("range"), size)
            if found is None:
                return 200, 0, size
            start, length = found
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
        if length == 0:  # a part or range of an empty object
            headers["Content-Range"] = f"bytes */{size}"
        return 206, start, length

    @staticmethod
    def _checksum_headers(
        request: Request, record: ObjectRecord, headers: dict[str, str], *, whole: bool
    ) -> None:
        if not whole or request.header("x-amz-checksum-mode").upper() != "ENABLED":
            return
        for algorithm, value in record.checksums.items():
            headers[f"x-amz-checksum-{algorithm}"] = value
        if record.checksums:
            headers["x-amz-checksum-type"] = "FULL_OBJECT"

    def _send_synthetic(self, start: int, length: int, corrupt_at: int) -> None:
        """The object's bytes [start, start + length), with the flipped byte if it is in."""
        window = _window()
        sendall = self.sock.sendall
        state = self.server.state
        position, end = start, start + length
        while position < end:
            offset = position % synthetic_data.BLOCK
            take = min(end - position, _SEND)
            if position <= corrupt_at < position + take:
                chunk = bytearray(window[offset : offset + take])
                chunk[corrupt_at - position] ^= 0xFF
                sendall(chunk)
            else:
                sendall(window[offset : offset + take])
            position += take
        state.bump("get_payload_bytes", length)


def _window() -> memoryview:
    """The block repeated enough that any _SEND bytes from any offset are one slice."""
    global _WINDOW  # noqa: PLW0603 - built once per server process, read-only after
    if _WINDOW is None:
        repeats = _SEND // synthetic_data.BLOCK + 1
        _WINDOW = memoryview(synthetic_data.block() * repeats)
    return _WINDOW


_WINDOW: memoryview | None = None


def _part_range(record: ObjectRecord, text: str) -> tuple[int, int]:
    """(first byte, length) of part ``text`` of ``record``."""
    try:
        number = int(text)
    except ValueError as exc:
        raise S3Error(400, "InvalidArgument", "partNumber must be an integer") from exc
    parts = max(1, record.parts)
    if not 1 <= number <= parts:
        raise S3Error(416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
    synthetic = record.synthetic
    part_size = synthetic.part_size if synthetic is not None and record.parts else record.size
    start = (number - 1) * part_size
    return start, min(part_size, record.size - start)


def _byte_range(text: str, size: int) -> tuple[int, int] | None:
    """(first byte, length) of a single ``bytes=`` range; None for no (or an unusable,
    ignored as S3 does) range header; InvalidRange when it lies past the end."""
    match = _RANGE_RE.match(text.strip()) if text else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = min(int(last), size)
        return (size - length, length) if length else None
    start = int(first)
    if start >= size:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    stop = size - 1 if last == "" else min(int(last), size - 1)
    if stop < start:
        return None
    return start, stop - start + 1


def synthetic_record(size: int, part_size: int, corrupt_at: int, checksum: bool) -> ObjectRecord:
    """The record of a synthetic object: parts, ETag and (``checksum``) its CRC64NVME."""
    if part_size and size > part_size:
        parts = -(-size // part_size)
        full = synthetic_data.md5_of_range(0, part_size)  # every full part is the same bytes
        last = synthetic_data.md5_of_range((parts - 1) * part_size, size - (parts - 1) * part_size)
        etag = multipart_etag([full.hex()] * (parts - 1) + [last.hex()])
        kind = "multipart"
    else:
        parts, part_size, kind = 0, 0, "put"
        etag = synthetic_data.md5_of_range(0, size).hex()
    checksums = {}
    if checksum:
        checksums["crc64nvme"] = synthetic_data.as_header(synthetic_data.object_crc64nvme(size))
    return ObjectRecord(
        size, etag, "synthetic-" + kind, parts, time.time(), checksums,
        Synthetic(part_size, corrupt_at),
    )  # fmt: skip
