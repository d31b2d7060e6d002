"""The exception tree of s3sink.

::

    S3SinkError
    ├── UsageError (also ValueError)           bad size, bad option, bad argument
    │   ├── InvalidLocationError               bad s3:// URI, bucket name or key
    │   └── RecipientError                     a bad age recipient or recipients file
    ├── IdentityError      an age identity file that cannot be read
    ├── UploadError        .bucket .key .upload_id; __cause__ = the underlying error
    │   ├── PartUploadError    .part_number
    │   ├── CompleteError      CompleteMultipartUpload / PutObject failed
    │   ├── PreconditionFailed 412 / 409 on a conditional write
    │   ├── UploadCancelled    KeyboardInterrupt, signal, producer failure, explicit abort
    │   ├── PartLimitError     the stream outgrew the part schedule (10,000 parts)
    │   ├── SourceChangedError the file being uploaded changed size or mtime meanwhile
    │   ├── CompressionError   the compressor (``compress=``) failed
    │   └── AbortFailedError   the abort itself failed: the upload id is orphaned
    └── ReadError          .bucket .key .version_id; reading an object failed
        ├── ObjectChangedError  the object was replaced or deleted while it was read
        ├── NoIdentityError     an age object none of the identities given can decrypt
        └── IntegrityError      the bytes read do not match what the store recorded
            └── DecryptError    an age object's header or payload does not authenticate

Foreign exceptions (botocore's) are translated in :mod:`s3sink._store.boto` only, and always
chained with ``raise ... from exc`` so the original cause stays visible.
"""

from __future__ import annotations


class S3SinkError(Exception):
    """Base class of every error s3sink raises on purpose."""


class UsageError(S3SinkError, ValueError):
    """A bad argument: a size, an option, a combination of options."""


class InvalidLocationError(UsageError):
    """A malformed ``s3://bucket/key`` URI, bucket name or object key."""


class UploadError(S3SinkError):
    """An upload failed; names the bucket, key and (when one exists) the upload id.

    ``received_other_bytes``: the store refused the request because its bytes did not match
    the checksum, Content-MD5 or signature sent with them (corrupted on the way), so sending
    it again may succeed."""

    def __init__(
        self,
        message: str,
        *,
        bucket: str,
        key: str,
        upload_id: str | None = None,
        received_other_bytes: bool = False,
    ) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.received_other_bytes = received_other_bytes

    def __str__(self) -> str:
        # The message already describes the cause (s3sink._store.boto.describe); the full
        # foreign exception stays reachable as __cause__ without being printed twice.
        return f"s3://{self.bucket}/{self.key}: {self.args[0]}"


class PartUploadError(UploadError):
    """A part still failed after retries."""

    def __init__(
        self,
        message: str,
        *,
        bucket: str,
        key: str,
        part_number: int,
        upload_id: str | None = None,
        received_other_bytes: bool = False,
    ) -> None:
        super().__init__(
            message,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            received_other_bytes=received_other_bytes,
        )
        self.part_number = part_number


class CompleteError(UploadError):
    """CompleteMultipartUpload (or the single PutObject) failed."""


class PreconditionFailed(UploadError):
    """A conditional write was refused: the object exists (If-None-Match) or changed."""


class UploadCancelled(UploadError):
    """The upload was aborted on purpose: interrupt, signal, producer failure, abort()."""


class PartLimitError(UploadError):
    """The stream is longer than the part schedule allows (S3's 10,000-part limit)."""


class SourceChangedError(UploadError):
    """The file being uploaded changed (size, modification time) during the upload."""


class CompressionError(UploadError):
    """The compressor failed (``compress=``): the upload is aborted like on any failure."""


class AbortFailedError(UploadError):
    """Aborting the multipart upload failed; the upload id is left on the server."""


class ReadError(S3SinkError):
    """Reading an object failed (not found, access denied, the network); names the bucket,
    the key and the version asked for, if any; ``__cause__`` is the underlying error."""

    def __init__(
        self, message: str, *, bucket: str, key: str, version_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.version_id = version_id

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}: {self.args[0]}"


