"""The clients of ``s3sink://``, one per process for each set of connection options and
purpose, shared by every filesystem instance: fsspec makes an instance per thread (its cache
key has the thread's id) and Dask one per task's unpickling, and a botocore client costs
about 0.3 s of CPU to build (measured 2026-12-05 on the 2-core test machine) but is
thread-safe once built. Built under a lock, on first use; a forked child builds its own."""

from __future__ import annotations

import os
import threading

from .._store.client import S3Client, build_client
from .options import StorageOptions

__all__ = ["shared_client"]

_lock = threading.Lock()
_clients: dict[tuple[object, ...], tuple[int, S3Client]] = {}


def shared_client(options: StorageOptions, purpose: str) -> S3Client:
    """The process's client for writes (``purpose="write"``: the writers' checksum mode) or
    for reads and listings (no checksum mode: the reader checks the bytes itself)."""
    checksum = options.checksum if purpose == "write" else None
    concurrency = options.client_concurrency(purpose)
    key = (purpose, options.endpoint_url, options.region, options.profile, checksum, concurrency)
    pid = os.getpid()
    made = _clients.get(key)
    if made is not None and made[0] == pid:
        return made[1]
    with _lock:
        made = _clients.get(key)
        if made is None or made[0] != pid:
            client = build_client(
                concurrency=concurrency,
                checksum=checksum,
                endpoint_url=options.endpoint_url,
                region=options.region,
                profile=options.profile,
            )
            made = (pid, client)
            _clients[key] = made
    return made[1]
