"""s3sink: stream data of unknown length into Amazon S3 (and S3-compatible stores).

``S3MultipartWriter`` is a binary file object that uploads parts in parallel with bounded
memory and publishes the object only on ``close()``; anything else aborts the upload.
"""

from __future__ import annotations

from ._api import open, upload_file
from ._results import Progress, UploadResult
from ._store.ratelimit import RateLimiter
from ._upload.state import State
from ._version import __version__
from ._writer.writer import S3MultipartWriter
from .errors import (
    AbortFailedError,
    CompleteError,
    CompressionError,
    InvalidLocationError,
    PartLimitError,
    PartUploadError,
    PreconditionFailed,
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
    "InvalidLocationError",
    "PartLimitError",
    "PartUploadError",
    "PreconditionFailed",
    "Progress",
    "RateLimiter",
    "S3MultipartWriter",
    "S3SinkError",
    "SourceChangedError",
    "State",
    "UploadCancelled",
    "UploadError",
    "UploadResult",
    "UsageError",
    "__version__",
    "open",
    "upload_file",
]
