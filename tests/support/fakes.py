"""FakeS3: an in-memory, thread-safe S3 with real multipart semantics, for unit tests.

It implements :class:`s3sink._store.transport.Transport` and raises the s3sink errors that
``BotoTransport`` raises for the same S3 error codes, each chained (``__cause__``) to a
:class:`FakeClientError` carrying the code, as botocore's ClientError would be.

What it enforces, like S3:

* parts are keyed by number and their bytes are copied when the upload "finishes" (the
  writer reuses a part buffer as soon as ``upload_part`` returns);
* CompleteMultipartUpload needs parts in ascending order (InvalidPartOrder), each one
  stored with the listed ETag and checksum (InvalidPart), every part but the last at
  least ``min_part_size`` (EntityTooSmall), ``MpuObjectSize`` equal to the assembled size,
  and the whole-object checksum equal to one computed here independently (zlib, the
  crc32c package, awscrt, hashlib — never s3sink._store.checksums) over the assembled bytes;
* every part's checksum is verified against its bytes (BadDigest);
* abort frees the parts; afterwards ListParts answers NoSuchUpload (``None``) and parts
  still in flight fail with NoSuchUpload;
* ``If-None-Match: *`` refuses to overwrite (PreconditionFailed), ``If-Match`` compares ETags;
* reading back (``read_head``, ``get_range``): HeadObject with a part number answers that
  part's size and the parts count, a GET with If-Match of another ETag is refused (412, as
  ``ObjectChangedError``), a missing object is a ReadError; a range's body is a
  :class:`FakeRange` over the stored bytes.

What differs between real stores is set on the fake (store behaviour, not faults):
``checksum_mode`` ("aws" validates and echoes checksums, "ignore" as Ceph RGW 16,
"echo-unchecked" as moto), ``checks_content_md5``, ``sse_kms`` (ETags that are no MD5s),
``drops_multipart_lock`` (as RGW 16), ``bare_if_match`` (If-Match compared with the bare
digest, so a quoted ETag is refused: RGW), ``ignores_part_numbers`` (HeadObject with a part
number answers the whole object: RGW 16), ``min_part_size``, ``store_bodies``.

Recorded calls (``CallLog``, shared with the fault wrapper): ``calls`` (op, part number, size,
thread, start/end time, parts in flight), ``in_flight`` / ``peak_in_flight`` and
``bytes_in_flight`` / ``peak_bytes_in_flight`` of ``upload_part``, all updated under one lock.

Faults are no switches on the fake: ``FaultyStore`` (tests/support/faults.py) wraps it (or any
transport) and fails, holds, delays or corrupts calls on their way in, as mountpoint-s3's
``failure_client.rs`` wraps its mock client. The fake records what reached the store; the
wrapper records every call the writer made.

The end of the module has small helpers the writer tests share.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

import crc32c as _crc32c
from awscrt import checksums as _crt

from s3sink._store.errors import translate_read
from s3sink._store.objectlock import ObjectLock, requested_lock
from s3sink._store.transport import (
    Body,
    Commit,
    CompletedPart,
    ListedPart,
    ObjectHead,
    ObjectInfo,
    PartChecksum,
    PartReceipt,
    PendingUpload,
    SendCounter,
    StoredObject,
    Transport,
)
from s3sink._upload.policy import MAX_PARTS, PartSchedule
from s3sink._writer.writer import S3MultipartWriter
from s3sink.errors import CompleteError, PartUploadError, PreconditionFailed, ReadError, UploadError

MiB = 1024 * 1024

# Raw digests per botocore parameter, computed without s3sink._store.checksums.
DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "ChecksumCRC64NVME": lambda data: _crt.crc64nvme(data).to_bytes(8, "big"),
    "ChecksumCRC32C": lambda data: _crc32c.crc32c(data).to_bytes(4, "big"),
    "ChecksumCRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "ChecksumSHA256": lambda data: hashlib.sha256(data).digest(),
}
FULL_OBJECT_CAPABLE = {"ChecksumCRC64NVME", "ChecksumCRC32C", "ChecksumCRC32"}


def b64(raw: bytes) -> str:
    """S3's encoding of a checksum."""
    return base64.b64encode(raw).decode("ascii")


