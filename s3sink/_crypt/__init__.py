"""age encryption (age-encryption.org/v1) on ``cryptography``'s primitives: recipients and
identities (X25519, ssh-ed25519, ssh-rsa), the header, the STREAM payload.

The only room that imports ``cryptography`` (tests/unit/test_layers.py), and only when a
name of it is first used (PEP 562): ``import s3sink`` and a sink that encrypts nothing do not
pay its import (about 35 ms, measured 2026-12-05 on the helper VM)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .magic import AGE_MAGIC, looks_like_age

if TYPE_CHECKING:
    from .files import parse_recipient, read_identities, read_recipients_file
    from .keys import Identity, Recipient
    from .stream import Decryptor, Encryptor

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

_LAZY = {
    "Decryptor": "stream",
    "Encryptor": "stream",
    "Identity": "keys",
    "Recipient": "keys",
    "parse_recipient": "files",
    "read_identities": "files",
    "read_recipients_file": "files",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
