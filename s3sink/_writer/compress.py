"""Compression in front of the writer: the ``zstd[:LEVEL]`` / ``gzip[:LEVEL]`` spec, and the
multi-threaded compressors the writer feeds before its part buffers.

The writer hands every chunk of source bytes to :meth:`Compressor.compress` and stores what
comes back; :meth:`Compressor.finish` ends the stream at ``close()``. Part sizes, checksums
and the store's size are those of the compressed bytes, so the stored object is an ordinary
``.zst`` / ``.gz`` file. A compressor that raises makes the write fail like any other error,
and the writer aborts.

- zstd: the ``zstandard`` package with ``threads=-1`` (one worker per core inside libzstd),
  the frame's content checksum always, and its content size when the source size is known
  (a file). Levels 1..19 (``--ultra`` levels need more memory than a sink should take).
- gzip: levels 1..3 use ISA-L's threaded gzip writer (``isal.igzip_threaded``, pigz's
  scheme: independent 1 MiB blocks primed with the previous 32 KiB), which measured both
  smaller and 5-8x faster than zlib at the same level (2026-12-01, ded799c); ISA-L has no
  levels above 3, so 4..9 use the standard library's zlib on one core.

Memory is outside ``max_memory`` (libzstd holds a few jobs of input per core; its job
size grows with the level's window). Peak RSS of the command on 2 cores, text-like corpus:
120 MiB uncompressed, 153 MiB with zstd level 3 (1 GiB); 104 MiB uncompressed and 320 MiB
with zstd level 19 (64 MiB); ISA-L and zlib add next to nothing (104 and 88 MiB).
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..errors import CompressionError, S3SinkError, UsageError

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "Codec",
    "CompressSpec",
    "CompressionStage",
    "Compressor",
    "parse_compress",
    "resolve_codec",
]

log = logging.getLogger("s3sink")
_T = TypeVar("_T")

# codec -> (levels, default level, Content-Type)
_CODECS: dict[str, tuple[range, int, str]] = {
    "zstd": (range(1, 20), 3, "application/zstd"),
    # 3, not gzip(1)'s 6: the best level with threads (ISA-L); 6 is zlib on one core.
    "gzip": (range(1, 10), 3, "application/gzip"),
}
_ISAL_LEVELS = range(1, 4)
_GZIP_BLOCK = 1024 * 1024  # ISA-L's block per thread (its default)


class Compressor(Protocol):
    """One compressed stream: feed it, then finish it once (or close it to drop it)."""

    def compress(self, data: memoryview) -> bytes:
        """Compress ``data`` (not kept after the call); returns the output ready so far."""
        ...

    def finish(self) -> bytes:
        """End the stream; returns the rest of the output (trailer included)."""
        ...

    def close(self) -> None:
        """Stop and free everything (after finish(), or instead of it on an abort)."""
        ...


class Codec(Protocol):
    """What ``compress=`` takes besides a spec string: a name, the stored object's
    Content-Type, and a factory of compressors (given the source size when known)."""

    @property
    def name(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    def compressor(self, source_size: int | None) -> Compressor: ...


@dataclass(frozen=True)
class CompressSpec:
    """A parsed ``--compress`` value: ``zstd:19``, ``gzip:6``."""

    codec: str
    level: int

    @property
    def name(self) -> str:
        return f"{self.codec}:{self.level}"

    @property
    def content_type(self) -> str:
        return _CODECS[self.codec][2]

    def compressor(self, source_size: int | None) -> Compressor:
        if self.codec == "zstd":
            return _Zstd(self.level, source_size)
        if self.level in _ISAL_LEVELS:
            return _IsalGzip(self.level)
        return _ZlibGzip(self.level)


def parse_compress(text: str) -> CompressSpec:
    """``zstd``, ``zstd:LEVEL``, ``gzip``, ``gzip:LEVEL`` (case-insensitive codec name);
    anything else is a UsageError naming the valid values."""
    name, sep, level_text = text.strip().partition(":")
    name = name.lower()
    valid = "zstd[:1..19] (default 3) or gzip[:1..9] (default 3)"
    known = _CODECS.get(name)
    if known is None:
        raise UsageError(f"invalid compression {text!r}: expected {valid}")
    levels, default, _ = known
    if not sep:
        return CompressSpec(name, default)
    if not level_text.isascii() or not level_text.isdigit() or int(level_text) not in levels:
        raise UsageError(
            f"invalid {name} level {level_text!r} in {text!r}: "
            f"expected {levels.start}..{levels.stop - 1}"
        )
    return CompressSpec(name, int(level_text))


def resolve_codec(compress: str | Codec | None) -> Codec | None:
    """The library's ``compress=`` argument as a codec (a string is parsed)."""
    if compress is None:
        return None
    if isinstance(compress, str):
        return parse_compress(compress)
    if not all(hasattr(compress, name) for name in ("name", "content_type", "compressor")):
        raise TypeError(
            "compress must be a spec such as 'zstd:3' or a codec (name, content_type, "
            f"compressor()), not {type(compress).__name__}"
        )
    return compress


