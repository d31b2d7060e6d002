"""Credentials never reach a message: the ``user:password@`` of any URL is hidden.

An endpoint URL may carry credentials (``http://user:secret@host``); botocore repeats the URL
in its connection errors, and tracebacks repeat those.
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def redact(text: str) -> str:
    """``text`` with the user:password part of every URL replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text)
