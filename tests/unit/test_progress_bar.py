"""The live progress line (issue #12, items 12 and 16): one row at any width and with any
key, the summary's binary units, and log lines (retries) printed above it, not through it."""

from __future__ import annotations

import io
import logging
import re
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from s3sink._results import Progress, ReadProgress
from s3sink._sizes import format_size
from s3sink.cli._bar import fit_line, shorten
from s3sink.cli._progress import RichDisplay, format_line
from s3sink.cli._report import command_logging

MiB = 1024 * 1024
GiB = 1024 * MiB
SNAPSHOT = Progress(
    bytes_written=3 * GiB + 200 * MiB,
    bytes_uploaded=3 * GiB,
    parts_done=200,
    parts_in_flight=4,
    part_size=16 * MiB,
)
LONG_KEY = "s3://backups/" + "/".join(f"level-{i}" for i in range(40)) + "/db-2026-12-01.dump"
KEYS = [
    "s3://b/k",
    LONG_KEY,
    "s3://バックアップ/" + "データベース" * 30 + ".dump",  # two cells a character
]


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=240),
    key=st.sampled_from(KEYS),
    total=st.sampled_from([None, 10 * GiB, 1]),
    elapsed=st.floats(min_value=0, max_value=10 * 86_400),
)
def test_the_line_never_needs_more_than_one_row(
    width: int, key: str, total: int | None, elapsed: float
) -> None:
    """Whatever the width, the line fits in it less one cell (no terminal wraps it)."""
    line = fit_line(width, key, SNAPSHOT, elapsed, total)
    assert "\n" not in line.plain
    assert cell_len(line.plain) <= max(0, width - 1)


@pytest.mark.parametrize("width", [20, 40, 60, 80, 120, 200])
def test_narrow_terminals_keep_the_amount_and_the_rate(width: int) -> None:
    """Fields go least useful first: the bytes and the rate stay longest."""
    line = fit_line(width, LONG_KEY, SNAPSHOT, 60.0, None).plain
    assert format_size(SNAPSHOT.bytes_uploaded) in line
    if width >= 40:
        assert "/s" in line
    if width >= 120:
        assert "parts 200 done / 4 in flight" in line
        assert "…" in line  # the long key, shortened
        assert line.startswith("s3://backups/")
        assert "db-2026-12-01.dump" in line  # its middle went, not its end


def test_sizes_and_rates_use_the_summary_units() -> None:
    """MiB/GiB as in the summary line (format_size), never rich's decimal MB/s."""
    line = fit_line(200, "s3://b/k", SNAPSHOT, 10.0, 8 * GiB).plain
    assert f"{format_size(SNAPSHOT.bytes_uploaded)} / 8 GiB" in line
    assert f"{format_size(SNAPSHOT.bytes_uploaded // 10)}/s" in line
    assert not re.search(r"\d (kB|MB|GB)\b", line)


def test_the_line_counts_bytes_sent_not_read() -> None:
    """Reading runs ahead of sending by the parts in memory: under a 30 MiB/s cap with
    40 MiB read and 30 MiB sent in one second, the line says 30 MiB/s and the bar 30 MiB,
    and it reaches the total once the last part is sent."""
    ahead = Progress(40 * MiB, 30 * MiB, 3, 1, 10 * MiB)
    line = fit_line(200, "s3://b/k", ahead, 1.0, 50 * MiB, cap=30 * MiB).plain
    assert "30 MiB / 50 MiB" in line
    assert "30 MiB/s (cap 30 MiB/s)" in line
    done = Progress(50 * MiB, 50 * MiB, 5, 0, 10 * MiB)
    text = fit_line(80, "s3://b/k", done, 2.0, 50 * MiB)
    assert "50 MiB / 50 MiB" in text.plain
    styles = {str(span.style): span.end - span.start for span in text.spans}
    assert styles.get("bar.complete", 0) > 0
    assert styles.get("bar.back", 0) == 0  # the bar is full