class ObjectChangedError(ReadError):
    """The object changed while it was read: a range asked for with ``If-Match`` (the ETag
    of the first answer) was refused (412), or the object was deleted meanwhile. Nothing of
    two versions is ever spliced together."""


class IntegrityError(ReadError):
    """The object's bytes do not match what the store recorded at upload (its checksum, or
    the MD5s of its ETag), or (with ``require_checksum``) there was nothing to check them
    against. Raised by the read that would have returned the object's last bytes, so that a
    consumer never reads a clean end of a corrupted object.

    ``verified_by`` says what was compared ("checksum-full-object", "checksum-composite",
    "etag-md5", or None when nothing could be), ``algorithm`` the checksum's, ``stored`` the
    value the store reports and ``computed`` the value of the bytes read."""

    def __init__(
        self,
        message: str,
        *,
        bucket: str,
        key: str,
        version_id: str | None = None,
        verified_by: str | None = None,
        algorithm: str | None = None,
        stored: str | None = None,
        computed: str | None = None,
    ) -> None:
        super().__init__(message, bucket=bucket, key=key, version_id=version_id)
        self.verified_by = verified_by
        self.algorithm = algorithm
        self.stored = stored
        self.computed = computed


class DecompressError(S3SinkError):
    """``decompress=True`` / ``--decompress``: the compressed stream is corrupt (a checksum or
    trailer that does not match, a frame or member cut short, bytes that are no part of the
    format) although the stored bytes verified. Raised by the read that would have returned
    the last bytes; the command exits 5, as for an IntegrityError."""

    def __init__(self, codec: str, message: str) -> None:
        super().__init__(f"the {codec} stream is corrupt: {message}")
        self.codec = codec


class RecipientError(UsageError):
    """A recipient to encrypt to (``--encrypt-to``, ``encrypt_to=``) or a recipients file
    (``--encrypt-to-file``) that cannot be used: malformed, of an unsupported type, or
    unreadable; a file's message names the file and the line. Never quotes a key."""


class IdentityError(S3SinkError):
    """An identity file (``--identity``, ``identity=``) that cannot be used: unreadable,
    malformed, protected by a passphrase, or of an unsupported type. Never quotes a key."""


class _UnplacedReadError(ReadError):
    """A read error the age format raises before it knows the object (bucket and key are
    then empty, and the message stands alone)."""

    def __init__(
        self, message: str, *, bucket: str = "", key: str = "", version_id: str | None = None
    ) -> None:
        super().__init__(message, bucket=bucket, key=key, version_id=version_id)

    def __str__(self) -> str:
        return super().__str__() if self.bucket else str(self.args[0])


class NoIdentityError(_UnplacedReadError):
    """An age object that none of the identities given can decrypt ("no identity
    matches"): told from its header, before any plaintext is handed over; the command exits
    1."""


class DecryptError(IntegrityError):
    """An age object whose header (its format, its MAC) or payload (a chunk's
    ChaCha20-Poly1305 tag, a truncated or extended stream) does not authenticate, although
    the stored bytes may have verified: raised instead of handing over the last plaintext
    bytes; the command exits 5. ``verified_by`` is "age"."""

    def __init__(
        self, message: str, *, bucket: str = "", key: str = "", version_id: str | None = None
    ) -> None:
        super().__init__(message, bucket=bucket, key=key, version_id=version_id, verified_by="age")

    def __str__(self) -> str:
        return super().__str__() if self.bucket else str(self.args[0])


class NotCompressedError(S3SinkError):
    """``decompress=True`` / ``--decompress`` on an object that is neither zstd nor gzip
    (told before any output)."""


__all__ = [
    "AbortFailedError",
    "CompleteError",
    "CompressionError",
    "DecompressError",
    "DecryptError",
    "IdentityError",
    "IntegrityError",
    "InvalidLocationError",
    "NoIdentityError",
    "NotCompressedError",
    "ObjectChangedError",
    "PartLimitError",
    "PartUploadError",
    "PreconditionFailed",
    "ReadError",
    "RecipientError",
    "S3SinkError",
    "SourceChangedError",
    "UploadCancelled",
    "UploadError",
    "UsageError",
]
