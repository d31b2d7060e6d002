"""``s3sink.open``: the writer in binary or text mode, abort-safe in both."""

from __future__ import annotations

import io
import os
from types import TracebackType
from typing import Any, Literal, cast, overload

from ._location import parse_location
from ._results import UploadResult
from ._store.checksums import DEFAULT_ALGORITHM
from ._writer.checks import check_connection_options
from ._writer.writer import DEFAULT_CONCURRENCY, S3MultipartWriter
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

    def abort(self) -> bool:
        """Discard everything written (see S3MultipartWriter.abort)."""
        return self._writer.abort()

    def __del__(self) -> None:
        # Leave the decision to the writer's own finaliser: abort, never complete.
        return


def add_client(
    writer_options: dict[str, Any],
    *,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
) -> None:
    """``endpoint_url``, ``region`` and ``profile`` given: build the client the way the
    command does, into ``writer_options`` (they cannot be combined with ``client``)."""
    if endpoint_url is None and region is None and profile is None:
        return
    if writer_options.get("client") is not None or writer_options.get("transport"):
        raise UsageError("endpoint_url, region and profile build a client: pass no client")
    check_connection_options(
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        names=("endpoint_url", "region", "profile"),
    )
    from ._store.client import build_client  # noqa: PLC0415  # botocore is slow to import

    writer_options["client"] = build_client(
        checksum=writer_options.get("checksum", DEFAULT_ALGORITHM),
        concurrency=writer_options.get("concurrency", DEFAULT_CONCURRENCY),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
    )


@overload
def open(  # mirrors builtins.open on purpose, like gzip.open
    uri: str,
    mode: Literal["wb"] = "wb",
    *,
    endpoint_url: str | None = ...,
    region: str | None = ...,
    profile: str | None = ...,
    **writer_options: Any,
) -> S3MultipartWriter: ...
@overload
def open(
    uri: str,
    mode: Literal["w", "wt"],
    *,
    encoding: str | None = ...,
    errors: str | None = ...,
    newline: str | None = ...,
    endpoint_url: str | None = ...,
    region: str | None = ...,
    profile: str | None = ...,
    **writer_options: Any,
) -> AbortingTextWriter: ...
def open(
    uri: str,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    **writer_options: Any,
) -> S3MultipartWriter | AbortingTextWriter:
    """Open ``s3://bucket/key`` for writing: ``"wb"`` gives the writer itself, ``"w"``
    a text wrapper (UTF-8 unless ``encoding``) that still aborts on errors.

    ``endpoint_url``, ``region`` and ``profile`` build the client as the command does (the
    AWS settings of the environment otherwise); they cannot be combined with ``client``."""
    location = parse_location(uri)
    if mode not in ("wb", "w", "wt"):
        raise UsageError(f"unsupported mode {mode!r}: s3sink writes only ('wb' or 'w')")
    if mode == "wb" and (encoding or errors or newline is not None):
        raise UsageError("encoding, errors and newline apply to text mode only")
    add_client(writer_options, endpoint_url=endpoint_url, region=region, profile=profile)
    writer = S3MultipartWriter(location.bucket, location.key, **writer_options)
    if mode == "wb":
        return writer
    return AbortingTextWriter(
        writer, encoding=encoding or "utf-8", errors=errors, newline=newline, write_through=False
    )


def upload_file(
    path: str | os.PathLike[str],
    uri: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    **writer_options: Any,
) -> UploadResult:
    """Upload the file at ``path`` to ``s3://bucket/key`` and return what was published.

    Parts are cut to fit the file (as an exact ``expected_size``) and read in parallel
    with positional reads. If the file changes size or modification time meanwhile,
    SourceChangedError is raised and nothing is published. ``writer_options`` are
    S3MultipartWriter's (``resumable=True`` and ``resume=True`` included); ``endpoint_url``,
    ``region`` and ``profile`` build the client as the command does."""
    location = parse_location(uri)
    add_client(writer_options, endpoint_url=endpoint_url, region=region, profile=profile)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        writer_options.setdefault("expected_size", size)
        with S3MultipartWriter(location.bucket, location.key, **writer_options) as writer:
            writer.write_file(fd, name=os.fspath(path))
        return writer.result
    finally:
        os.close(fd)
