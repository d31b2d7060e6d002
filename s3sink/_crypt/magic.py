"""What tells an age file, without the cryptography: the version line that starts it.
Apart so that reading an object can check its first bytes without loading ``cryptography``."""

from __future__ import annotations

AGE_MAGIC = b"age-encryption.org/v1\n"


def looks_like_age(prefix: bytes | bytearray | memoryview) -> bool:
    """Whether ``prefix`` (the first bytes of an object) starts an age file."""
    return bytes(prefix[: len(AGE_MAGIC)]) == AGE_MAGIC
