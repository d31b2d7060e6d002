"""``s3sink.open``: the writer in binary or text mode, abort-safe in both, and the reader
(``"rb"``, ``"r"``), verified before its last bytes; ``upload_file`` and ``download_file``."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from ._location import parse_location
from ._read.config import ReadConfig
from ._read.fileobj import DecompressedReader, DecryptedReader, S3Reader
from ._read.outfile import OutputFile
from ._read.reader import ObjectReader
from ._read.restore import read_into
from ._results import ReadResult, UploadResult
from ._store.checksums import DEFAULT_ALGORITHM
from ._store.ssec import customer_key, sse_c_args
from ._writer.checks import check_connection_options
from ._writer.writer import DEFAULT_CONCURRENCY, S3MultipartWriter
from .errors import UsageError

if TYPE_CHECKING:
    from ._crypt import Identity

READ_MODES = ("rb", "r", "rt")
# identity=: an age identity file or an OpenSSH private key, or several.
IdentityPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


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
    mode: Literal["rb"],
    *,
    decompress: Literal[True],
    endpoint_url: str | None = ...,
    region: str | None = ...,
    profile: str | None = ...,
    **reader_options: Any,
) -> DecompressedReader: ...
@overload
def open(
    uri: str,
    mode: Literal["rb"],
    *,
    identity: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    endpoint_url: str | None = ...,
    region: str | None = ...,
    profile: str | None = ...,
    **reader_options: Any,
) -> DecryptedReader: ...
@overload
def open(
    uri: str,
    mode: Literal["rb"],
    *,
    endpoint_url: str | None = ...,
    region: str | None = ...,
    profile: str | None = ...,
    **reader_options: Any,
) -> S3Reader: ...
@overload
def open(
    uri: str,
    mode: Literal["r", "rt"],
    *,
    encoding: str | None = ...,
    errors: str | None = ...,
    newline: str | None = ...,
    endpoint_url: str | None = ...,
    region: str | None = ...,
    profile: str | None = ...,
    **reader_options: Any,
) -> io.TextIOWrapper: ...
@overload
def open(
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
) -> (
    S3MultipartWriter
    | AbortingTextWriter
    | S3Reader
    | DecryptedReader
    | DecompressedReader
    | io.TextIOWrapper
):
    """Open ``s3://bucket/key`` for writing: ``"wb"`` gives the writer itself, ``"w"``
    a text wrapper (UTF-8 unless ``encoding``) that still aborts on errors. Or for reading:
    ``"rb"`` gives an :class:`S3Reader` (HeadObject is asked now: a missing object fails
    here), ``"r"`` a text wrapper over it; the keyword arguments are then the reader's
    (``part_size``, ``concurrency``, ``max_memory``, ``version_id``, ``if_match``,
    ``require_checksum``, ``max_attempts``, ``client``, ``sse_c_key``: the 32-byte key an
    SSE-C object was written with), and ``decompress=True`` reads
    what ``compress=`` wrote: a :class:`DecompressedReader` (zstd or gzip; the stored bytes
    verified, and the format's own checksum). ``identity=`` (a path, or a list of paths: age
    identity files as ``age-keygen`` writes them, or unencrypted OpenSSH private keys)
    decrypts an age object (a :class:`DecryptedReader`; then decompressed with
    ``decompress=True``): NoIdentityError when none opens it, DecryptError instead of the
    last bytes when it does not authenticate, and a refusal of an object that is not age.

    ``endpoint_url``, ``region`` and ``profile`` build the client as the command does (the
    AWS settings of the environment otherwise); they cannot be combined with ``client``."""
    location = parse_location(uri)
    if mode not in ("wb", "w", "wt", *READ_MODES):
        raise UsageError(
            f"unsupported mode {mode!r}: use 'wb' or 'w' to write, 'rb' or 'r' to read"
        )
    if mode in ("wb", "rb") and (encoding or errors or newline is not None):
        raise UsageError("encoding, errors and newline apply to text mode only")
    if mode in READ_MODES:
        decompress = bool(writer_options.pop("decompress", False))
        identities = _identities(writer_options.pop("identity", None))
        reader = S3Reader(
            _object_reader(
                location.bucket,
                location.key,
                endpoint_url=endpoint_url,
                region=region,
                profile=profile,
                options=writer_options,
            )
        )
        plain: S3Reader | DecryptedReader = (
            DecryptedReader(reader, identities) if identities else reader
        )
        binary = DecompressedReader(plain) if decompress else plain
        if mode == "rb":
            return binary
        return io.TextIOWrapper(
            binary, encoding=encoding or "utf-8", errors=errors, newline=newline
        )
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


def _object_reader(
    bucket: str,
    key: str,
    *,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    options: dict[str, Any],
) -> ObjectReader:
    """An ObjectReader over ``client``/``transport`` from ``options`` (or a client built from
    the connection options), configured by the rest of ``options`` (ReadConfig's fields)."""
    client = options.pop("client", None)
    transport = options.pop("transport", None)
    sse_c_key = options.pop("sse_c_key", None)
    if sse_c_key is not None:
        extra = dict(options.pop("extra", None) or {})
        if extra.get("SSECustomerKey") is not None:
            raise UsageError("sse_c_key cannot be combined with extra's SSECustomerKey")
        options["extra"] = {**extra, **sse_c_args(customer_key(sse_c_key))}
    config = ReadConfig(**options)
    connecting = endpoint_url is not None or region is not None or profile is not None
    if transport is not None:
        if client is not None or connecting:
            raise UsageError("transport cannot be combined with client or connection options")
        return ObjectReader(transport, bucket, key, config)
    if client is not None and connecting:
        raise UsageError("endpoint_url, region and profile build a client: pass no client")
    check_connection_options(
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        names=("endpoint_url", "region", "profile"),
    )
    from ._store.boto import BotoTransport  # noqa: PLC0415  # botocore is slow to import
    from ._store.client import build_client  # noqa: PLC0415

    if client is None:
        # No checksum mode: botocore then neither asks for nor validates response checksums
        # (the reader checks the whole object itself, over the raw bytes).
        client = build_client(
            concurrency=config.concurrency,
            checksum=None,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            max_attempts=config.max_attempts,
        )
    return ObjectReader(BotoTransport(client), bucket, key, config)


def download_file(
    uri: str,
    path: str | os.PathLike[str],
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    **reader_options: Any,
) -> ReadResult:
    """Read ``s3://bucket/key`` into the file at ``path`` and return how it was read and
    verified (the fields of ``s3sink cat --json``); ``identity=`` decrypts an age object
    (as for :func:`open`).

    The bytes go to a temporary file in ``path``'s directory, renamed over ``path`` only
    once the whole object checked out: on any failure (IntegrityError included) ``path`` is
    left as it was, and the temporary file is removed. ``reader_options`` are those of
    ``open(uri, "rb")``."""
    location = parse_location(uri)
    identities = _identities(reader_options.pop("identity", None))
    reader = _object_reader(
        location.bucket,
        location.key,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        options=reader_options,
    )
    out, dir_fd = OutputFile.at(Path(path), overwrite=True)
    try:
        with reader, out:
            if identities:
                result = read_into(reader, out, identities=identities)
            else:
                result = reader.copy_to(out.write)
            out.commit()
    finally:
        os.close(dir_fd)
    return result


def _identities(value: IdentityPaths) -> list[Identity]:
    """The identities of ``identity=``: one path or several (IdentityError if unusable)."""
    if value is None:
        return []
    from ._crypt import read_identities  # noqa: PLC0415  # cryptography: only when decrypting

    paths = [value] if isinstance(value, str | os.PathLike) else list(value)
    return [identity for path in paths for identity in read_identities(path)]
