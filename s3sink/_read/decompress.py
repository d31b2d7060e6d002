"""``--decompress``: the objects ``--compress`` wrote, decompressed on the way out.

The codec comes from the object's Content-Type (``application/zstd``, ``application/gzip``:
what ``s3sink._writer.compress`` stores), else from the first bytes (zstd's frame magic
``28 b5 2f fd``, gzip's ``1f 8b``); an object that is neither is refused before anything is
written. Verification of the object is the reader's, on the stored (compressed) bytes; this
module adds the format's own checks on top:

- zstd: ``--compress zstd`` always writes the frame's content checksum (XXH64 of the
  content, ``write_checksum=True``), and libzstd checks it at the frame's end. libzstd's
  streaming reader says nothing when its input ends inside a frame, so :class:`_FrameScanner`
  walks the frame and block headers as the bytes go by (no decompression, a few integer
  operations per 128 KiB block) and a stream cut short is an error. Concatenated frames and
  skippable frames are read as ``zstd -d`` reads them; bytes after the last frame are an
  error. A frame asking for a window above libzstd's default limit (128 MiB) is refused.
- gzip: ISA-L's inflate (``isal.isal_zlib``, 2-3x zlib's) when installed, else zlib; each
  member's CRC-32 and length trailer are checked; concatenated members are read; a stream
  cut short, or anything but another member after one, is an error.

Memory is bounded whatever the ratio (a decompression bomb too): output is produced in
chunks of at most ``chunk`` bytes (zstd's ``read(n)``, zlib's ``max_length``). And the last
chunk of output is held back until the stream's end is checked, so a consumer never reads a
clean end of a stream whose checksum or trailer is wrong: it sees a short stream, and the
read that would have returned the rest raises :class:`DecompressError`.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import DecompressError, NotCompressedError

__all__ = [
    "CHUNK",
    "CODECS",
    "DecompressError",
    "DecompressingReader",
    "NotCompressedError",
    "detect_codec",
]

CHUNK = 1024 * 1024
CODECS = ("zstd", "gzip")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_CONTENT_TYPES = {
    "application/zstd": "zstd",
    "application/x-zstd": "zstd",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
}


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def detect_codec(content_type: str | None, head: bytes) -> str | None:
    """The codec, "zstd" or "gzip", from the Content-Type (parameters ignored), else from the first
    bytes; None when neither says."""
    if content_type:
        known = _CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())
        if known is not None:
            return known
    if head.startswith(_ZSTD_MAGIC) or _skippable(head):
        return "zstd"
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    return None


def _skippable(head: bytes) -> bool:
    """Whether ``head`` starts a zstd skippable frame (magic 0x184D2A50..5F)."""
    return len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50


class DecompressingReader(io.RawIOBase):
    """A readable over ``raw`` (the object's verified bytes) that returns them decompressed.

    ``codec`` is "zstd", "gzip" or None (from ``content_type`` and the first bytes; neither:
    NotCompressedError here, before any output). Reads return at most ``chunk`` bytes at a
    time; the last chunk comes only once the stream's end checked out (see the module)."""

    def __init__(
        self,
        raw: _Readable,
        *,
        codec: str | None = None,
        content_type: str | None = None,
        chunk: int = CHUNK,
        shown: str = "the object",
    ) -> None:
        super().__init__()
        head = _read_exactly(raw, 4)
        found = codec or detect_codec(content_type, head)
        if found not in CODECS and head == b"age-":
            raise NotCompressedError(
                f"{shown} is age-encrypted (it starts as an age file): decrypt it with "
                "--identity (identity=), then it is decompressed"
            )
        if found not in CODECS:
            raise NotCompressedError(
                f"{shown} is neither zstd nor gzip (Content-Type {content_type or 'none'}, "
                f"first bytes {head.hex(' ') or 'none: it is empty'}): nothing to decompress"
            )
        self.codec: str = found
        source = _Prepended(head, raw)
        self._produce: Callable[[], bytes] = (
            _Zstd(source, chunk).produce if found == "zstd" else _Gzip(source, chunk).produce
        )
        self._ready = memoryview(b"")
        self._held = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Up to ``len(buffer)`` decompressed bytes; 0 at the (checked) end."""
        while not self._ready:
            if self._ended:
                return 0
            produced = self._produce()
            if produced:
                self._ready, self._held = memoryview(self._held), produced
            else:
                self._ended = True
                self._ready, self._held = memoryview(self._held), b""
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._ready))
        out[:n] = self._ready[:n]
        self._ready = self._ready[n:]
        return n


def _read_exactly(raw: _Readable, n: int) -> bytes:
    """``n`` bytes from ``raw``, fewer only at its end."""
    got = b""
    while len(got) < n:
        more = raw.read(n - len(got))
        if not more:
            break
        got += more
    return got


class _Prepended:
    """``head``, then ``raw``: the bytes read to detect the codec, given back."""

    def __init__(self, head: bytes, raw: _Readable) -> None:
        self._head = head
        self._raw = raw

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._raw.read(size)


class _Zstd:
    """libzstd's streaming reader, fed through the frame scanner."""

    def __init__(self, source: _Readable, chunk: int) -> None:
        import zstandard  # noqa: PLC0415  # only when decompressing zstd

        self._error = zstandard.ZstdError
        self._scanner = _FrameScanner(source)
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            self._scanner,  # type: ignore[arg-type]  # any object with read() will do read_size=chunk, read_across_frames=True, closefd=False
        )
        self._chunk = chunk

    def produce(self) -> bytes:
        try:
            out: bytes = self._reader.read(self._chunk)
        except self._error as exc:
            raise DecompressError("zstd", str(exc).removeprefix("zstd decompress error: ")) from exc
        if not out:
            self._scanner.check_end()
        return out


