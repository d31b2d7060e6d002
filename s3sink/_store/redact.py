"""Credentials never reach a message: the ``user:password@`` of any URL is hidden.

An endpoint URL may carry credentials (``http://user:secret@host``); botocore repeats the URL
in its connection errors, and tracebacks repeat those. botocore itself never sends them
(urllib3 connects to the host and port; no Authorization header comes from them), so an
endpoint with or without them names the same store: :func:`strip_userinfo` is that name.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact", "strip_userinfo"]

# Up to the last '@' of the authority: a password may hold an '@' (or a quote, as shlex
# quotes it), and the userinfo ends only where the host does (at '/', '?', '#' or a space).
_USERINFO = re.compile(r"(\w+://)[^/?#\s<>]*@")


def redact(text: str) -> str:
    """``text`` with the user:password part of every URL replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text)


def strip_userinfo(url: str) -> str:
    """``url`` without its ``user:password@`` (unchanged when it has none)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
