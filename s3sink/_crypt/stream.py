"""The age payload: STREAM over ChaCha20-Poly1305 in 64 KiB chunks, behind the header.

Speed (issue #26 item 5: at most 0.4 CPU s/GiB added): each ``update`` encrypts or decrypts
every whole chunk it can straight from the caller's buffer into one preallocated output
(``encrypt_into``/``decrypt_into`` on memoryview slices); only a chunk split between two
calls is copied into the small pending buffer. Measured 2026-12-05 on the 2-core helper VM
(cryptography 50.0.2, 1 GiB in 1 MiB updates): see docs/performance.md."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import DecryptError, NoIdentityError
from .header import (
    MAX_HEADER,
    Header,
    HeaderError,
    encode_header,
    header_length,
    hkdf,
    parse_header,
)
from .keys import FILE_KEY_SIZE, Identity, Recipient
from .magic import AGE_MAGIC, looks_like_age

__all__ = ["Decryptor", "Encryptor", "looks_like_age"]

CHUNK = 64 * 1024
TAG = 16
SEALED = CHUNK + TAG
NONCE = 16


def _nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


Into = Callable[[bytes, memoryview | bytearray, memoryview], None]


def _into(aead: ChaCha20Poly1305, name: str) -> Into:
    """``aead.encrypt_into``/``decrypt_into`` (cryptography 45 and later: no copy), or the
    allocating method and a copy on older versions (pyproject allows 42)."""
    method = getattr(aead, f"{name}_into", None)
    if method is not None:
        return lambda nonce, data, out: method(nonce, data, None, out)
    plain = getattr(aead, name)

    def copying(nonce: bytes, data: memoryview | bytearray, out: memoryview) -> None:
        out[:] = plain(nonce, data, None)

    return copying


def _payload_aead(file_key: bytes, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))


class _Scratch:
    """One output buffer reused by every call (fresh pages for each 16 MiB range cost more
    in page faults than the copy they save; measured 2026-12-05): a view of it is valid
    until the next call."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def take(self, size: int) -> memoryview:
        if len(self._buffer) < size:
            self._buffer = bytearray(size)  # a new one: views of the old stay valid
        return memoryview(self._buffer)[:size]