class _FrameScanner:
    """Passes ``source`` through while following zstd's frame layout (RFC 8878): frame
    header, block headers (last-block flag, type, size), content checksum, skippable
    frames. ``check_end`` says whether the input ended between frames."""

    def __init__(self, source: _Readable) -> None:
        self._source = source
        # What comes next: a header of ``_need`` bytes to gather (``_state`` names it), or,
        # in the "skip" state, ``_need`` bytes of payload to pass over, then ``_after``.
        self._state, self._need = "magic", 4
        self._after = ("magic", 4)
        self._header = b""
        self._frames = 0
        self._checksum = False

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        view = memoryview(data)
        while view:
            view = self._advance(view)
        return data

    def check_end(self) -> None:
        if self._state != "magic" or self._header:
            raise DecompressError("zstd", "the stream ends inside a frame (truncated)")
        if not self._frames:
            raise DecompressError("zstd", "no frame at all (the stream is empty)")

    def _advance(self, view: memoryview) -> memoryview:
        if self._state == "skip":
            step = min(self._need, len(view))
            self._need -= step
            if not self._need:
                self._state, self._need = self._after
            return view[step:]
        step = min(self._need - len(self._header), len(view))
        self._header += bytes(view[:step])
        if len(self._header) == self._need:
            header, self._header = self._header, b""
            self._parsed(header)
        return view[step:]

    def _skip(self, size: int, then: tuple[str, int]) -> None:
        if size:
            self._state, self._need, self._after = "skip", size, then
        else:
            self._state, self._need = then

    def _parsed(self, header: bytes) -> None:
        state = self._state
        if state == "magic":
            self._magic(header)
        elif state == "skippable":
            self._skip(int.from_bytes(header, "little"), ("magic", 4))
        elif state == "descriptor":
            self._descriptor(header[0])
        elif state == "frame":  # window, dictionary id, content size: nothing to check
            self._state, self._need = "block", 3
        elif state == "block":
            self._block(int.from_bytes(header, "little"))
        else:  # "checksum": libzstd compares it with the content's
            self._state, self._need = "magic", 4

    def _magic(self, magic: bytes) -> None:
        if magic == _ZSTD_MAGIC:
            self._frames += 1
            self._state, self._need = "descriptor", 1
        elif _skippable(magic):
            self._state, self._need = "skippable", 4
        elif self._frames:
            raise DecompressError("zstd", f"bytes after the last frame ({magic.hex(' ')} …)")
        else:
            raise DecompressError("zstd", f"no zstd frame: it starts {magic.hex(' ')}")

    def _descriptor(self, descriptor: int) -> None:
        fcs_flag, single = descriptor >> 6, (descriptor >> 5) & 1
        self._checksum = bool(descriptor & 0x04)
        dict_size = (0, 1, 2, 4)[descriptor & 0x03]
        fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
        rest = (0 if single else 1) + dict_size + fcs_size
        self._state, self._need = ("frame", rest) if rest else ("block", 3)

    def _block(self, header: int) -> None:
        last, kind, size = header & 1, (header >> 1) & 3, header >> 3
        if kind == 3:
            raise DecompressError("zstd", "a block of the reserved type")
        if not last:
            then = ("block", 3)
        elif self._checksum:
            then = ("checksum", 4)
        else:
            then = ("magic", 4)
        self._skip(1 if kind == 1 else size, then)  # RLE: one byte, repeated


class _Gzip:
    """zlib's (or ISA-L's) inflate, one member after another, output bounded per call."""

    def __init__(self, source: _Readable, chunk: int) -> None:
        try:
            from isal import isal_zlib  # noqa: PLC0415  # only when decompressing gzip

            self._zlib: Any = isal_zlib
            self._errors: tuple[Any, ...] = (isal_zlib.error, zlib.error)
        except ImportError:  # pragma: no cover - isal is a dependency; kept for its wheels
            self._zlib, self._errors = zlib, (zlib.error,)
        self._source = source
        self._chunk = chunk
        self._member = self._zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members = 1
        self._pending = b""  # input not yet given to the current member
        self._input_ended = False

    def produce(self) -> bytes:
        while True:
            if not self._pending and not self._input_ended:
                self._pending = self._source.read(self._chunk)
                self._input_ended = not self._pending
            if self._member.eof:
                if not self._next_member():
                    return b""
                continue
            if not self._pending:
                raise DecompressError("gzip", "the stream ends inside a member (truncated)")
            try:
                out: bytes = self._member.decompress(self._pending, self._chunk)
            except self._errors as exc:
                raise DecompressError("gzip", str(exc)) from exc
            member = self._member
            self._pending = member.unused_data if member.eof else member.unconsumed_tail
            if out:
                return out

    def _next_member(self) -> bool:
        """After a member: False at the end of the input; another member if one starts."""
        if not self._pending:
            return False
        if not self._pending.startswith(_GZIP_MAGIC[: len(self._pending)]):
            raise DecompressError(
                "gzip", f"bytes after the last member ({self._pending[:4].hex(' ')} …)"
            )
        self._member = self._zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members += 1
        return True
