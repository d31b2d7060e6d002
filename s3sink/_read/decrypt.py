"""``--identity``: age objects (age-encryption.org/v1, as ``--encrypt-to`` or the ``age``
binary writes them) decrypted on the way out, over :mod:`s3sink._crypt`.

An object is age when its first bytes are age's version line. The header is read before
anything is handed over, so an object none of the identities can open fails
(:class:`~s3sink.errors.NoIdentityError`) before a single plaintext byte is written. The
payload's chunks are handed over as each authenticates (ChaCha20-Poly1305), and the final
chunk only once the object's last range was read, verified against what the store recorded
(the reader's rule), and the chunk authenticated as the end of the stream: an altered,
truncated or extended ciphertext is a :class:`~s3sink.errors.DecryptError` (an
IntegrityError: exit 5) raised instead of the last bytes.

With identities given, an object that is not age is refused (DecryptError) rather than
passed through: the store could otherwise hand over bytes that nothing authenticates.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._crypt.magic import looks_like_age
from ..errors import DecryptError, NoIdentityError

if TYPE_CHECKING:
    from .._crypt import Identity

__all__ = ["DecryptingReader", "decrypted"]


class _Where:
    """Where the bytes come from, to place the format's errors."""

    def __init__(self, bucket: str, key: str, version_id: str | None) -> None:
        self.bucket, self.key, self.version_id = bucket, key, version_id

    def place(self, exc: DecryptError | NoIdentityError) -> DecryptError | NoIdentityError:
        return type(exc)(str(exc), bucket=self.bucket, key=self.key, version_id=self.version_id)


def decrypted(
    chunks: Iterable[bytes | memoryview],
    identities: Sequence[Identity],
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
) -> Iterator[bytes | memoryview]:
    """The plaintext of the age object whose stored bytes are ``chunks`` (in order), as it
    authenticates; the final chunk only after ``chunks`` ended. Nothing is yielded before
    the header checked out (its identity, its MAC). A view yielded is valid until the next
    is asked for (the decryptor's one output buffer)."""
    from .._crypt.stream import Decryptor  # noqa: PLC0415  # cryptography: only when decrypting

    where = _Where(bucket, key, version_id)
    decryptor = Decryptor(identities)
    first = True
    try:
        for chunk in chunks:
            if first and chunk:
                _check_age(chunk)
                first = False
            plain = decryptor.update_view(chunk)
            if plain:
                yield plain
        if first:
            _check_age(b"")
        yield decryptor.finish()
    except (DecryptError, NoIdentityError) as exc:
        if exc.bucket:
            raise
        raise where.place(exc) from exc


def _check_age(first: bytes | memoryview) -> None:
    if not looks_like_age(first[:22]):
        raise DecryptError(
            "not an age-encrypted object, and an identity (--identity, identity=) asks for "
            "one: refused, as nothing would authenticate its bytes (read it without an "
            "identity to get it as stored)"
        )


class DecryptingReader(io.RawIOBase):
    """A readable over the plaintext of an age object, whose stored bytes ``source`` reads
    (a file object: ``read1`` gives what it holds, in order). The header is read here, so a
    wrong identity fails before the first read (see the module)."""

    def __init__(
        self,
        source: Any,
        identities: Sequence[Identity],
        *,
        bucket: str,
        key: str,
        version_id: str | None = None,
    ) -> None:
        super().__init__()
        self._plain = decrypted(
            _pieces(source), identities, bucket=bucket, key=key, version_id=version_id
        )
        self._ready = memoryview(b"")
        self._ended = False
        self._next()  # the header: NoIdentityError now, before anything is returned

    def _next(self) -> None:
        try:
            self._ready = memoryview(next(self._plain))
        except StopIteration:
            self._ended = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Up to ``len(buffer)`` plaintext bytes; 0 at the (authenticated) end."""
        while not self._ready:
            if self._ended:
                return 0
            self._next()
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._ready))
        out[:n] = self._ready[:n]
        self._ready = self._ready[n:]
        return n


def _pieces(source: Any) -> Iterator[bytes]:
    while piece := source.read1(1 << 20):
        yield piece
