"""SIGINT, SIGTERM and SIGHUP while ``s3sink mount`` runs: received by a thread of their own,
so that the mount knows which signal stopped it and the first one ends it as an unmount does.

Why not libfuse's own handlers: ``fuse_main`` installs them (``fuse_set_signal_handlers``, for
SIGHUP, SIGINT and SIGTERM, each only if its handler is SIG_DFL; mfusepy resets SIGINT to
SIG_DFL for that) and they end the loop with the signal's number as its error, which
libfuse 3.14's ``fuse_main_real`` turns into the same ``8`` as any failure of the loop (mfusepy
raises it as ``RuntimeError(8)``): a stopped mount and a broken one look alike, and the mount
would report a failure after committing every file. Here the signals are blocked in the
thread that runs the loop before it starts, and so in every thread started from it (libfuse's
workers, the writers' pools, which block them too), and one thread takes them with
``sigwait``: libfuse's handlers never run, nothing else sees the signals, and the mount ends
its loop itself (``on_first``), with the signal recorded.

A second signal means "I want out now" (``on_second``): the mount aborts what is still open,
even a file whose commit is under way, and exits 128+N. Later ones change nothing. A signal
that was ignored when the mount started (``nohup``, SIGINT for a background job of a script)
stays ignored: it is blocked and taken like the others, then dropped. Left to libfuse it
would not be: mfusepy sets SIGINT to SIG_DFL before ``fuse_main``, whose handler then ends
the loop.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["STOP_SIGNALS", "StopSignals"]

log = logging.getLogger("s3sink")

STOP_SIGNALS: frozenset[signal.Signals] = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


class StopSignals:
    """While the ``with`` block runs (in the main thread), SIGINT, SIGTERM and SIGHUP go to
    :meth:`_receive` on a thread of their own: the first calls ``on_first(signum)``, the
    second ``on_second(signum)``. ``received`` and ``repeated`` say which arrived. Outside the
    main thread it does nothing (signals are the main thread's business)."""

    def __init__(self, on_first: Callable[[int], None], on_second: Callable[[int], None]) -> None:
        self._on_first = on_first
        self._on_second = on_second
        self._signals: set[signal.Signals] = set()
        self._ignored: set[int] = set()  # ignored when the mount started: they stay so
        self._thread: threading.Thread | None = None
        self._closing = False
        self.received: int | None = None
        self.repeated: int | None = None

    @property
    def exit_code(self) -> int | None:
        """128+N after a second signal N: the user asked to get out, files were aborted."""
        return None if self.repeated is None else 128 + self.repeated

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._signals = set(STOP_SIGNALS)
        self._ignored = {s for s in STOP_SIGNALS if signal.getsignal(s) is signal.SIG_IGN}
        # Blocked before the thread starts: it inherits the mask, as every later thread does.
        signal.pthread_sigmask(signal.SIG_BLOCK, self._signals)
        self._thread = threading.Thread(target=self._run, name="s3sink-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._closing = True
        if thread.ident is not None and thread.is_alive():
            # One of its own signals, sent to it alone, ends its sigwait.
            signal.pthread_kill(thread.ident, min(self._signals))
        thread.join()
        # A signal that came after the report has nothing left to stop: taken, not delivered.
        while signal.sigtimedwait(self._signals, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self._signals)

    def _run(self) -> None:
        while True:
            signum = signal.sigwait(self._signals)
            if self._closing:
                return
            if signum not in self._ignored:
                self._receive(signum)

    def _receive(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            log.warning(
                "%s: unmounting; files still open are aborted, commits under way finish "
                "(a second signal aborts them too)",
                name,
            )
            act = self._on_first
        elif self.repeated is None:
            self.repeated = signum
            log.warning("%s again: aborting every file still open, commits under way too", name)
            act = self._on_second
        else:
            log.warning("%s: already stopping", name)
            return
        try:
            act(signum)
        except Exception as exc:  # noqa: BLE001  # this thread must go on taking signals
            log.error("stopping on %s failed: %s", name, exc)  # noqa: TRY400
