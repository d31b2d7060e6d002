"""SSE-C: the store encrypts each object with a key the client sends on every request.

The key is a secret the store never keeps: every request that touches the object's bytes
(CreateMultipartUpload, UploadPart, CompleteMultipartUpload, PutObject, HeadObject, GetObject)
carries ``SSECustomerAlgorithm=AES256`` and ``SSECustomerKey`` (botocore adds the key's MD5,
which is what S3 checks a request's key against). Here the key is read from a file (32 raw
bytes, or their base64) and held as a :class:`CustomerKey`, a ``bytes`` whose ``repr`` does not
show it, so no log line, traceback or dataclass ``repr`` ever prints it. The resume journal
records only a digest of it salted with the upload id (``_upload/settings.py``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from typing import Any

from ..errors import UsageError

__all__ = ["KEY_BYTES", "CustomerKey", "customer_key", "read_key_file", "sse_c_args"]

log = logging.getLogger("s3sink")

KEY_BYTES = 32  # AES-256
_MAX_FILE = 4096  # a key file is 32 or 44 bytes (and a newline); never read a large file


class CustomerKey(bytes):
    """An SSE-C key: bytes that never show themselves in a ``repr`` or ``str``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<SSE-C key, {len(self)} bytes>"

    __str__ = __repr__


def customer_key(value: object, *, name: str = "sse_c_key") -> CustomerKey:
    """``value`` (32 bytes) as a :class:`CustomerKey`; TypeError or UsageError otherwise,
    in words that never include the value."""
    if isinstance(value, CustomerKey):
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be 32 bytes, not {type(value).__name__}")
    raw = bytes(value)
    if len(raw) != KEY_BYTES:
        raise UsageError(f"{name} must be {KEY_BYTES} bytes (an AES-256 key), not {len(raw)}")
    return CustomerKey(raw)


def read_key_file(path: str | os.PathLike[str], *, option: str = "--sse-c-key-file") -> CustomerKey:
    """The key in the file at ``path``: exactly 32 raw bytes, or the base64 of 32 bytes
    (surrounding whitespace allowed). Anything else is a UsageError that names the file and
    what was wrong, never its content."""
    where = f"{option} {os.fspath(path)!r}"
    try:
        with open(path, "rb") as file:  # a plain read of a few bytes
            data = file.read(_MAX_FILE + 1)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read the key file ({exc.strerror})") from None
    if len(data) == KEY_BYTES:
        if data.isascii() and data.decode().isprintable():
            # 32 random bytes are all printable once in ~10^9: more likely a passphrase or
            # 16 bytes in hex, used as it is (the same way by every read), but say so.
            log.warning(
                "%s: 32 printable characters, used as the raw key (not decoded): a key of "
                "random bytes is stronger",
                where,
            )
        return CustomerKey(data)
    text = data.strip()
    if len(data) > _MAX_FILE or not text:
        what = "is empty" if not text else "is too large"
        raise UsageError(f"{where}: the file {what}; {_EXPECTED}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{where}: {len(data)} bytes that are not base64; {_EXPECTED}") from None
    if len(raw) != KEY_BYTES:
        raise UsageError(f"{where}: base64 of {len(raw)} bytes; {_EXPECTED}")
    return CustomerKey(raw)


_EXPECTED = (
    f"expected {KEY_BYTES} raw bytes or their base64 (e.g. made by "
    f"'head -c {KEY_BYTES} /dev/urandom | base64 > KEYFILE')"
)


def sse_c_args(key: CustomerKey) -> dict[str, Any]:
    """The request parameters of SSE-C with ``key`` (botocore adds SSECustomerKeyMD5)."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