class Encryptor:
    """One age file for ``recipients``: ``update`` returns the ciphertext so far (the
    header first, then whole chunks; the last chunk is held back), ``finish`` the rest.
    ``update_view`` is ``update`` without the copy: a view valid until the next call."""

    def __init__(self, recipients: Sequence[Recipient]) -> None:
        if not recipients:
            raise ValueError("no recipients to encrypt to")
        file_key = os.urandom(FILE_KEY_SIZE)
        nonce = os.urandom(NONCE)
        stanzas = [r.wrap(file_key) for r in recipients]
        self._prefix: bytes | None = encode_header(file_key, stanzas) + nonce
        self._prefix_size = len(self._prefix)
        self._aead = _payload_aead(file_key, nonce)
        self._pending = bytearray()
        self._scratch = _Scratch()
        self._counter = 0
        self._finished = False

    def __repr__(self) -> str:
        return f"<Encryptor chunks={self._counter} finished={self._finished}>"

    def overhead(self, plaintext_size: int) -> int:
        """The ciphertext's size minus the plaintext's: header, nonce, 16 bytes a chunk."""
        chunks = max(1, -(-plaintext_size // CHUNK))
        return self._prefix_size + TAG * chunks

    def _take_prefix(self) -> bytes:
        prefix, self._prefix = self._prefix or b"", None
        return prefix

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        return bytes(self.update_view(data))

    def update_view(self, data: bytes | bytearray | memoryview) -> memoryview:
        if self._finished:
            raise ValueError("update after finish")
        view = memoryview(data).cast("B")
        pending = self._pending
        total = len(pending) + len(view)
        chunks = (total - 1) // CHUNK if total else 0  # never the last: it may be final
        prefix = self._take_prefix()
        if not chunks:
            pending += view
            return memoryview(prefix)
        out = self._scratch.take(len(prefix) + chunks * SEALED)
        out[: len(prefix)] = prefix
        dest = out[len(prefix) :]
        seal = _into(self._aead, "encrypt")
        counter, at, pos = self._counter, 0, 0
        if pending:
            pos = CHUNK - len(pending)
            pending += view[:pos]
            seal(_nonce(counter, False), pending, dest[:SEALED])
            pending.clear()
            counter, at = counter + 1, SEALED
        while at < len(dest):
            seal(_nonce(counter, False), view[pos : pos + CHUNK], dest[at : at + SEALED])
            counter, at, pos = counter + 1, at + SEALED, pos + CHUNK
        pending += view[pos:]
        self._counter = counter
        return out

    def finish(self) -> bytes:
        """The final chunk (after the header when ``update`` was never called)."""
        if self._finished:
            raise ValueError("finish called twice")
        self._finished = True
        final = self._aead.encrypt(_nonce(self._counter, True), bytes(self._pending), None)
        self._pending = bytearray()
        return self._take_prefix() + final


def _unwrap(header: Header, identities: Sequence[Identity]) -> bytes:
    types = {s.type for s in header.stanzas}
    if "scrypt" in types:
        if len(header.stanzas) > 1:
            raise HeaderError("an scrypt stanza beside other stanzas")
        raise NoIdentityError(
            "no identity matches: the object is encrypted with a passphrase (scrypt), which "
            "s3sink does not support"
        )
    for identity in identities:
        for stanza in header.stanzas:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                if len(file_key) != FILE_KEY_SIZE:
                    raise HeaderError("a file key of the wrong length")
                return file_key
    kinds = ", ".join(sorted(types))
    raise NoIdentityError(f"no identity matches (the object's recipients: {kinds})")


class Decryptor:
    """Reads one age file: ``update`` returns the plaintext authenticated so far, never a
    byte of the final chunk; ``finish`` authenticates and returns the final chunk.

    Errors: ``NoIdentityError`` (no identity unwraps the file key, told before any
    plaintext), ``DecryptError`` (a malformed header, a wrong MAC, a chunk that does not
    authenticate, a missing final chunk, bytes after it). The first error is final."""

    def __init__(self, identities: Sequence[Identity]) -> None:
        self._identities = list(identities)
        self._head: bytearray | None = bytearray()
        self._file_key: bytes | None = None
        self._aead: ChaCha20Poly1305 | None = None
        self._pending = bytearray()
        self._scratch = _Scratch()
        self._counter = 0
        self._error: BaseException | None = None
        self._finished = False

    def __repr__(self) -> str:
        return f"<Decryptor chunks={self._counter} finished={self._finished}>"

    @property
    def header_done(self) -> bool:
        """Whether the header was read and a file key unwrapped (plaintext may follow)."""
        return self._file_key is not None

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        return bytes(self.update_view(data))

    def update_view(self, data: bytes | bytearray | memoryview) -> memoryview:
        """``update`` without the copy: a view valid until the next call."""
        self._check_usable()
        try:
            view = memoryview(data).cast("B")
            if self._aead is not None:
                return self._chunks(view)
            ready = self._read_header(view)
            if ready is None:
                return memoryview(b"")
            rest, view = ready
            if rest:  # once a file: the bytes read with the header, then the rest
                view = memoryview(rest + view)
            return self._chunks(view)
        except BaseException as exc:
            self._error = exc
            raise

    def finish(self) -> bytes:
        self._check_usable()
        self._finished = True
        try:
            if self._aead is None:
                self._read_header(memoryview(b""), at_end=True)
            return self._final()
        except BaseException as exc:
            self._error = exc
            raise

    def _check_usable(self) -> None:
        if self._error is not None:
            raise DecryptError("the age stream already failed") from self._error
        if self._finished:
            raise ValueError("the decryptor is finished")

    def _read_header(
        self, view: memoryview, at_end: bool = False
    ) -> tuple[bytes, memoryview] | None:
        """Header bytes gathered (at most MAX_HEADER and the nonce), the file key unwrapped,
        the payload key made: the bytes gathered past the nonce and the rest of ``view``;
        None while the header or the nonce is incomplete."""
        head = self._head if self._head is not None else bytearray()
        if self._file_key is None:
            take = view[: max(0, MAX_HEADER + NONCE - len(head))]
            head += take
            view = view[len(take) :]
            if len(head) >= len(AGE_MAGIC) and not head.startswith(AGE_MAGIC):
                raise DecryptError("the age header is malformed: not age-encryption.org/v1")
            size = header_length(head)
            if size is None:
                if len(head) >= MAX_HEADER + NONCE or at_end:
                    raise DecryptError("the age header is malformed: it does not end")
                return None
            try:
                header = parse_header(bytes(head[:size]))
                self._file_key = _unwrap(header, self._identities)
            except HeaderError as exc:
                raise DecryptError(f"the age header is malformed: {exc}") from exc
            if not header.mac_matches(self._file_key):
                raise DecryptError("the age header's MAC does not match: it was altered")
            del head[:size]
        if len(head) < NONCE:
            take = view[: NONCE - len(head)]
            head += take
            view = view[len(take) :]
            if len(head) < NONCE:
                if at_end:
                    raise DecryptError("the age header is malformed: the nonce is cut short")
                return None
        self._aead = _payload_aead(self._file_key, bytes(head[:NONCE]))
        rest = bytes(head[NONCE:])
        self._head = None
        return rest, view

    def _chunks(self, view: memoryview) -> memoryview:
        """Every whole chunk opened as a non-final one. A whole chunk with nothing after it
        yet that does not open so is kept: it may be the final chunk (``finish`` tells), or
        altered (the next bytes tell)."""
        aead = self._aead
        if aead is None:
            raise RuntimeError("the payload before its key")
        pending = self._pending
        total = len(pending) + len(view)
        chunks = total // SEALED
        if not chunks:
            pending += view
            return memoryview(b"")
        dest = self._scratch.take(chunks * CHUNK)
        open_into = _into(aead, "decrypt")
        counter, at, pos = self._counter, 0, 0
        try:
            if pending:
                pos = SEALED - len(pending)
                pending += view[:pos]
                open_into(_nonce(counter, False), pending, dest[:CHUNK])
                pending.clear()
                counter, at = counter + 1, CHUNK
            while at < len(dest):
                end = pos + SEALED
                open_into(_nonce(counter, False), view[pos:end], dest[at : at + CHUNK])
                counter, at, pos = counter + 1, at + CHUNK, end
        except InvalidTag as exc:
            last = at + CHUNK == len(dest) and (pos if pending else pos + SEALED) == len(view)
            if not last:
                raise DecryptError(
                    f"the age payload does not authenticate at chunk {counter}: it was "
                    "altered, cut or extended"
                ) from exc
            # The last whole chunk so far with nothing after it: perhaps the final one.
            if not pending:
                pending += view[pos:]
            self._counter = counter
            return dest[:at]
        pending += view[pos:]
        self._counter = counter
        return dest

    def _final(self) -> bytes:
        aead = self._aead
        if aead is None:
            raise RuntimeError("the payload before its key")
        sealed = bytes(self._pending)
        self._pending = bytearray()
        if len(sealed) < TAG or (len(sealed) == TAG and self._counter):
            raise DecryptError(
                "the age payload is truncated: it ends without its final chunk"
                if len(sealed) < TAG
                else "the age payload ends with an empty final chunk"
            )
        try:
            return aead.decrypt(_nonce(self._counter, True), sealed, None)
        except InvalidTag as exc:
            raise DecryptError(
                "the age payload's final chunk does not authenticate: it was altered, cut, "
                "or extended"
            ) from exc
