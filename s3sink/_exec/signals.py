"""Signals for the CLI: SIGINT, SIGTERM and SIGHUP become an exception in the main thread.

:class:`SignalGuard` turns them into :class:`Interrupted` (a ``BaseException``, like
``KeyboardInterrupt``) raised in the main thread, so the writer's abort path runs wherever the
main thread was blocked: Python re-runs signal handlers when a system call returns EINTR (a
pipe read, a FIFO open, a lock wait), and a handler that raises ends it. The guard forwards
each signal to the producer first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any, Protocol

__all__ = ["FORWARDED_SIGNALS", "Interrupted", "SignalGuard", "signal_name"]

FORWARDED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Child(Protocol):
    """What a forwarded signal goes to (the producer's :class:`~.producer.Command`)."""

    def send_signal(self, signum: int) -> None: ...


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; the bare number for signals Python has no name for."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(BaseException):
    """A forwarded signal arrived; raised in the main thread so that cleanup code runs.

    A ``BaseException`` like ``KeyboardInterrupt``: ``except Exception`` must not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
        return 128 + self.signum


class SignalGuard:
    """Install handlers for SIGINT/SIGTERM/SIGHUP while the ``with`` block runs.

    The first signal is forwarded to :attr:`child` (when set) and raised as
    :class:`Interrupted`; later ones are only forwarded, so that the abort they would
    interrupt can finish. After :meth:`disarm` signals are forwarded and recorded only.
    Signals that were ignored when we started (``nohup``, background jobs of a
    non-interactive shell) stay ignored, as the user's environment asked.
    """

    def __init__(self, signals: Sequence[signal.Signals] = FORWARDED_SIGNALS) -> None:
        self._signals = tuple(signals)
        self._previous: dict[signal.Signals, Any] = {}
        self._armed = True
        self._deferring = False
        self._pending: int | None = None
        self.received: int | None = None
        self.repeated = threading.Event()
        self.child: Child | None = None

    def __enter__(self) -> SignalGuard:
        for signum in self._signals:
            try:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN:
                    continue
                signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                return self
            self._previous[signum] = previous
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._armed = False
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def disarm(self) -> None:
        """Stop raising: from now on signals are forwarded and recorded only."""
        self._armed = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold back the exception while the block runs (e.g. while a child is spawned,
        so that it is never left running unseen), then raise it."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        pending, self._pending = self._pending, None
        if pending is not None and self._armed:
            if self.child is not None:  # spawned while the signal was held back
                self.child.send_signal(pending)
            raise Interrupted(pending)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        child = self.child
        if child is not None:
            child.send_signal(signum)
        if self.received is not None:
            self.repeated.set()  # a second signal: hurry whatever waits on it
            return
        self.received = signum
        if self._deferring:
            self._pending = signum
        elif self._armed:
            raise Interrupted(signum)
