"""The mount table's ceiling for a Python filesystem (``scripts/bench --mount``): one that
takes every write and drops it, through the binding s3sink mount uses (mfusepy over libfuse
3), with the same per-thread state kept, direct I/O and libfuse's multi-threaded loop. Only
each file's size is kept, so the bench can check that the writer's bytes all arrived.

``python nullfs.py MOUNTPOINT`` serves in the foreground until unmounted.
"""

from __future__ import annotations

import errno
import stat
import sys
import threading
import time
from typing import Any

import mfusepy as fuse

from s3sink._mount.fuse import keep_thread_state


class NullFS(fuse.Operations):  # type: ignore[misc]  # mfusepy is untyped
    use_ns = True  # utimens() gets nanoseconds (it ignores them either way)

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self._mutex = threading.Lock()  # not `lock`: mfusepy calls that name for flock()

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        now = time.time()
        times = {"st_ctime": now, "st_mtime": now, "st_atime": now}
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, **times}
        with self._mutex:
            size = self.sizes.get(path)
        if size is None:
            raise fuse.FuseOSError(errno.ENOENT)
        return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": size, **times}

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self._mutex:
            self.sizes[path] = 0
        fi.direct_io = 1
        return 0

    def open(self, path: str, fi: Any) -> int:
        fi.direct_io = 1
        return 0

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        keep_thread_state()
        with self._mutex:
            self.sizes[path] = max(self.sizes.get(path, 0), offset + len(data))
        return len(data)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        return 0

    def flush(self, path: str, fi: Any) -> int:
        return 0

    def release(self, path: str, fi: Any) -> int:
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        return 0


if __name__ == "__main__":
    fuse.FUSE(NullFS(), sys.argv[1], raw_fi=True, foreground=True, default_permissions=True)