def test_the_line_moves_before_the_first_part_is_acknowledged() -> None:
    """Three 16 MiB parts in flight at a 10 MiB/s cap, 5 MiB of them sent after 0.5 s and
    none acknowledged: the amount, the bar and the rate show what was sent, not 0 B."""
    sending = Progress(48 * MiB, 0, 0, 3, 16 * MiB, bytes_sending=5 * MiB)
    text = fit_line(200, "s3://b/k", sending, 0.5, 50 * MiB, cap=10 * MiB)
    assert "5 MiB / 50 MiB" in text.plain
    assert "10 MiB/s (cap 10 MiB/s)" in text.plain
    assert "parts 0 done / 3 in flight" in text.plain
    styles = {str(span.style): span.end - span.start for span in text.spans}
    assert styles.get("bar.complete", 0) > 0


def test_shorten_cuts_in_the_middle_and_counts_cells() -> None:
    """Wide characters count two cells; the result never exceeds the width."""
    assert shorten("abcdefghij", 10) == "abcdefghij"
    assert shorten("abcdefghij", 7) == "abc…hij"
    for width in range(1, 30):
        assert cell_len(shorten("データベース" * 10, width)) <= width


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", ["30", "80"])
def test_the_live_display_is_one_row_and_logs_go_above_it(
    monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    """Through rich's Live on a (fake) terminal: each frame is one row at the terminal's
    width, so rich never moves the cursor up to redraw; a retry logged meanwhile is printed
    as a whole line of its own."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("TERM", "xterm-256color")
    display = RichDisplay(lambda: SNAPSHOT, label=LONG_KEY, total=8 * GiB)
    with command_logging(debug=False):
        display.start()
        try:
            time.sleep(0.6)  # a few refreshes
            logging.getLogger("s3sink").warning(
                "retrying UploadPart 3 (attempt 2 of 10): connection refused"
            )
            time.sleep(0.6)
        finally:
            display.stop()
    out = terminal.getvalue()
    # One row: every refresh is "\r, erase line"; only the transient clean-up at stop()
    # moves the cursor up (a two-row display would climb back at every refresh).
    assert out.count("\x1b[1A") <= 1
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert "s3sink: warning: retrying UploadPart 3 (attempt 2 of 10): connection refused\n" in (
        plain.replace("\r", "\n")
    )
    frames = [f for f in re.split(r"[\r\n]", plain) if "parts" in f or "/s" in f]
    assert frames
    assert all(cell_len(f) <= int(columns) for f in frames)


def test_a_console_of_any_width_renders_one_line() -> None:
    """The renderable itself, through a rich Console: one line at 10 to 200 columns."""
    display = RichDisplay(lambda: SNAPSHOT, label=LONG_KEY, total=None)
    for width in (10, 25, 50, 100, 200):
        console = Console(width=width, file=io.StringIO(), force_terminal=True)
        with console.capture() as captured:
            console.print(display)
        assert captured.get().count("\n") == 1, (width, captured.get())


READING = ReadProgress(
    bytes_delivered=3 * GiB, size=10 * GiB, ranges_done=192, ranges_in_flight=8, ranges=640
)


@pytest.mark.parametrize("width", [20, 60, 80, 200])
def test_a_read_shows_bytes_written_of_the_size_and_its_ranges(width: int) -> None:
    """s3sink cat's line: written of the object's size, the bar, the rate, the ranges; one row
    at any width."""
    line = fit_line(width, "s3://b/k", READING, 2.0, READING.size)
    assert cell_len(line.plain) <= width - 1
    if width >= 80:
        assert "3 GiB / 10 GiB" in line.plain
        assert "1.5 GiB/s" in line.plain
    if width >= 200:
        assert "ranges 192 done / 8 in flight" in line.plain
    assert "parts" not in line.plain


def test_a_read_as_a_plain_line() -> None:
    """Without a terminal (--progress): the same figures as a line."""
    assert format_line(READING, 2.0) == (
        "s3sink: 3 GiB of 10 GiB written, 1.5 GiB/s, ranges 192 done / 8 in flight of 640, 2s"
    )
