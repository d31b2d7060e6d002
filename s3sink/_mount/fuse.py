"""The only module that imports the FUSE binding (mfusepy over libfuse 3): it loads libfuse,
runs the filesystem of :mod:`.fs` in libfuse's loop on its own worker threads (and lets any
thread end that loop), and keeps those threads' Python state. Everything a FUSE request does
is decided in :mod:`.fs`."""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import UsageError
from .fs import UploadFS

__all__ = [
    "FuseLoop",
    "MountedFS",
    "check_mountpoint",
    "keep_thread_state",
    "load_fuse",
    "serve",
]

# Sent to the thread that runs libfuse's loop to wake it once the loop is told to end.
WAKE = signal.SIGUSR1


class FuseLoop:
    """libfuse's loop, which any thread may end (:meth:`exit`): a signal's thread, a failure
    under ``--exit-on-error``.

    ``fuse_exit`` only marks the session as ended. libfuse 3.14's multi-threaded loop
    (``fuse_session_loop_mt``) sees that in the thread that runs it, asleep in ``sem_wait``,
    only when a worker ends a request or when a signal interrupts that wait; mfusepy's own
    ``fuse_exit()`` finds the session through the calling thread's FUSE request, so it works
    only inside one. So the session is taken at ``init`` (a request) and kept until
    ``destroy`` (before libfuse frees it), and the loop's thread gets ``WAKE``, whose handler
    does nothing: the interrupted wait finds the session ended. ``fuse_main`` then goes on as
    after ``fusermount3 -u``: it waits for the requests under way, closes /dev/fuse (the
    kernel ends the connection: a program still writing gets ENOTCONN), unmounts lazily
    (``umount2(MNT_DETACH)`` as root, else ``fusermount3 -u -z``) and calls ``destroy``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._libfuse: Any = None
        self._session: int | None = None  # struct fuse *, from init to destroy
        self._main: int | None = None  # the thread in the loop, when it can be woken
        self._asked = False
        self._over = False

    def started(self, libfuse: Any) -> None:
        """From ``init``, on a worker inside a request: the session is known now."""
        with self._lock:
            self._libfuse = libfuse
            self._session = libfuse.fuse_get_context().contents.fuse
            if self._asked:  # a signal before the mount was up: this worker ends the loop
                libfuse.fuse_exit(ctypes.c_void_p(self._session))

    def ending(self) -> None:
        """From ``destroy``: the session is about to be freed."""
        with self._lock:
            self._over, self._session = True, None

    def exit(self) -> None:
        """End the loop, from any thread; once it has ended, nothing."""
        with self._lock:
            self._asked = True
            if self._session is None or self._over:
                return
            self._libfuse.fuse_exit(ctypes.c_void_p(self._session))
            if self._main is not None:
                signal.pthread_kill(self._main, WAKE)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around the loop, in the thread that runs it: ``WAKE`` is handled there (by doing
        nothing) when that is the main thread, where handlers live."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(WAKE, lambda _signum, _frame: None)
        with self._lock:
            self._main = threading.get_ident()
        try:
            yield
        finally:
            with self._lock:
                self._main, self._over, self._session = None, True, None
            signal.signal(WAKE, previous)


class MountedFS(UploadFS):
    """The filesystem as libfuse calls it: from libfuse's own worker threads; ``loop`` is
    the loop it runs in."""

    def __init__(
        self, *, loop: FuseLoop, on_mounted: Callable[[], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.loop = loop
        self.libfuse: Any = None  # set by serve(): the library mfusepy loaded
        self._on_mounted = on_mounted

    def init(self, path: str) -> None:
        """The kernel's FUSE_INIT: the directory is mounted now (not when serve() is called:
        loading libfuse and mount(2) come between), so "mounted" is said from here."""
        self.loop.started(self.libfuse)
        if self._on_mounted is not None:
            self._on_mounted()

    def destroy(self, path: str) -> None:
        self.loop.ending()
        super().destroy(path)

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
    """Run libfuse's loop in the foreground until the filesystem is unmounted or
    ``fs.loop.exit()`` is called; libfuse's own failures come back as RuntimeError."""
    # mfusepy's handle on libfuse: fuse_get_context's result type (a fuse_context whose
    # first field is the session) is declared there.
    fs.libfuse = fuse._libfuse
    with fs.loop.running():
        fuse.FUSE(
            fs,
            where,
            raw_fi=True,
            foreground=True,
            fsname="s3sink",
            subtype="s3sink",
            default_permissions=True,
            # libfuse 3.14 defaults this to UINT_MAX, then refuses its own default with
            # "Ignoring invalid max threads value 4294967295" on stderr at every mount
            # (libfuse#1003). 10 is its default thread cap: as before, no idle worker is
            # ever ended.
            max_idle_threads=10,
        )
