"""The writer's lifecycle, as an explicit state that worker threads may move to FAILED.

::

    OPEN ──close()──▶ COMPLETING ──▶ COMPLETED
      │ (a part, the create or the schedule failed)        │ (the commit failed)
      ├──▶ FAILED ──close() / abort() / with / GC──▶ ABORTING ──▶ ABORTED
      └──abort() / exception in ``with`` / garbage collection──▶ ABORTING ──▶ ABORTED
                                                          (resumable, keep()) └──▶ KEPT

KEPT: a resumable writer (or keep()) ended without publishing and left the multipart upload
and its parts on the store, for a resume; abort() then still discards it (KEPT ──▶ ABORTED).

FAILED means "an error is recorded and the abort is pending": every write re-raises that
error, and whatever ends the writer aborts. A writer is COMPLETED as soon as the object is
known to be published, even when an interrupt then reaches the caller.
"""

from __future__ import annotations

import enum
import threading

__all__ = ["Lifecycle", "State"]


class State(enum.Enum):
    """Where a writer is in its lifecycle."""

    OPEN = "open"
    FAILED = "failed"
    COMPLETING = "completing"
    COMPLETED = "completed"
    ABORTING = "aborting"
    ABORTED = "aborted"
    KEPT = "kept"


class Lifecycle:
    """The current :class:`State`. The writer moves it under its own lock; a worker thread
    that records an error calls :meth:`fail`, which only ever moves OPEN to FAILED.

    Kept apart from the writer so that in-flight parts can reach it without keeping the
    writer alive (an unclosed writer must stay collectable: its finaliser aborts).
    """

    def __init__(self, state: State = State.OPEN) -> None:
        self._lock = threading.Lock()
        self._state = state

    @property
    def state(self) -> State:
        """The state now."""
        return self._state

    @property
    def accepting(self) -> bool:
        """True while nothing has ended the writer: OPEN, or FAILED with the abort pending."""
        return self._state in (State.OPEN, State.FAILED)

    def move(self, state: State) -> None:
        """Enter ``state`` (the writer's transitions, made under the writer's lock)."""
        with self._lock:
            self._state = state

    def fail(self, exc: BaseException | None = None) -> None:
        """An error was recorded: OPEN becomes FAILED; any other state stays."""
        with self._lock:
            if self._state is State.OPEN:
                self._state = State.FAILED
