"""``s3sink://bucket/key`` for pandas, Dask, pyarrow and every other fsspec user:
:class:`S3SinkFileSystem`, registered under the protocol ``s3sink`` (the ``fsspec.specs``
entry point), so ``fsspec.open("s3sink://bucket/key", "wb", endpoint_url=...)`` or
``df.to_parquet("s3sink://bucket/table/", storage_options={...})`` needs no import first.

Writing (``"wb"``, ``"xb"``, text modes through fsspec's ``io.TextIOWrapper``) gives
s3sink's abort-safe writer: an exception inside ``with``, a killed task or garbage collection
publishes nothing and leaves no pending upload. ``"xb"`` and ``pipe_file(mode="create")`` are
S3's conditional write (If-None-Match), refused with ``FileExistsError``. Reading (``"rb"``)
gives the verified reader, made seekable (:class:`~s3sink._read.seekable.SeekableReader`).

The storage options are checked when the filesystem is made (a bad ``part_size`` raises
there, not at the last partition's first write). An instance pickles as its storage options
(fsspec's ``__reduce__``): no client travels; each process builds its own, once, under a lock.

This is the only module that imports fsspec (``pip install 's3sink[fsspec]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem

from ._api import download_file, upload_file
from ._fsspec.clients import shared_client
from ._fsspec.files import FileWriter, exists_as
from ._fsspec.options import StorageOptions
from ._read.config import ReadConfig
from ._read.fileobj import S3Reader
from ._read.reader import ObjectReader
from ._read.seekable import SeekableReader
from ._store.boto import BotoTransport
from ._store.client import S3Client
from ._store.errors import error_code
from ._store.objects import (
    Entry,
    copy_object,
    delete_objects,
    list_buckets,
    list_level,
    stat_object,
)
from .errors import ReadError, UsageError

__all__ = ["S3SinkFileSystem"]

_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


class S3SinkFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """An fsspec filesystem over s3sink's writer and reader; see the module docstring.

    Storage options: ``endpoint_url``, ``region``, ``profile`` (the client, built as the
    command builds it); every keyword of :class:`~s3sink.S3MultipartWriter` that is not about
    one file (``part_size``, ``concurrency``, ``max_memory``, ``checksum``, ``compress``,
    ``extra_args``, ``rate_limit``, ...; sizes as ints or strings such as ``"16MiB"``);
    ``no_overwrite`` (every write is conditional: an existing object is never replaced);
    ``read_options`` (:class:`ReadConfig`'s fields for reads: ``part_size``,
    ``concurrency``, ``max_memory``, ``require_checksum``, ``max_attempts``)."""

    protocol = ("s3sink",)
    root_marker = ""
    cachable = True

    def __init__(self, **storage_options: Any) -> None:
        fs_options = {
            k: storage_options.pop(k)
            for k in ("use_listings_cache", "listings_expiry_time", "max_paths")
            if k in storage_options
        }
        storage_options.pop("skip_instance_cache", None)
        self._options = StorageOptions.parse(storage_options)
        super().__init__(**fs_options)

    def _client(self, purpose: str = "read") -> S3Client:
        """The process's client for ``purpose`` (``_fsspec/clients.py``): never pickled."""
        return shared_client(self._options, purpose)

    # -- paths -------------------------------------------------------------------------------
    def split_path(self, path: str) -> tuple[str, str]:
        """``bucket/key`` (with or without ``s3sink://``) as (bucket, key)."""
        bucket, _, key = self._strip_protocol(path).partition("/")
        return bucket, key

    def _uri(self, path: str) -> str:
        bucket, key = self.split_path(path)
        return f"s3://{bucket}/{key}"

    def _forget(self, path: str) -> Callable[[], None]:
        return lambda: self.invalidate_cache(path)

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        while path:
            self.dircache.pop(path, None)
            path = self._parent(path)
        self.dircache.pop("", None)

    # -- listings ----------------------------------------------------------------------------
    def _entry(self, bucket: str, entry: Entry) -> dict[str, Any]:
        name = f"{bucket}/{entry.key}"
        if entry.is_prefix:
            return {"name": name, "size": 0, "type": "directory"}
        info: dict[str, Any] = {"name": name, "size": entry.size, "type": "file"}
        if entry.etag is not None:
            info["ETag"] = entry.etag
        if entry.last_modified is not None:
            info["LastModified"] = entry.last_modified
        if entry.content_type is not None:
            info["ContentType"] = entry.content_type
        if entry.version_id is not None:
            info["VersionId"] = entry.version_id
        return info

    def ls(self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if not path:
            names = list_buckets(self._client())
            entries = [{"name": b, "size": 0, "type": "directory"} for b in names]
        elif not refresh and path in self.dircache:
            entries = self.dircache[path]
        else:
            entries = self._list(path)
        return entries if detail else [e["name"] for e in entries]

    def _list(self, path: str) -> list[dict[str, Any]]:
        bucket, key = self.split_path(path)
        prefix = f"{key}/" if key else ""
        client = self._client()
        listed = list_level(client, bucket, prefix)
        entries = [self._entry(bucket, e) for e in listed if e.key != prefix]
        if entries or not key:
            self.dircache[path] = entries
            return entries
        found = stat_object(client, bucket, key)
        if found is None:
            raise FileNotFoundError(path)
        return [self._entry(bucket, found)]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        bucket, key = self.split_path(path)
        if not key:
            if path:
                next(iter(list_level(self._client(), bucket, "", limit=1)), None)
            return {"name": path, "size": 0, "type": "directory"}
        parent = self._parent(path)
        for entry in self.dircache.get(parent, ()):
            if entry["name"] == path:
                return dict(entry)
        if path in self.dircache:
            return {"name": path, "size": 0, "type": "directory"}
        client = self._client()
        found = stat_object(client, bucket, key)
        if found is not None:
            return self._entry(bucket, found)
        if next(iter(list_level(client, bucket, f"{key}/", limit=1)), None) is not None:
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def modified(self, path: str) -> Any:
        info = self.info(path)
        if "LastModified" not in info:
            raise IsADirectoryError(path)
        return info["LastModified"]

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Nothing to do: S3 has no directories, only keys with slashes."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Nothing to do, as :meth:`mkdir`."""

    def rmdir(self, path: str) -> None:
        """Nothing to do: a prefix goes away with its last object."""

    # -- changes -----------------------------------------------------------------------------
    def rm_file(self, path: str) -> None:
        self.rm(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        by_bucket: dict[str, list[str]] = {}
        for one in paths:
            bucket, key = self.split_path(one)
            if key:
                by_bucket.setdefault(bucket, []).append(key)
        try:
            for bucket, keys in by_bucket.items():
                delete_objects(self._client(), bucket, keys)
        finally:
            for one in paths:
                self.invalidate_cache(one)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        bucket, key = self.split_path(path1)
        target_bucket, target = self.split_path(path2)
        found = stat_object(self._client(), bucket, key) if key else None
        if found is None:
            if self.isdir(path1):
                return  # directories come with their objects
            raise FileNotFoundError(path1)
        if target_bucket != bucket:
            raise UsageError("copies stay in one bucket (CopyObject's source and target)")
        try:
            copy_object(self._client("write"), bucket, key, target, found.size)
        finally:
            self.invalidate_cache(path2)

    # -- whole files -------------------------------------------------------------------------
    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        with self._open(path, "rb") as f:
            if start is None and end is None:
                return bytes(f.read())  # sequential: the verified reader, end to end
            size = f.size
            first = _absolute(start, size, 0)
            last = _absolute(end, size, size)
            if last <= first:
                return b""
            f.seek(first)
            return bytes(f.read(last - first))

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        with self._writer(path, exclusive=mode == "create", **kwargs) as writer:
            writer.write(value)

    def put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Any = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        if os.path.isdir(lpath):
            return  # S3 needs no directory
        size = os.path.getsize(lpath)
        callback.set_size(size)
        options = self._options.writer_for(exclusive=mode == "create", **kwargs)
        try:
            with exists_as(rpath):
                upload_file(lpath, self._uri(rpath), client=self._client("write"), **options)
        finally:
            self.invalidate_cache(rpath)
        callback.relative_update(size)

    def get_file(
        self,
        rpath: str,
        lpath: str,
        callback: Any = DEFAULT_CALLBACK,
        outfile: Any = None,
        **kwargs: Any,
    ) -> None:
        if outfile is not None:
            with self._open(rpath, "rb") as f:
                while chunk := f.read(8 << 20):
                    outfile.write(chunk)
                    callback.relative_update(len(chunk))
            return
        if os.path.isdir(lpath):
            return  # fsspec names an existing local directory only for a remote one
        try:
            with self._missing_as(rpath):
                self._download(rpath, lpath)
        except FileNotFoundError:
            if not self.isdir(rpath):
                raise
            os.makedirs(lpath, exist_ok=True)

    def _download(self, rpath: str, lpath: str) -> None:
        parent = os.path.dirname(os.path.abspath(lpath))
        os.makedirs(parent, exist_ok=True)
        download_file(self._uri(rpath), lpath, client=self._client(), **self._options.read_options)

    # -- open --------------------------------------------------------------------------------
    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> Any:
        if not autocommit:
            raise NotImplementedError("s3sink:// has no transactions: each file commits alone")
        if mode == "rb":
            return self._reader(path, block_size)
        if mode in ("wb", "xb"):
            writer = self._writer(path, exclusive=mode == "xb", **kwargs)
            if mode == "xb":
                try:  # HeadObject now; If-None-Match again on the request that publishes
                    writer.check_conditions()
                except BaseException:
                    writer.abort()  # nothing was sent: no warning from its finaliser
                    raise
            return writer
        raise ValueError(f"unsupported mode {mode!r}: s3sink:// opens 'rb', 'wb' or 'xb'")

    def _reader(self, path: str, block_size: int | None) -> SeekableReader:
        bucket, key = self.split_path(path)
        transport = BotoTransport(self._client())
        config = ReadConfig(**self._options.read_options)
        with self._missing_as(path):
            reader = S3Reader(ObjectReader(transport, bucket, key, config))
        return SeekableReader(reader, transport, block_size=block_size)

    def _writer(self, path: str, *, exclusive: bool, **kwargs: Any) -> FileWriter:
        bucket, key = self.split_path(path)
        if not key:
            raise IsADirectoryError(path)
        options = self._options.writer_for(exclusive=exclusive, **kwargs)
        writer = FileWriter(bucket, key, client=self._client("write"), **options)
        writer.fs_path = path
        writer.on_end = self._forget(path)
        self.invalidate_cache(path)
        return writer

    @contextmanager
    def _missing_as(self, path: str) -> Iterator[None]:
        try:
            yield
        except ReadError as exc:
            cause = exc.__cause__
            if cause is not None and error_code(cause) in _MISSING:
                raise FileNotFoundError(path) from exc
            raise


def _absolute(position: int | None, size: int, default: int) -> int:
    """fsspec's ``start``/``end``: None for the default, negative from the end, clamped."""
    if position is None:
        return default
    if position < 0:
        position += size
    return max(0, min(position, size))
