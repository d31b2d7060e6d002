"""``encrypt_to``: the writer's bytes stored as an age file (age-encryption.org/v1) that
only the recipients' identities open; ``age -d -i KEY`` decrypts the object.

The recipients are resolved once, when the writer is made (a bad one is a UsageError before
any byte is read, so the command never starts its producer). The stage sits after
compression (``--compress zstd --encrypt-to …`` stores an age file whose plaintext is a zstd
frame: encrypted bytes do not compress), in front of the part buffers, so part sizes,
checksums and the object's size are those of the stored ciphertext.

Each writer encrypts with a fresh random file key and payload nonce (the age format's), which
is why an encrypted upload cannot be resumed: a resume must rebuild byte-identical parts, and
that needs the first run's file key, which s3sink will not keep (in the clear it would undo
the encryption; wrapped to the recipients, a resume would need an identity on the host the
backup is taken on, the one place it should not be).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import UsageError
from .feed import Stage

if TYPE_CHECKING:  # cryptography loads with them: only a writer that encrypts pays for it
    from .._crypt import Encryptor, Recipient

__all__ = ["EncryptionStage", "StagePair", "resolve_recipients", "stored_size_hint"]

_CHUNK = 64 * 1024  # age's payload chunk, each sealed with a 16-byte tag
_HEADER_ROOM = 64 * 1024  # an age header with a handful of recipients, and its nonce


def resolve_recipients(encrypt_to: object) -> tuple[Recipient, ...]:
    """``encrypt_to`` (recipient strings, :class:`Recipient` objects) as recipients; None
    gives none. RecipientError (a UsageError) for a bad one, UsageError for an empty list,
    TypeError for anything else."""
    if encrypt_to is None:
        return ()
    from .._crypt import Recipient, parse_recipient  # noqa: PLC0415  # see the imports

    if isinstance(encrypt_to, (str, bytes, Recipient)) or not isinstance(encrypt_to, Iterable):
        raise TypeError(
            "encrypt_to must be a list of recipients (age1… or SSH public keys), "
            f"not {type(encrypt_to).__name__}"
        )
    recipients: list[Recipient] = []
    for item in encrypt_to:
        if isinstance(item, Recipient):
            recipients.append(item)
        elif isinstance(item, str):
            recipients.append(parse_recipient(item))
        else:
            raise TypeError(f"a recipient must be a str or a Recipient, not {type(item).__name__}")
    if not recipients:
        raise UsageError("encrypt_to is empty: give at least one recipient, or None")
    return tuple(recipients)


def stored_size_hint(plaintext_size: int) -> int:
    """At least the size of the age file of ``plaintext_size`` bytes (for the part plan)."""
    return plaintext_size + 16 * (plaintext_size // _CHUNK + 1) + _HEADER_ROOM


class EncryptionStage:
    """One writer's age encryption: the header and whole chunks as bytes arrive, the final
    chunk at the end (age seals the last chunk apart, so it is held back until then)."""

    name = "age"

    def __init__(self, recipients: Sequence[Recipient]) -> None:
        self.recipients = tuple(recipients)
        self._encryptor: Encryptor | None = None

    def start(self, source_size: int | None) -> None:  # the Stage protocol
        """Make the encryptor (a new file key) now."""
        if self._encryptor is None:
            from .._crypt import Encryptor  # noqa: PLC0415  # see the imports

            self._encryptor = Encryptor(self.recipients)

    def process(self, data: memoryview) -> memoryview:
        """The ciphertext ready so far for ``data`` (the header first): a view into the
        encryptor's reused buffer, valid until the next call (no copy out)."""
        self.start(None)
        assert self._encryptor is not None  # noqa: S101  # made just above
        return self._encryptor.update_view(data)

    def finish(self) -> memoryview:
        """The final chunk."""
        self.start(None)
        assert self._encryptor is not None  # noqa: S101  # made just above
        return memoryview(self._encryptor.finish())

    def close(self) -> None:
        """Drop the encryptor (and the file key it holds)."""
        self._encryptor = None


class StagePair:
    """Two stages one after the other (compression, then encryption)."""

    def __init__(self, first: Stage, second: Stage) -> None:
        self.first = first
        self.second = second

    def start(self, source_size: int | None) -> None:
        self.first.start(source_size)
        self.second.start(None)

    def process(self, data: memoryview) -> memoryview:
        return self.second.process(self.first.process(data))

    def finish(self) -> memoryview:
        middle = bytes(self.second.process(self.first.finish()))
        return memoryview(middle + bytes(self.second.finish()))

    def close(self) -> None:
        try:
            self.first.close()
        finally:
            self.second.close()