class _Zstd:
    def __init__(self, level: int, source_size: int | None) -> None:
        import zstandard  # noqa: PLC0415  # only when compressing

        params = zstandard.ZstdCompressionParameters.from_level(
            level,
            source_size=source_size or 0,
            threads=-1,
            write_checksum=True,
            write_content_size=source_size is not None,
        )
        self._cctx = zstandard.ZstdCompressor(compression_params=params)
        # A known size goes into the frame header; libzstd then fails if the source
        # turns out shorter or longer (which the file check would catch too).
        self._obj = self._cctx.compressobj(size=-1 if source_size is None else source_size)

    def compress(self, data: memoryview) -> bytes:
        return self._obj.compress(data)

    def finish(self) -> bytes:
        return self._obj.flush()

    def close(self) -> None:
        # libzstd's context (and its worker threads) goes with the last reference.
        del self._obj, self._cctx


class _Collector:
    """The raw file ISA-L's output thread writes into; drained by the writer's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []

    def write(self, data: Buffer) -> int:
        chunk = bytes(data)
        with self._lock:
            self._chunks.append(chunk)
        return len(chunk)

    def flush(self) -> None:
        """Nothing buffered here."""

    def drain(self) -> bytes:
        with self._lock:
            chunks, self._chunks = self._chunks, []
        return b"".join(chunks)


class _IsalGzip:
    def __init__(self, level: int) -> None:
        from isal import igzip_threaded  # noqa: PLC0415  # only when compressing

        self._out = _Collector()
        self._gz = igzip_threaded.open(  # type: ignore[no-untyped-call]  # isal is untyped here
            self._out,
            "wb",
            compresslevel=level,
            threads=os.cpu_count() or 1,
            block_size=_GZIP_BLOCK,
        )
        self._finished = False

    def compress(self, data: memoryview) -> bytes:
        # The writer thread blocks here when every compressing thread is busy: back-pressure.
        self._gz.write(data)
        return self._out.drain()

    def finish(self) -> bytes:
        self._finished = True
        self._gz.close()  # waits for every block, writes the trailer, re-raises their error
        return self._out.drain()

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            # Ends ISA-L's threads; what they still compress is dropped with the collector.
            self._gz.close()
        self._out.drain()


class _ZlibGzip:
    def __init__(self, level: int) -> None:
        self._obj = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing

    def compress(self, data: memoryview) -> bytes:
        return self._obj.compress(data)

    def finish(self) -> bytes:
        return self._obj.flush()

    def close(self) -> None:
        """Nothing to stop: zlib's state goes with the object."""


class CompressionStage:
    """A writer's compressor: made at the first byte (with the source's size when known),
    its failures raised as CompressionError naming the codec and the upload (so the writer
    fails and aborts); interrupts go through as they are."""

    def __init__(
        self, codec: Codec, *, bucket: str, key: str, upload_id: Callable[[], str | None]
    ) -> None:
        self.codec = codec
        self._where = (bucket, key, upload_id)
        self._compressor: Compressor | None = None

    def start(self, source_size: int | None) -> None:
        """Make the compressor now, for a source of ``source_size`` bytes (None: unknown)."""
        if self._compressor is None:
            self._compressor = self._call(lambda: self.codec.compressor(source_size))

    def process(self, data: memoryview) -> memoryview:
        """The output ready so far for ``data`` (not kept after the call)."""
        self.start(None)
        compressor = self._compressor
        assert compressor is not None  # noqa: S101  # made just above
        return memoryview(self._call(lambda: compressor.compress(data)))

    def finish(self) -> memoryview:
        """The end of the stream."""
        self.start(None)
        compressor = self._compressor
        assert compressor is not None  # noqa: S101  # made just above
        return memoryview(self._call(compressor.finish))

    def close(self) -> None:
        """Free the compressor (and libzstd's buffers); again: nothing."""
        compressor, self._compressor = self._compressor, None
        if compressor is None:
            return
        try:
            compressor.close()
        except Exception as exc:  # noqa: BLE001  # the first error is already recorded
            # Only on the failure path can a codec's teardown fail (ISA-L re-raises a
            # block's error): that error is the one being reported, so it is logged only.
            log.debug("closing the %s compressor: %r", self.codec.name, exc)

    def _call(self, step: Callable[[], _T]) -> _T:
        try:
            return step()
        except S3SinkError:
            raise
        except Exception as exc:
            bucket, key, upload_id = self._where
            raise CompressionError(
                f"{self.codec.name} compression failed: {type(exc).__name__}: {exc}",
                bucket=bucket,
                key=key,
                upload_id=upload_id(),
            ) from exc
