"""The CLI's progress display on stderr: a live rich bar on a terminal, plain lines otherwise.

Displays poll ``writer.progress()`` from their own daemon thread, so the upload never waits
for the terminal. stdout is never touched: it is the result channel (``--json``). rich is
imported only when a bar is actually shown, so that pipelines and ``--help`` stay fast.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, TextIO

from .._results import Progress, ReadProgress
from .._sizes import format_duration, format_size

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live

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


def ratio(source: int, stored: int) -> str:
    """The compression ratio, ``3.2x`` (``-`` before anything was stored)."""
    return f"{source / stored:.1f}x" if stored > 0 else "-"


Snapshot = Progress | ReadProgress  # an upload's, or a read's (s3sink cat)


def format_read_line(snapshot: ReadProgress, elapsed: float) -> str:
    """One plain progress line of a read: bytes written out of the object's size, the rate,
    the ranges (GETs), elapsed time."""
    written = snapshot.bytes_delivered
    return (
        f"s3sink: {format_size(written)} of {format_size(snapshot.size)} written, "
        f"{_rate(written, elapsed)}, ranges {snapshot.ranges_done} done / "
        f"{snapshot.ranges_in_flight} in flight of {snapshot.ranges}, {format_duration(elapsed)}"
    )


def format_line(snapshot: Snapshot, elapsed: float, cap: int | None = None) -> str:
    """One plain progress line: bytes read (and compressed, with the ratio) and sent (parts
    in flight included, as the HTTP layer takes them), the rate of sending (which the
    --rate-limit cap bounds), parts, elapsed time. Reading runs ahead of sending by the
    parts in memory: its rate would overstate; acknowledged bytes move a part at a time."""
    if isinstance(snapshot, ReadProgress):
        return format_read_line(snapshot, elapsed)
    read = snapshot.bytes_read
    compressed = ""
    if snapshot.source_bytes is not None:
        stored = snapshot.bytes_written
        compressed = f"{format_size(stored)} compressed ({ratio(read, stored)}), "
    limit = f" (cap {format_size(cap)}/s)" if cap is not None else ""
    return (
        f"s3sink: {format_size(read)} read, {compressed}"
        f"{format_size(snapshot.bytes_sent)} sent, "
        f"{_rate(snapshot.bytes_sent, elapsed)}{limit}, "
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
        source: Callable[[], Snapshot],
        *,
        stream: Callable[[], TextIO],
        interval: float = PLAIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        cap: int | None = None,
    ) -> None:
        self._source = source
        self._cap = cap
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
        line = format_line(self._source(), self._clock() - self._started, self._cap)
        stream = self._stream()
        stream.write(line + "\n")
        stream.flush()


class RichDisplay:
    """A live line on a terminal: the key, a bar (of the expected size, when given), bytes,
    rate, parts and elapsed time, laid out by ``_bar.fit_line`` to stay one row.

    Lines written to sys.stderr while it shows (a retry's warning, say) are printed above
    it instead of through it, whole: rich's own redirection would break them at the
    terminal's width, and a cleanup command must survive copy and paste.
    """

    def __init__(
        self,
        source: Callable[[], Snapshot],
        *,
        label: str,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        cap: int | None = None,
    ) -> None:
        self._source = source
        self._cap = cap
        self._label = label
        self._total = total
        self._clock = clock
        self._started = clock()
        self._live: Live | None = None
        self._stderr: _AboveLive | None = None

    def start(self) -> None:
        """Import rich and show the line."""
        from rich.console import Console  # noqa: PLC0415  # only when a bar is shown
        from rich.live import Live  # noqa: PLC0415

        self._started = self._clock()
        console = Console(file=sys.stderr)
        self._live = Live(
            self,
            console=console,
            refresh_per_second=1 / _RICH_INTERVAL,
            transient=True,
            redirect_stdout=False,  # stdout is the result channel
            redirect_stderr=False,  # see _AboveLive
        )
        self._live.start()
        self._stderr = _AboveLive(console, sys.stderr)
        sys.stderr = self._stderr

    def stop(self) -> None:
        """Show the last state once more, then remove the line (the summary replaces it)."""
        if self._live is not None:
            self._live.refresh()
        if self._stderr is not None:
            self._stderr.flush()
            if sys.stderr is self._stderr:
                sys.stderr = self._stderr.original
            self._stderr = None
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from ._bar import fit_line  # noqa: PLC0415  # needs rich

        yield fit_line(
            options.max_width,
            self._label,
            self._source(),
            self._clock() - self._started,
            self._total,
            cap=self._cap,
        )


class _AboveLive(io.TextIOBase):
    """sys.stderr while the live line shows: each whole line is printed above it,
    unwrapped (the terminal wraps it softly) and as it is (no markup, no highlighting)."""

    def __init__(self, console: Console, original: TextIO) -> None:
        super().__init__()
        self._console = console
        self.original = original
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._console.print(line, soft_wrap=True, markup=False, highlight=False)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._console.print(line, soft_wrap=True, markup=False, highlight=False)

    def fileno(self) -> int:
        return self.original.fileno()

    def isatty(self) -> bool:
        return self.original.isatty()


def make_display(
    mode: Mode,
    source: Callable[[], Snapshot],
    *,
    label: str,
    stream: Callable[[], TextIO],
    total: int | None = None,
    interval: float = PLAIN_INTERVAL,
    cap: int | None = None,
) -> Display:
    """The display for ``mode`` (see :func:`choose_mode`); ``cap`` is the --rate-limit."""
    if mode == "rich":
        return RichDisplay(source, label=label, total=total, cap=cap)
    if mode == "plain":
        return PlainDisplay(source, stream=stream, interval=interval, cap=cap)
    return NoDisplay()
