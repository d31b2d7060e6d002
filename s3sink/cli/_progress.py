"""The CLI's progress display on stderr: a live rich bar on a terminal, plain lines otherwise.

Displays poll ``writer.progress()`` from their own daemon thread, so the upload never waits
for the terminal. stdout is never touched: it is the result channel (``--json``). rich is
imported only when a bar is actually shown, so that pipelines and ``--help`` stay fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, TextIO

from .._results import Progress
from .._sizes import format_duration, format_size

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgressBar
    from rich.progress import TaskID

__all__ = [
    "PLAIN_INTERVAL",
    "Display",
    "Mode",
    "NoDisplay",
    "PlainDisplay",
    "RichDisplay",
    "choose_mode",
    "format_line",
    "make_display",
]

Mode = Literal["rich", "plain", "off"]
PLAIN_INTERVAL = 2.0  # seconds between plain progress lines
_RICH_INTERVAL = 0.25  # seconds between bar updates (rich redraws on its own schedule)


class Display(Protocol):
    """Something that shows progress between ``start()`` and ``stop()``."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def choose_mode(*, progress: bool | None, quiet: bool, stderr_is_tty: bool) -> Mode:
    """``--progress`` forces a display (a bar on a TTY, lines elsewhere), ``--no-progress``
    and ``-q`` disable it; by default only a terminal gets one."""
    if quiet or progress is False:
        return "off"
    if stderr_is_tty:
        return "rich"
    return "plain" if progress else "off"


def _rate(nbytes: int, seconds: float) -> str:
    return f"{format_size(int(nbytes / seconds))}/s" if seconds > 0 else "-"


def format_line(snapshot: Progress, elapsed: float) -> str:
    """One plain progress line: bytes read and uploaded, rate, parts, elapsed time."""
    return (
        f"s3sink: {format_size(snapshot.bytes_written)} read, "
        f"{format_size(snapshot.bytes_uploaded)} uploaded, "
        f"{_rate(snapshot.bytes_written, elapsed)}, "
        f"parts {snapshot.parts_done} done / {snapshot.parts_in_flight} in flight, "
        f"{format_duration(elapsed)}"
    )


class NoDisplay:
    """``--no-progress`` / ``-q``."""

    def start(self) -> None:
        """Nothing to show."""

    def stop(self) -> None:
        """Nothing to stop."""


class _Poller:
    """Calls ``tick`` every ``interval`` seconds on a daemon thread until stopped."""

    def __init__(self, tick: Callable[[], None], interval: float, name: str) -> None:
        self._tick = tick
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self._tick()


class PlainDisplay:
    """A progress line on ``stream`` every ``interval`` seconds (for logs and non-TTYs)."""

    def __init__(
        self,
        source: Callable[[], Progress],
        *,
        stream: Callable[[], TextIO],
        interval: float = PLAIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._stream = stream  # looked up per line: tests swap sys.stderr
        self._clock = clock
        self._started = clock()
        self._poller = _Poller(self._print, interval, "s3sink-progress")

    def start(self) -> None:
        """Start printing."""
        self._started = self._clock()
        self._poller.start()

    def stop(self) -> None:
        """Stop printing (no final line: the summary follows)."""
        self._poller.stop()

    def _print(self) -> None:
        line = format_line(self._source(), self._clock() - self._started)
        stream = self._stream()
        stream.write(line + "\n")
        stream.flush()


class RichDisplay:
    """A live bar: bytes (of the expected size, when given), rate, parts, elapsed time."""

    def __init__(
        self, source: Callable[[], Progress], *, label: str, total: int | None = None
    ) -> None:
        self._source = source
        self._label = label
        self._total = total
        self._bar: RichProgressBar | None = None
        self._task: TaskID | None = None
        self._poller = _Poller(self._update, _RICH_INTERVAL, "s3sink-progress")

    def start(self) -> None:
        """Import rich and show the bar."""
        from rich.console import Console  # noqa: PLC0415  # only when a bar is shown
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgressBar  # noqa: PLC0415

        self._bar = RichProgressBar(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TextColumn("parts {task.fields[done]} done / {task.fields[in_flight]} in flight"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(self._label, total=self._total, done=0, in_flight=0)
        self._bar.start()
        self._poller.start()

    def stop(self) -> None:
        """Remove the bar (the summary line replaces it)."""
        self._poller.stop()
        if self._bar is not None:
            self._bar.stop()

    def _update(self) -> None:
        if self._bar is None or self._task is None:
            return
        snapshot = self._source()
        self._bar.update(
            self._task,
            completed=snapshot.bytes_written,
            done=snapshot.parts_done,
            in_flight=snapshot.parts_in_flight,
        )


def make_display(
    mode: Mode,
    source: Callable[[], Progress],
    *,
    label: str,
    stream: Callable[[], TextIO],
    total: int | None = None,
    interval: float = PLAIN_INTERVAL,
) -> Display:
    """The display for ``mode`` (see :func:`choose_mode`)."""
    if mode == "rich":
        return RichDisplay(source, label=label, total=total)
    if mode == "plain":
        return PlainDisplay(source, stream=stream, interval=interval)
    return NoDisplay()
