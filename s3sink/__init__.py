"""s3sink: stream data of unknown length into Amazon S3 (and S3-compatible stores), and read
it back verified.

``S3MultipartWriter`` is a binary file object that uploads parts in parallel with bounded
memory and publishes the object only on ``close()``; anything else aborts the upload.
``S3Reader`` (``s3sink.open(uri, "rb")``) reads an object in parallel ranges with bounded
memory and raises ``IntegrityError`` instead of returning the last bytes of an object that
does not match what the store recorded.
"""

from __future__ import annotations

from ._api import download_file, open, upload_file
from ._read.fileobj import DecompressedReader, DecryptedReader, S3Reader
from ._results import Progress, ReadResult, UploadResult
from ._store.ratelimit import RateLimiter
from ._upload.state import State
from ._version import __version__
from ._writer.writer import S3MultipartWriter
from .errors import (
    AbortFailedError,
    CompleteError,
    CompressionError,
    DecompressError,
    DecryptError,
    IdentityError,
    IntegrityError,
    InvalidLocationError,
    NoIdentityError,
    NotCompressedError,
    ObjectChangedError,
    PartLimitError,
    PartUploadError,
    PreconditionFailed,
    ReadError,
    RecipientError,
    S3SinkError,
    SourceChangedError,
    UploadCancelled,
    UploadError,
    UsageError,
)

__all__ = [
    "AbortFailedError",
    "CompleteError",
    "CompressionError",
    "DecompressError",
    "DecompressedReader",
    "DecryptError",
    "DecryptedReader",
    "IdentityError",
    "IntegrityError",
    "InvalidLocationError",
    "NoIdentityError",
    "NotCompressedError",
    "ObjectChangedError",
    "PartLimitError",
    "PartUploadError",
    "PreconditionFailed",
    "Progress",
    "RateLimiter",
    "ReadError",
    "ReadResult",
    "RecipientError",
    "S3MultipartWriter",
    "S3Reader",
    "S3SinkError",
    "SourceChangedError",
    "State",
    "UploadCancelled",
    "UploadError",
    "UploadResult",
    "UsageError",
    "__version__",
    "download_file",
    "open",
    "upload_file",
]
