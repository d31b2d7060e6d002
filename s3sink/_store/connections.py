"""A client's connections fitted for streaming (:func:`tune_connections`): request bodies sent
1 MiB per ``sendall`` and TLS records batched (``tls.py``).

botocore builds its connection pool with urllib3 and gives no option for either, so this
reaches into the client's pool manager (``client._endpoint.http_session._manager``). If a
botocore release moves it, nothing breaks: the client keeps botocore's defaults, and
``tests/wire/test_tls.py`` fails so that the change is seen. Connections through a proxy
keep botocore's defaults (their pools are made elsewhere, on first use).
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from .tls import BatchingContext

__all__ = ["SEND_BLOCK", "tune_connections"]

#: Bytes of a request body handed to the socket at a time (botocore's default: 128 KiB).
#: Measured on a 2-vCPU VM (2026-12-05), uploading 1 GiB from a pipe to a local discard
#: server: 0.77 client CPU s/GiB against 0.88 over HTTP, 1.09 against 1.15 over HTTPS;
#: 2 and 4 MiB save no more, and over HTTPS each block is also that much ciphertext in memory
#: per connection while it is sent.
SEND_BLOCK = 1024 * 1024

#: ``S3SINK_BATCHED_TLS=0`` keeps Python's own ``ssl.SSLSocket`` (one syscall per record).
BATCHED_TLS_VARIABLE = "S3SINK_BATCHED_TLS"


def tune_connections(client: Any) -> bool:
    """Give ``client``'s connection pool (HTTP and HTTPS, no proxy) 1 MiB sends and, unless
    ``S3SINK_BATCHED_TLS=0``, batched TLS. The client's own ``SSLContext`` is kept, with
    every setting (CA bundle, ``verify``, ciphers, SSLKEYLOGFILE): only its class changes, so
    that its ``wrap_socket`` makes a ``BatchedTLS``. Returns whether the pool was found."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    pool_kw = getattr(getattr(session, "_manager", None), "connection_pool_kw", None)
    if not isinstance(pool_kw, dict):
        return False
    pool_kw["blocksize"] = SEND_BLOCK
    context = pool_kw.get("ssl_context")
    if type(context) is ssl.SSLContext and os.environ.get(BATCHED_TLS_VARIABLE, "1") != "0":
        # The context was made for this client alone (botocore makes one per session).
        context.__class__ = BatchingContext
    return True
