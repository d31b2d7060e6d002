"""age encryption (age-encryption.org/v1) on ``cryptography``'s primitives: recipients and
identities (X25519, ssh-ed25519, ssh-rsa), the header, the STREAM payload.

The only room that imports ``cryptography`` (tests/unit/test_layers.py)."""

from __future__ import annotations

from .files import parse_recipient, read_identities, read_recipients_file
from .header import AGE_MAGIC
from .keys import Identity, Recipient
from .stream import Decryptor, Encryptor, looks_like_age

__all__ = [
    "AGE_MAGIC",
    "Decryptor",
    "Encryptor",
    "Identity",
    "Recipient",
    "looks_like_age",
    "parse_recipient",
    "read_identities",
    "read_recipients_file",
]
