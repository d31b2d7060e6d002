"""The mount's memory: every file's bytes go to a staging buffer, charged byte by byte to the
shared budget, until they fill a part; only then does the file get a writer, which takes the
staging buffer as its first part buffer. A file past its first part gathers up to
``COALESCE`` bytes of small writes before its writer takes them."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from .._sizes import format_size
from .._upload.pool import BudgetExhausted, SharedBudget
from .._writer.writer import S3MultipartWriter
from ..errors import InvalidLocationError, S3SinkError
from .files import OpenFile, fail

__all__ = ["COALESCE", "WAIT_WARNING", "Staging", "Stopped"]

log = logging.getLogger("s3sink")

WAIT_WARNING = 10.0  # seconds a write waits for memory before s3sink says so
COALESCE = 256 * 1024  # bytes of small writes gathered before the writer takes them


class Stopped(S3SinkError):
    """The mount is stopping at once (a second signal): no file gets memory or a writer."""


class Staging:
    """Staging and gathering for every file of one mount, over the mount's ``budget``;
    ``make_writer(key, marker)`` makes a file's writer, ``key_of(path)`` names its object."""

    def __init__(
        self,
        budget: SharedBudget,
        part_size: int,
        make_writer: Callable[[str, bool], S3MultipartWriter],
        key_of: Callable[[str], str],
    ) -> None:
        self._budget = budget
        self._part_size = part_size
        self._make_writer = make_writer
        self._key_of = key_of
        self._stopped: str | None = None  # why, once the mount stops at once

    def stop(self, reason: str) -> None:
        """From now on no file gets memory or a writer; writes waiting for memory give up
        (they raise :class:`Stopped`)."""
        with self._budget.cond:
            self._stopped = reason
            self._budget.cond.notify_all()

    def _check_stopped(self) -> None:
        if self._stopped is not None:
            raise Stopped(self._stopped)

    def check(self, path: str) -> None:
        """Raise OSError unless a writer can be made for ``path`` (a key too long, a
        retention date that has passed): said at the open, where the program sees it, not
        at a commit that may come from a dup2 or an exit, whose errors no one sees. A writer
        is made and dropped: no I/O, about 50 us (measured 2026-12-04)."""
        try:
            self._make_writer(self._key_of(path), False).abort()
        except S3SinkError as exc:
            code = errno.EINVAL if isinstance(exc, InvalidLocationError) else errno.EIO
            raise fail(code, f"{path} cannot be written: {exc}") from exc

    def append(self, file: OpenFile, data: bytes | memoryview) -> None:
        if file.writer is not None:
            # Small writes (tar's 10 KiB records) are gathered first: one writer.write() per
            # COALESCE bytes costs less than one per request (~10 us each,
            # measured 2026-12-01, 7a0d083).
            file.gathered += data
            if len(file.gathered) >= COALESCE:
                self.pass_gathered(file)
            return
        assert file.staging is not None  # noqa: S101  # no writer yet: staging
        take = min(len(data), self._part_size - len(file.staging))
        self._charge(file, take)
        file.staging += data[:take]
        if len(file.staging) == self._part_size:
            # A part's worth: the file gets a writer, and the staging buffer becomes its
            # first part buffer as it is (its charge with it).
            writer = self.hand_over(file)
            if take < len(data):
                writer.write(data[take:])

    def pass_gathered(self, file: OpenFile) -> None:
        if file.writer is not None and file.gathered:
            try:
                file.writer.write(file.gathered)
            finally:
                file.gathered = bytearray()

    def hand_over(self, file: OpenFile) -> S3MultipartWriter:
        """Give the file's staging buffer to a new writer: as its first part buffer, or, when
        the writer compresses or encrypts (the staged bytes are not what is stored), through
        write();
        then the writer's own buffers hold the charge. Uncharged if that fails."""
        self._check_stopped()
        staged, file.staging = file.staging or bytearray(), None
        charged = True  # the staged bytes' charge is still the file's
        try:
            file.writer = writer = self._make_writer(self._key_of(file.path), False)
            if writer.compression is None and writer.encryption is None:
                writer.adopt_first_part(staged)
                charged = False
            else:
                # Released first: write() may wait for budget that this charge would hold.
                self.uncharge(len(staged))
                charged = False
                writer.write(staged)
        finally:
            if charged:
                self.uncharge(len(staged))
        return writer

    def _charge(self, file: OpenFile, n: int) -> None:
        """Take ``n`` bytes of the budget for ``file``'s staging: in turn with every other
        request (a file streaming parts cannot take back all it releases while this one
        waits), idle spares freed first, for at most the budget's ``max_wait`` seconds."""
        budget = self._budget
        if n > budget.limit:
            raise BudgetExhausted("a write larger than --max-memory")

        def attempt() -> bool | None:
            if not budget.fits(n):
                return None
            budget.charge(n)
            return True

        def exhausted(waited: float) -> BudgetExhausted:
            return BudgetExhausted(
                f"no memory for {file.path} after {waited:.0f} s: --max-memory "
                f"{format_size(budget.limit)} is held by the other files open now"
            )

        def slow(waited: float) -> None:
            log.warning(
                "%s: a write has waited %.0f s for memory (--max-memory %s is spent by the "
                "files open now); it goes on once other files' parts are sent",
                file.path,
                waited,
                format_size(budget.limit),
            )

        with budget.cond:
            budget.wait_turn(
                attempt, exhausted, check=self._check_stopped, slow=(WAIT_WARNING, slow)
            )

    def uncharge(self, n: int) -> None:
        with self._budget.cond:
            self._budget.release(n)