def checksum_of(param: str, data: bytes) -> str:
    """The full-object checksum S3 reports for ``data`` under ``param``."""
    return b64(DIGESTS[param](data))


class FakeClientError(Exception):
    """Stands in for botocore's ClientError as the ``__cause__`` of s3sink's errors."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.response = {"Error": {"Code": code}}


def s3_error(
    code: str,
    what: str,
    bucket: str,
    key: str,
    upload_id: str | None = None,
    *,
    part_number: int | None = None,
    commit: bool = False,
) -> UploadError:
    """What BotoTransport raises for S3 error ``code`` in request ``what`` (e.g. "PutObject"),
    chained to a FakeClientError carrying the code; raise it ``from error.__cause__``."""
    cause = FakeClientError(code)
    text = f"{what} failed: {code}"
    error: UploadError
    if part_number is not None:
        error = PartUploadError(
            f"part {part_number} failed: {code}",
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_number=part_number,
            received_other_bytes=code in ("BadDigest", "InvalidDigest"),
        )
    elif commit and code in ("PreconditionFailed", "ConditionalRequestConflict"):
        error = PreconditionFailed(text, bucket=bucket, key=key, upload_id=upload_id)
    elif commit:
        error = CompleteError(
            text,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            received_other_bytes=code in ("BadDigest", "InvalidDigest"),
        )
    else:
        error = UploadError(text, bucket=bucket, key=key, upload_id=upload_id)
    error.__cause__ = cause
    return error


def read_error(
    code: str,
    what: str,
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    started: bool = True,
) -> ReadError:
    """What BotoTransport raises for S3 error ``code`` in the read request ``what`` (the same
    translation, over a FakeClientError); raise it ``from error.__cause__``."""
    cause = FakeClientError(code)
    error = translate_read(
        cause, what, bucket=bucket, key=key, version_id=version_id, started=started
    )
    error.__cause__ = cause
    return error


class FakeRange:
    """A range's body over stored bytes: ``readinto`` copies them out (a chunk at most
    ``chunk`` bytes, like a socket); ``closed`` and ``left`` for the tests."""

    def __init__(self, data: memoryview, chunk: int | None = None) -> None:
        self._data = data
        self._chunk = chunk
        self.closed = False
        self.aborted = False

    @property
    def left(self) -> int:
        return len(self._data)

    def readinto(self, buffer: memoryview, /) -> int:
        n = min(len(buffer), len(self._data), self._chunk or len(buffer))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


@dataclass
class Call:
    """One transport call as the fake saw it."""

    op: str
    thread: str
    start: float
    part_number: int | None = None
    size: int | None = None
    in_flight: int = 0  # upload_part calls running when this one started, itself included
    end: float | None = None
    error: str | None = None  # the S3 error code it failed with


@dataclass
class StoredPart:
    """A part as the server keeps it."""

    number: int
    size: int
    etag: str
    md5: bytes
    data: bytes | None
    digest: bytes | None  # raw checksum under the upload's algorithm


@dataclass
class FakeUpload:
    """An in-progress multipart upload."""

    upload_id: str
    bucket: str
    key: str
    algorithm: str | None  # botocore parameter, e.g. "ChecksumCRC64NVME"
    checksum_type: str | None
    extra: dict[str, Any]
    parts: dict[int, StoredPart] = field(default_factory=dict)
    aborted: bool = False  # by a leaky abort: parts already in flight may still land
    initiated: float = field(default_factory=time.time)


@dataclass
class FakeObject:
    """A published object."""

    data: bytes | None
    size: int
    etag: str
    version_id: str
    checksums: dict[str, str]
    checksum_type: str | None
    extra: dict[str, Any]
    parts: int | None = None  # None for a PutObject
    part_sizes: tuple[int, ...] | None = None  # the parts' lengths, for HeadObject PartNumber


class CallLog:
    """Calls as one side of the seam saw them: ``calls``, the ``upload_part`` calls in flight
    (count and bytes, now and at the peak), and waits on them, all under one lock."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.bytes_in_flight = 0
        self.peak_bytes_in_flight = 0
        self._cond = threading.Condition()

    def calls_of(self, op: str) -> list[Call]:
        """The recorded calls of one operation, in start order."""
        with self._cond:
            return [c for c in self.calls if c.op == op]

    def count(self, op: str) -> int:
        """How many times ``op`` was called."""
        return len(self.calls_of(op))

    def ops(self) -> list[str]:
        """Operation names in call order, upload_part calls included."""
        with self._cond:
            return [c.op for c in self.calls]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate`` (evaluated under the lock at every call's end) holds."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for_part(self, number: int, timeout: float = 10.0) -> bool:
        """Wait until an upload_part call for part ``number`` has started."""
        return self.wait_until(
            lambda: any(c.op == "upload_part" and c.part_number == number for c in self.calls),
            timeout,
        )

    def wait_for_in_flight(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` parts are in flight at once."""
        with self._cond:
            return self._cond.wait_for(lambda: self.in_flight >= n, timeout)

    def wait_for_calls(self, op: str, n: int, timeout: float = 10.0) -> bool:
        """Wait until ``op`` has been called ``n`` times and those calls ended."""

        def done() -> bool:
            calls = [c for c in self.calls if c.op == op]
            return len(calls) >= n and all(c.end is not None for c in calls)

        with self._cond:
            return self._cond.wait_for(done, timeout)

    @contextmanager
    def record(
        self, op: str, *, part_number: int | None = None, size: int | None = None
    ) -> Iterator[Call]:
        """Record one call for the length of the block (an ``upload_part`` counts as in
        flight meanwhile); an s3sink error out of it records its S3 error code."""
        call = Call(op, threading.current_thread().name, time.monotonic(), part_number, size)
        part = op == "upload_part"
        with self._cond:
            self.calls.append(call)
            if part:
                self.in_flight += 1
                self.bytes_in_flight += size or 0
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                self.peak_bytes_in_flight = max(self.peak_bytes_in_flight, self.bytes_in_flight)
                call.in_flight = self.in_flight
            self._cond.notify_all()
        try:
            yield call
        except UploadError as exc:
            call.error = getattr(exc.__cause__, "code", None)
            raise
        finally:
            with self._cond:
                if part:
                    self.in_flight -= 1
                    self.bytes_in_flight -= size or 0
                call.end = time.monotonic()
                self._cond.notify_all()


class FakeS3(CallLog):
    """The Transport protocol over dictionaries; see the module docstring."""

    def __init__(self, *, min_part_size: int = 5 * MiB, store_bodies: bool = True) -> None:
        super().__init__()
        self.min_part_size = min_part_size
        # False: accept parts without copying, hashing or checksumming their bytes (for
        # streams of many GiB); objects then have ``data=None``.
        self.store_bodies = store_bodies
        self.objects: dict[tuple[str, str], FakeObject] = {}  # the current version of each
        self.versions: dict[str, FakeObject] = {}  # every version, by version id
        self.uploads: dict[str, FakeUpload] = {}
        self._ids = itertools.count(1)
        self.endpoint = "fake://s3"  # names the store in resume journals
        # What the store does with checksums: "aws" validates and echoes them, "ignore"
        # neither (Ceph RGW 16), "echo-unchecked" echoes what was sent without checking
        # (moto with x-amz-sdk-checksum-algorithm).
        self.checksum_mode = "aws"
        self.checks_content_md5 = True
        self.sse_kms = False  # ETags are then no MD5s, as under SSE-KMS
        self.drops_multipart_lock = False  # as RGW 16 does: Object Lock of a multipart upload
        self.bare_if_match = False  # as RGW: If-Match compares the bare digest
        self.ignores_part_numbers = False  # as RGW 16: HeadObject answers the whole object
        self.read_attempts = 10  # ReadTransport.max_attempts
        self.ranges: list[FakeRange] = []  # every GET body handed out, in order

    # -- helpers for tests ------------------------------------------------------------
    def seed(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        parts: Sequence[int] | None = None,
        checksums: Mapping[str, str] | None = None,
        checksum_type: str | None = "FULL_OBJECT",
        etag: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> FakeObject:
        """Put an object as another client would: by default one PutObject to which S3 adds
        a CRC64NVME checksum; ``parts`` (their lengths) makes it a multipart object with
        S3's ``-N`` ETag; ``checksums`` (and ``checksum_type``) and ``etag`` replace what is
        stored, right or wrong."""
        if parts is not None:
            assert sum(parts) == len(data), "the parts must cover the data"
            bounds = list(itertools.accumulate(parts, initial=0))
            md5s = b"".join(
                hashlib.md5(data[a:b]).digest()  # noqa: S324  # S3's ETag
                for a, b in itertools.pairwise(bounds)
            )
            default_etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(parts)}"'  # noqa: S324
        else:
            default_etag = self._etag(hashlib.md5(data).digest())  # noqa: S324  # S3's ETag
        if checksums is None:
            checksums = {"ChecksumCRC64NVME": checksum_of("ChecksumCRC64NVME", data)}
        with self._cond:
            return self._publish(
                bucket,
                key,
                data,
                size=len(data),
                etag=etag or default_etag,
                checksums=dict(checksums),
                checksum_type=checksum_type if checksums else None,
                extra=dict(extra or {}),
                parts=len(parts) if parts is not None else None,
                part_sizes=tuple(parts) if parts is not None else None,
            )

    def object_bytes(self, bucket: str, key: str) -> bytes:
        """The stored bytes of an object (KeyError if there is none)."""
        data = self.objects[(bucket, key)].data
        assert data is not None, "bodies were not stored"
        return data

    def live_uploads(self) -> list[str]:
        """Upload ids that still exist or still hold parts."""
        with self._cond:
            return [u.upload_id for u in self.uploads.values() if not u.aborted or u.parts]

    def stored_parts(self, upload_id: str) -> list[int]:
        """Part numbers an upload holds now (empty once it is gone)."""
        with self._cond:
            upload = self.uploads.get(upload_id)
            return sorted(upload.parts) if upload is not None else []

    def abort_leaving_parts_in_flight(self, bucket: str, key: str, upload_id: str) -> None:
        """The other outcome S3 documents for an abort: the parts stored so far are freed, but
        parts still in flight may land afterwards (here: every part sent until the next abort
        lands), so that aborting once more is needed. The upload is no longer listed, and
        completing it fails."""
        with self.record("abort_multipart_upload"), self._cond:
            upload = self.uploads.get(upload_id)
            if upload is not None:
                upload.parts.clear()
                upload.aborted = True

    # -- internals --------------------------------------------------------------------
    def _raise(
        self,
        code: str,
        what: str,
        bucket: str,
        key: str,
        upload_id: str | None = None,
        *,
        part_number: int | None = None,
        commit: bool = False,
    ) -> NoReturn:
        """Raise what BotoTransport raises for S3 error ``code``."""
        error = s3_error(code, what, bucket, key, upload_id, part_number=part_number, commit=commit)
        raise error from error.__cause__

    def _precondition(self, bucket: str, key: str, commit: Commit, what: str) -> None:
        """Check If-None-Match / If-Match against the current object (under the lock)."""
        current = self.objects.get((bucket, key))
        if commit.if_none_match == "*" and current is not None:
            self._raise("PreconditionFailed", what, bucket, key, commit=True)
        if commit.if_match is not None:
            if current is None:
                self._raise("NoSuchKey", what, bucket, key, commit=True)
            if current.etag != commit.if_match:
                self._raise("PreconditionFailed", what, bucket, key, commit=True)

    def _publish(self, bucket: str, key: str, data: bytes | None, **fields: Any) -> FakeObject:
        obj = FakeObject(data=data, version_id=f"v{next(self._ids)}", **fields)
        self.objects[(bucket, key)] = obj
        self.versions[obj.version_id] = obj
        return obj

    def _version(self, bucket: str, key: str, version_id: str | None) -> FakeObject | None:
        """The current version of the object, or the one ``version_id`` names."""
        if version_id is None:
            return self.objects.get((bucket, key))
        return self.versions.get(version_id)

    def _etag(self, md5: bytes) -> str:
        return f'"{md5.hex()}"' if not self.sse_kms else f'"kms{md5.hex()[3:]}"'

    def _check_content_md5(
        self, data: bytes, content_md5: str | None, fail: Callable[[str], NoReturn]
    ) -> None:
        md5 = hashlib.md5(data).digest()  # noqa: S324  # Content-MD5
        if content_md5 is not None and self.checks_content_md5 and content_md5 != b64(md5):
            fail("BadDigest")

    # -- Transport --------------------------------------------------------------------
    def delete_object(self, bucket: str, key: str, version_id: str | None) -> None:
        with self.record("delete_object"), self._cond:
            obj = self.objects.get((bucket, key))
            if obj is not None and version_id in (None, obj.version_id):
                del self.objects[(bucket, key)]

    def copy_object(self, bucket: str, source_key: str, target_key: str) -> None:
        with self.record("copy_object"), self._cond:
            source = self.objects.get((bucket, source_key))
            if source is None:
                self._raise("NoSuchKey", "CopyObject", bucket, target_key)
            copy = replace(source, version_id=f"v{next(self._ids)}", parts=None)
            if source.parts is not None and source.data is not None:  # a copy is one part
                copy = replace(copy, etag=self._etag(hashlib.md5(source.data).digest()))  # noqa: S324
            self.objects[(bucket, target_key)] = copy

    def put_object(
        self,
        bucket: str,
        key: str,
        body: Body,
        *,
        extra: Mapping[str, Any],
        commit: Commit,
        sent: SendCounter | None = None,
    ) -> StoredObject:
        data = bytes(body)
        _arrived(sent, len(data))
        with self.record("put_object", size=len(data)):

            def fail(code: str) -> NoReturn:
                self._raise(code, "PutObject", bucket, key, commit=True)

            self._check_content_md5(data, commit.content_md5, fail)
            checksums: dict[str, str] = {}
            if commit.checksum is not None and self.checksum_mode != "ignore":
                expected = checksum_of(commit.checksum.param, data)
                if commit.checksum.value != expected and self.checksum_mode == "aws":
                    fail("BadDigest")
                checksums[commit.checksum.param] = commit.checksum.value
            with self._cond:
                self._precondition(bucket, key, commit, "PutObject")
                obj = self._publish(
                    bucket,
                    key,
                    data,
                    size=len(data),
                    etag=self._etag(hashlib.md5(data).digest()),  # noqa: S324  # S3's ETag
                    checksums=checksums,
                    checksum_type="FULL_OBJECT" if checksums else None,
                    extra=dict(extra),
                )
            return StoredObject(
                obj.etag,
                obj.version_id,
                checksums.get(commit.checksum.param) if commit.checksum else None,
                obj.checksum_type,
                etag_is_md5=not self.sse_kms,
            )

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        extra: Mapping[str, Any],
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> str:
        with self.record("create_multipart_upload"):
            algorithm = f"Checksum{checksum_algorithm}" if checksum_algorithm else None
            if algorithm is not None and algorithm not in DIGESTS:
                self._raise("InvalidRequest", "CreateMultipartUpload", bucket, key)
            if checksum_type is not None and (
                algorithm is None
                or checksum_type not in ("FULL_OBJECT", "COMPOSITE")
                or (checksum_type == "FULL_OBJECT" and algorithm not in FULL_OBJECT_CAPABLE)
                or (checksum_type == "COMPOSITE" and algorithm == "ChecksumCRC64NVME")
            ):
                self._raise("InvalidRequest", "CreateMultipartUpload", bucket, key)
            with self._cond:
                upload_id = f"upload-{next(self._ids)}"
                self.uploads[upload_id] = FakeUpload(
                    upload_id, bucket, key, algorithm, checksum_type, dict(extra)
                )
            return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: Body,
        *,
        extra: Mapping[str, Any],
        checksum: PartChecksum | None,
        content_md5: str | None = None,
        sent: SendCounter | None = None,
    ) -> PartReceipt:
        _arrived(sent, len(body))
        with self.record("upload_part", part_number=part_number, size=len(body)):
            return self._upload_part(
                bucket,
                key,
                upload_id,
                part_number,
                body=body,
                checksum=checksum,
                content_md5=content_md5,
            )

    def _upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        *,
        body: Body,
        checksum: PartChecksum | None,
        content_md5: str | None,
    ) -> PartReceipt:
        def fail(code: str) -> NoReturn:
            self._raise(code, "UploadPart", bucket, key, upload_id, part_number=number)

        with self._cond:
            upload = self.uploads.get(upload_id)
        # An upload aborted with parts in flight still takes them (abort_leaving_parts_in_flight).
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            fail("NoSuchUpload")
        if not 1 <= number <= 10_000:
            fail("InvalidArgument")
        if upload.algorithm is not None and (
            checksum is None or checksum.param != upload.algorithm
        ):
            fail("InvalidRequest")  # the upload was created with a checksum algorithm
        data: bytes | None = None
        digest = None
        echo = None
        if self.store_bodies:
            # Copied only now: the body must not change while in flight.
            data = bytes(body)
            md5 = hashlib.md5(data).digest()  # noqa: S324  # S3's ETag
            self._check_content_md5(data, content_md5, fail)
            if checksum is not None and self.checksum_mode == "aws":
                digest = DIGESTS[checksum.param](data)
                if b64(digest) != checksum.value:
                    fail("BadDigest")
                echo = checksum.value
            elif checksum is not None and self.checksum_mode == "echo-unchecked":
                digest = base64.b64decode(checksum.value)  # what the header says, unchecked
                echo = checksum.value
        else:
            md5 = hashlib.md5(f"{upload_id}:{number}:{len(body)}".encode()).digest()  # noqa: S324
            echo = checksum.value if checksum is not None else None
        # Without bodies the ETag cannot be the MD5 of the bytes: give it a form no writer
        # mistakes for one (the part is then unverified unless its checksum was echoed).
        etag = self._etag(md5) if self.store_bodies else f'"{md5.hex()}-unhashed"'
        part = StoredPart(number, len(body), etag, md5, data, digest)
        with self._cond:
            if self.uploads.get(upload_id) is not upload:
                fail("NoSuchUpload")  # aborted while this part was in flight
            upload.parts[number] = part
        return PartReceipt(part.etag, echo, etag_is_md5=not self.sse_kms)

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        *,
        extra: Mapping[str, Any],
        commit: Commit,
    ) -> StoredObject:
        what = "CompleteMultipartUpload"

        def fail(code: str) -> NoReturn:
            self._raise(code, what, bucket, key, upload_id, commit=True)

        with self.record("complete_multipart_upload"):
            with self._cond:
                upload = self.uploads.get(upload_id)
                if upload is None or upload.aborted:
                    fail("NoSuchUpload")
                numbers = [p.number for p in parts]
                if not parts:
                    fail("MalformedXML")
                if numbers != sorted(set(numbers)):
                    fail("InvalidPartOrder")
                stored: list[StoredPart] = []
                for listed in parts:
                    part = upload.parts.get(listed.number)
                    if part is None or part.etag != listed.etag:
                        fail("InvalidPart")
                    if listed.checksum is not None and part.digest is not None:
                        if listed.checksum.value != b64(part.digest):
                            fail("InvalidPart")
                    elif upload.checksum_type == "COMPOSITE" and self.store_bodies:
                        fail("InvalidPart")  # composite needs every part's checksum listed
                    stored.append(part)
                if any(p.size < self.min_part_size for p in stored[:-1]):
                    fail("EntityTooSmall")
                size = sum(p.size for p in stored)
                if commit.size is not None and commit.size != size:
                    fail("InvalidRequest")  # MpuObjectSize disagrees with the parts
                if (
                    commit.checksum_type is not None
                    and commit.checksum_type != upload.checksum_type
                ):
                    fail("InvalidRequest")
                data = b"".join(p.data or b"" for p in stored) if self.store_bodies else None
                checksums: dict[str, str] = {}
                if (
                    upload.algorithm is not None
                    and data is not None
                    and self.checksum_mode == "aws"
                ):
                    if upload.checksum_type == "COMPOSITE":
                        joined = b"".join(p.digest or b"" for p in stored)
                        whole = b64(DIGESTS[upload.algorithm](joined))
                        checksums[upload.algorithm] = f"{whole}-{len(stored)}"
                    else:
                        whole = checksum_of(upload.algorithm, data)
                        checksums[upload.algorithm] = whole
                    if commit.checksum is not None and (
                        commit.checksum.param != upload.algorithm or commit.checksum.value != whole
                    ):
                        fail("BadDigest")
                elif commit.checksum is not None and self.store_bodies and not upload.algorithm:
                    fail("InvalidRequest")  # a checksum for an upload created without one
                self._precondition(bucket, key, commit, what)
                etag = hashlib.md5(b"".join(p.md5 for p in stored)).hexdigest()  # noqa: S324
                obj = self._publish(
                    bucket,
                    key,
                    data,
                    size=size,
                    etag=f'"{etag}-{len(stored)}"',
                    checksums=checksums,
                    checksum_type=upload.checksum_type if checksums else None,
                    extra=dict(upload.extra),
                    parts=len(stored),
                    part_sizes=tuple(p.size for p in stored),
                )
                del self.uploads[upload_id]
            return StoredObject(
                obj.etag,
                obj.version_id,
                checksums.get(commit.checksum.param) if commit.checksum else None,
                obj.checksum_type,
                etag_is_md5=not self.sse_kms,
            )

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self.record("abort_multipart_upload"), self._cond:
            if self.uploads.pop(upload_id, None) is None:
                return  # NoSuchUpload: BotoTransport treats it as done

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[ListedPart] | None:
        with self.record("list_parts"), self._cond:
            upload = self.uploads.get(upload_id)
            if upload is None:
                return None
            listed = []
            for number in sorted(upload.parts):
                part = upload.parts[number]
                checksums = {}
                if upload.algorithm and part.digest is not None and self.checksum_mode == "aws":
                    checksums[upload.algorithm] = b64(part.digest)
                listed.append(ListedPart(number, part.size, part.etag, checksums))
            return listed

    def list_uploads(self, bucket: str, prefix: str) -> Iterator[PendingUpload]:
        with self.record("list_uploads"), self._cond:
            found = [
                PendingUpload(
                    u.key, u.upload_id, dt.datetime.fromtimestamp(u.initiated, dt.timezone.utc)
                )
                for u in self.uploads.values()
                if u.bucket == bucket and u.key.startswith(prefix) and not u.aborted
            ]
        yield from found

    def check_bucket(self, bucket: str, key: str) -> None:
        """Every bucket exists here: FaultyStore makes one missing or forbidden."""
        with self.record("check_bucket"):
            pass

    def head_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo | None:
        with self.record("head_object"), self._cond:
            obj = self._version(bucket, key, version_id)
            if obj is None:
                return None
            dropped = obj.parts is not None and self.drops_multipart_lock
            return ObjectInfo(
                etag=obj.etag,
                size=obj.size,
                version_id=obj.version_id,
                checksums=dict(obj.checksums),
                checksum_type=obj.checksum_type,
                lock=None if dropped and "lock_set" not in obj.extra else requested_lock(obj.extra),
            )

    def put_object_lock(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        lock: ObjectLock,
        *,
        extra: Mapping[str, Any],
    ) -> None:
        with self.record("put_object_lock"), self._cond:
            obj = self._version(bucket, key, version_id)
            if obj is None:
                self._raise(
                    "NoSuchVersion" if version_id else "NoSuchKey",
                    "PutObjectRetention",
                    bucket,
                    key,
                )
            obj.extra = {
                **obj.extra,
                "ObjectLockMode": lock.mode,
                "ObjectLockRetainUntilDate": lock.retain_until,
                "ObjectLockLegalHoldStatus": "ON" if lock.legal_hold else "OFF",
                "lock_set": True,
            }

    # -- ReadTransport ----------------------------------------------------------------
    @property
    def max_attempts(self) -> int:
        return self.read_attempts

    def _if_match_refused(self, obj: FakeObject, if_match: str) -> bool:
        if self.bare_if_match:
            return if_match != obj.etag.strip('"')
        return bare(if_match) != bare(obj.etag)

    def read_head(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_number: int | None = None,
        if_match: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ObjectHead:
        with self.record("read_head", part_number=part_number), self._cond:

            def fail(code: str) -> NoReturn:
                error = read_error(
                    code,
                    "HeadObject",
                    bucket,
                    key,
                    version_id=version_id,
                    started=if_match is not None,
                )
                raise error from error.__cause__

            obj = self._version(bucket, key, version_id)
            if obj is None:
                fail("404")
            if if_match is not None and self._if_match_refused(obj, if_match):
                fail("412")
            sizes = obj.part_sizes or (obj.size,)
            asked = part_number
            if self.ignores_part_numbers:  # as if none was asked; the size stays the object's
                part_number, sizes = None, (obj.size,)
            if part_number is not None and not 1 <= part_number <= len(sizes):
                fail("InvalidPartNumber")
            return ObjectHead(
                etag=obj.etag,
                size=obj.size,
                version_id=obj.version_id,
                checksums=dict(obj.checksums),
                checksum_type=obj.checksum_type,
                content_type=obj.extra.get("ContentType"),
                etag_is_md5=not self.sse_kms,
                parts_count=len(sizes) if obj.part_sizes is not None and part_number else None,
                part_size=(
                    None if asked is None else sizes[part_number - 1] if part_number else obj.size
                ),
            )

    def get_range(
        self,
        bucket: str,
        key: str,
        start: int,
        end: int,
        *,
        if_match: str | None,
        version_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> FakeRange:
        with self.record("get_range", size=end - start), self._cond:

            def fail(code: str) -> NoReturn:
                error = read_error(code, "GetObject", bucket, key, version_id=version_id)
                raise error from error.__cause__

            obj = self._version(bucket, key, version_id)
            if obj is None:
                fail("NoSuchKey")
            if if_match is not None and self._if_match_refused(obj, if_match):
                fail("PreconditionFailed")
            if not 0 <= start < end <= obj.size:
                fail("InvalidRange")
            assert obj.data is not None, "bodies were not stored"
            stream = FakeRange(memoryview(obj.data)[start:end])
            self.ranges.append(stream)
            return stream


def bare(etag: str) -> str:
    """An ETag without its quotes."""
    return etag.strip().strip('"')


# -- helpers shared by the writer tests ---------------------------------------------------
BUCKET = "bkt"
KEY = "dir/obj.bin"
URI = f"s3://{BUCKET}/{KEY}"
PART = 5 * MiB  # the smallest part S3 allows; every writer test uses it unless it says
WAIT = 10.0  # generous timeout for things that must happen; only reached on failure


class ZeroSource:
    """A readinto() source of ``size`` bytes that never touches the buffer (no copying)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), self.left)
        self.left -= n
        return n


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` reproducible random (incompressible) bytes."""
    return random.Random(seed).randbytes(size)


def text_like(size: int, seed: int = 1) -> bytes:
    """Reproducible log-like lines: compressible as real text is (about 3x with zstd)."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 8)).hex() for _ in range(500)]
    out = bytearray()
    stamp = 1_700_000_000
    while len(out) < size:
        stamp += rng.randint(1, 9)
        out += f"{stamp} INFO {' '.join(rng.choices(words, k=10))}\n".encode()
    return bytes(out[:size])


def _arrived(sent: SendCounter | None, size: int) -> None:
    """The body reached the store whole: as over a wire, all of it was sent (progress
    counts it until the call returns)."""
    if sent is not None:
        sent.sent = size


def make_writer(store: Transport, **options: Any) -> S3MultipartWriter:
    """A writer on ``store`` (a FakeS3, or a FaultyStore in front of one) for
    s3://bkt/dir/obj.bin with 5 MiB parts unless told."""
    options.setdefault("part_size", PART)
    return S3MultipartWriter(BUCKET, KEY, transport=store, **options)


class Background:
    """Run a callable on a daemon thread; ``done`` is set when it returns or raises."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None
        self._fn = fn
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:  # noqa: BLE001  # handed to the test via join()
            self.error = exc
        finally:
            self.done.set()

    def join(self, timeout: float = WAIT) -> object:
        """Wait for the call; re-raise its exception or return its result."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background call did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``predicate`` (for state with no event to wait on); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def parts_for(schedule: PartSchedule, size: int) -> int:
    """How many parts a stream of ``size`` bytes uses, by walking the parts one by one."""
    total = 0
    for n in range(1, MAX_PARTS + 1):
        total += schedule.size_of(n)
        if total >= size:
            return n
    raise ValueError("too big")
