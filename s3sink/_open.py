"""``s3sink.open``: the writer in binary or text mode, abort-safe in both."""

from __future__ import annotations

import io
from types import TracebackType
from typing import Any, Literal, cast, overload

from ._location import parse_location
from ._writer import S3MultipartWriter
from .errors import UsageError


class AbortingTextWriter(io.TextIOWrapper):
    """A TextIOWrapper whose failure paths abort the upload instead of completing it.

    A plain TextIOWrapper's ``__exit__`` and finaliser call ``close()``, which would
    publish a truncated object after an exception or when garbage-collected.
    """

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        self._writer.__exit__(exc_type, exc, tb)

    @property
    def _writer(self) -> S3MultipartWriter:
        return cast("S3MultipartWriter", self.buffer)

    def abort(self) -> None:
        """Discard everything written (see S3MultipartWriter.abort)."""
        self._writer.abort()

    def __del__(self) -> None:
        # Leave the decision to the writer's own finaliser: abort, never complete.
        return


@overload
def open(  # mirrors builtins.open on purpose, like gzip.open
    uri: str, mode: Literal["wb"] = "wb", **writer_options: Any
) -> S3MultipartWriter: ...
@overload
def open(
    uri: str,
    mode: Literal["w", "wt"],
    *,
    encoding: str | None = ...,
    errors: str | None = ...,
    newline: str | None = ...,
    **writer_options: Any,
) -> AbortingTextWriter: ...
def open(
    uri: str,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    **writer_options: Any,
) -> S3MultipartWriter | AbortingTextWriter:
    """Open ``s3://bucket/key`` for writing: ``"wb"`` gives the writer itself, ``"w"``
    a text wrapper (UTF-8 unless ``encoding``) that still aborts on errors."""
    location = parse_location(uri)
    if mode not in ("wb", "w", "wt"):
        raise UsageError(f"unsupported mode {mode!r}: s3sink writes only ('wb' or 'w')")
    if mode == "wb" and (encoding or errors or newline is not None):
        raise UsageError("encoding, errors and newline apply to text mode only")
    writer = S3MultipartWriter(location.bucket, location.key, **writer_options)
    if mode == "wb":
        return writer
    return AbortingTextWriter(
        writer, encoding=encoding or "utf-8", errors=errors, newline=newline, write_through=False
    )
