"""The seam between s3sink and S3: small Protocols and the values that cross them.

``UploadTransport`` is what an upload uses, ``ReadTransport`` what reading an object back
uses (HeadObject for its size, checksum and parts; ranged GETs whose bodies are read straight
into the reader's buffers), ``Transport`` the whole store. The botocore implementation is
``boto`` (the one place where botocore's exceptions become s3sink's); unit tests substitute an
in-memory transport with multipart semantics.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .objectlock import ObjectLock

if TYPE_CHECKING:
    pass

Body = bytes | bytearray


class SendCounter:
    """Bytes of one request's body handed to the connection so far, in its current attempt.

    The uploader gives one to ``upload_part`` / ``put_object`` and reads ``sent`` from
    another thread (a progress snapshot) while the request runs; the transport's body adds
    to it as the HTTP layer reads each block to send it, and sets it back to 0 when the
    request starts over (a retry) — what the failed attempt had sent is taken back. A
    plain attribute, no lock and no callback: it is bumped once per block read (8-64 KiB),
    and an int store is atomic under the GIL.
    """

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


@dataclass(frozen=True)
class PartChecksum:
    """A checksum to send with a request: botocore parameter name and base64 value."""

    param: str  # e.g. "ChecksumCRC64NVME"
    value: str


@dataclass(frozen=True)
class CompletedPart:
    """What CompleteMultipartUpload needs about one uploaded part."""

    number: int
    etag: str
    size: int
    checksum: PartChecksum | None = None
    digest: bytes | None = None  # the raw checksum, for the whole-object combination
    integrity: Integrity = "unverified"  # how s3sink knows the store received these bytes
    skipped: bool = False  # resumed: the store already held these bytes, nothing was sent


Integrity = Literal["store-checksum", "etag-md5", "unverified"]


@dataclass(frozen=True)
class PartReceipt:
    """What the store answered to UploadPart."""

    etag: str
    checksum: str | None = None  # the value the store echoed for the checksum sent, if any
    etag_is_md5: bool = True  # False under SSE-KMS or SSE-C: the ETag is then no MD5


@dataclass(frozen=True)
class Commit:
    """Options of the request that publishes the object (PutObject or Complete)."""

    checksum: PartChecksum | None = None
    checksum_type: str | None = None  # FULL_OBJECT / COMPOSITE, multipart only
    size: int | None = None  # MpuObjectSize: the store checks the assembled size
    if_none_match: str | None = None
    if_match: str | None = None
    content_md5: str | None = None  # PutObject only: base64 MD5 of the body
    checksum_algorithm: str | None = None  # PutObject only: x-amz-sdk-checksum-algorithm


@dataclass(frozen=True)
class StoredObject:
    """What the store answered when the object was published."""

    etag: str
    version_id: str | None
    checksum: str | None = None  # the whole-object value the store echoed, if any
    checksum_type: str | None = None
    etag_is_md5: bool = True  # False under SSE-KMS or SSE-C


@dataclass(frozen=True)
class ObjectInfo:
    """HeadObject's view of an existing object."""

    etag: str
    size: int
    version_id: str | None
    checksums: Mapping[str, str]  # e.g. {"ChecksumCRC64NVME": "..."}
    checksum_type: str | None
    lock: ObjectLock | None = None  # its Object Lock settings, when it has any


@dataclass(frozen=True)
class ListedPart:
    """A part the store holds for a pending upload (ListParts)."""

    number: int
    size: int
    etag: str
    checksums: Mapping[str, str]  # e.g. {"ChecksumCRC64NVME": "..."}; empty if none listed
    # Resuming: the checksum a journal recorded when this very part (same ETag) was sent.
    journal_checksum: str | None = None


@dataclass(frozen=True)
class PendingUpload:
    """One in-progress multipart upload (for housekeeping)."""

    key: str
    upload_id: str
    initiated: _dt.datetime


@dataclass(frozen=True)
class ObjectHead:
    """HeadObject's answer (ChecksumMode=ENABLED) as a reader needs it. Asked with a part
    number, ``part_size`` is that part's length and ``parts_count`` the object's parts (None
    for an object a single PutObject wrote)."""

    etag: str
    size: int
    version_id: str | None
    checksums: Mapping[str, str]  # e.g. {"ChecksumCRC64NVME": "..."}; empty if none stored
    checksum_type: str | None = None  # FULL_OBJECT / COMPOSITE, when the store says
    content_type: str | None = None
    etag_is_md5: bool = True  # False under SSE-KMS or SSE-C: the ETag is then no MD5
    parts_count: int | None = None
    part_size: int | None = None


class RangeBroken(Exception):
    """The connection broke while a range's body was being read (reset, timeout, closed
    early): the bytes received so far are good, the rest can be asked for again. Not an
    s3sink error: the reader resumes, and raises its own error once it gives up."""


