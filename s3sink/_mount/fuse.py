"""The only module that imports the FUSE binding (mfusepy over libfuse 3): it loads libfuse,
runs the filesystem of :mod:`.fs` in libfuse's loop on its own worker threads, and keeps
those threads' Python state. Everything a FUSE request does is decided in :mod:`.fs`."""

from __future__ import annotations

import ctypes.util
import os
import threading
from typing import Any

from ..errors import UsageError
from .fs import UploadFS

__all__ = ["MountedFS", "check_mountpoint", "keep_thread_state", "load_fuse", "serve"]


class MountedFS(UploadFS):
    """The filesystem as libfuse calls it: from libfuse's own worker threads."""

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        keep_thread_state()
        return super().write(path, data, offset, fi)


_kept: set[int] = set()


def keep_thread_state() -> None:
    """Keep this libfuse thread's Python thread state for the thread's life.

    ctypes runs a callback from a thread that Python did not start on a thread state made for
    that call and deleted after it. That cost about 35 us per FUSE request here (measured
    2026-12-01, f10e3fb): 10 KiB writes
    (tar's records) stopped at ~200 MB/s even through a filesystem that does nothing, and at
    ~530 MB/s with the state kept. One more PyGILState_Ensure, never released, keeps it.
    libfuse 3.12+ keeps its workers (at most 10) for the whole mount; a worker an older
    libfuse ends leaves its small state behind.
    """
    ident = threading.get_ident()  # pthread_self(): get_native_id() is a syscall each time
    if ident not in _kept:
        _kept.add(ident)  # under the GIL
        ctypes.pythonapi.PyGILState_Ensure()


def check_mountpoint(path: str) -> str:
    real = os.path.realpath(path)
    if not os.path.isdir(real):
        raise UsageError(f"mount point {path} is not a directory")
    if os.path.ismount(real):
        raise UsageError(f"{path} is a mount point already (unmount it, or pick another)")
    if os.listdir(real):
        raise UsageError(f"mount point {path} is not empty")
    return real


def load_fuse() -> Any:
    """mfusepy over libfuse 3 where it is installed (mfusepy looks for libfuse 2 first)."""
    if "FUSE_LIBRARY_PATH" not in os.environ:
        found = ctypes.util.find_library("fuse3")
        if found:
            os.environ["FUSE_LIBRARY_PATH"] = found
    try:
        import mfusepy  # type: ignore[import-untyped]  # noqa: PLC0415  # loaded only to mount
    except (ImportError, OSError) as exc:
        raise UsageError(
            f"cannot load libfuse ({exc}); install fuse3 (Debian: apt-get install fuse3)"
        ) from exc
    return mfusepy


def serve(fuse: Any, fs: MountedFS, where: str) -> None:
    """Run libfuse's loop in the foreground until the filesystem is unmounted; libfuse's
    own failures come back as RuntimeError."""
    fuse.FUSE(
        fs,
        where,
        raw_fi=True,
        foreground=True,
        fsname="s3sink",
        subtype="s3sink",
        default_permissions=True,
    )