class RangeStream(Protocol):
    """The body of one ranged GET, read into the caller's buffers."""

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill ``buffer`` (all of it, unless the body ends first); the bytes read, 0 at the
        end. :class:`RangeBroken` when the connection breaks."""
        ...

    def close(self) -> None:
        """Let the connection go: back to the pool once the body was read to its end,
        closed otherwise. Safe to call twice."""
        ...

    def abort(self) -> None:
        """From another thread: wake a ``readinto`` blocked on this body (it then raises
        RangeBroken or returns early); the reader is closing."""
        ...


class ReadTransport(Protocol):
    """The S3 operations reading an object back uses. Implementations raise s3sink errors:
    :class:`~s3sink.errors.ReadError` (with ``ObjectChangedError`` for a refused If-Match),
    and :class:`RangeBroken` from a body only."""

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
        """HeadObject with ChecksumMode=ENABLED (and ``PartNumber``); a missing object or
        version is a ReadError."""
        ...

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
    ) -> RangeStream:
        """GetObject of bytes ``start`` to ``end`` (exclusive) with ``If-Match``; the
        response's length is checked against the range asked for."""
        ...

    @property
    def max_attempts(self) -> int:
        """Tries a request gets (the client's retry setting): a range whose connection
        breaks is resumed as often."""
        ...


class UploadTransport(Protocol):
    """The S3 operations every upload may use: send the parts or the one object, complete,
    abort and confirm, and check a condition. Implementations raise s3sink errors only."""

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
        """Publish ``body``; ``sent``, when given, counts its bytes as they are sent."""
        ...

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        extra: Mapping[str, Any],
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> str: ...

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
        """Upload one part; ``sent``, when given, counts its bytes as they are sent."""
        ...

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        *,
        extra: Mapping[str, Any],
        commit: Commit,
    ) -> StoredObject: ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None: ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[ListedPart] | None:
        """Part numbers still stored; ``None`` once the upload no longer exists."""
        ...

    def head_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo | None:
        """The object's metadata with checksums (of its version ``version_id``, else the
        current one), or ``None`` when there is no object."""
        ...


class Transport(UploadTransport, ReadTransport, Protocol):
    """The whole store: what an upload uses, and what the features around it add (undoing
    a publication that failed verification, setting Object Lock afterwards, finding a
    pending upload to resume, checking the bucket before a command starts) and the mount's
    and housekeeping's operations."""

    def delete_object(self, bucket: str, key: str, version_id: str | None) -> None:
        """Delete the object (that version of it, when the store named one)."""
        ...

    def copy_object(self, bucket: str, source_key: str, target_key: str) -> None:
        """Server-side copy within ``bucket`` (objects up to 5 GiB)."""
        ...

    def put_object_lock(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        lock: ObjectLock,
        *,
        extra: Mapping[str, Any],
    ) -> None:
        """Set the object's retention and legal hold (PutObjectRetention/-LegalHold), with
        ``extra``'s ExpectedBucketOwner and RequestPayer."""
        ...

    def list_uploads(self, bucket: str, prefix: str) -> Iterator[PendingUpload]:
        """Every in-progress multipart upload under ``prefix``."""
        ...

    def check_bucket(self, bucket: str, key: str) -> None:
        """Ask the store about ``bucket`` with one request that changes nothing (a listing
        of ``key``, one entry at most), so that a missing bucket, refused credentials or an
        endpoint out of reach show before anything starts. Raises the request's error
        (what it proves: ``errors.bucket_problem``)."""
        ...


# Extra arguments accepted by the writer, and the ones UploadPart also needs (SSE-C).
ALLOWED_EXTRA_ARGS = frozenset(
    {
        "ACL",
        "CacheControl",
        "ContentDisposition",
        "ContentEncoding",
        "ContentLanguage",
        "ContentType",
        "ExpectedBucketOwner",
        "Expires",
        "GrantFullControl",
        "GrantRead",
        "GrantReadACP",
        "GrantWriteACP",
        "Metadata",
        "ObjectLockLegalHoldStatus",
        "ObjectLockMode",
        "ObjectLockRetainUntilDate",
        "RequestPayer",
        "ServerSideEncryption",
        "SSECustomerAlgorithm",
        "SSECustomerKey",
        "SSECustomerKeyMD5",
        "SSEKMSKeyId",
        "SSEKMSEncryptionContext",
        "BucketKeyEnabled",
        "StorageClass",
        "Tagging",
        "WebsiteRedirectLocation",
    }
)
PER_REQUEST_ARGS = frozenset(
    {
        "ExpectedBucketOwner",
        "RequestPayer",
        "SSECustomerAlgorithm",
        "SSECustomerKey",
        "SSECustomerKeyMD5",
    }
)


def per_request(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of extra arguments that every part and the completion must repeat."""
    return {k: v for k, v in extra.items() if k in PER_REQUEST_ARGS}
