"""The live progress line: one terminal row whatever the width or the key's length.

rich's column layout wraps a long description or a narrow terminal onto several rows, and its
speed column counts in decimal megabytes while the summary counts in MiB. This line is laid
out here instead: fields are dropped, least useful first, until the rest fits the width
(less one cell, so that no terminal wraps at its last column); the key is shortened in its
middle; every size and rate uses the summary's units (``_sizes.format_size``).

Imported only when a bar is shown (it needs rich).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text

from .._results import Progress, ReadProgress
from .._sizes import format_duration, format_size

__all__ = ["fit_line", "shorten"]

ELLIPSIS = "…"
_GAP = "  "
_BAR_MIN, _BAR_MAX = 10, 40
_LABEL_MIN = 12  # a key shortened below this says nothing; it is dropped instead


@dataclass
class _Field:
    name: str
    text: str
    keep: int  # lower is kept longer
    min_width: int
    max_width: int


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut in the middle (``s3://bkt/ba…/db.dump``):
    the bucket and the file name say most about a key."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    head_room = room // 2
    head, used = [], 0
    for char in text:
        size = get_character_cell_size(char)
        if used + size > head_room:
            break
        head.append(char)
        used += size
    tail_room = room - used
    tail, used = [], 0
    for char in reversed(text):
        size = get_character_cell_size(char)
        if used + size > tail_room:
            break
        tail.append(char)
        used += size
    return "".join(head) + ELLIPSIS + "".join(reversed(tail))


def _rate(nbytes: int, seconds: float) -> str:
    # Under a millisecond the rate is noise (and nbytes / 1e-300 does not fit an int).
    return f"{format_size(int(nbytes / seconds))}/s" if seconds >= 1e-3 else "-/s"


def fit_line(
    width: int,
    label: str,
    snapshot: Progress | ReadProgress,
    elapsed: float,
    total: int | None,
    *,
    cap: int | None = None,
) -> Text:
    """The progress line for a terminal ``width`` cells wide, never more than one row (of a
    read: the bytes written out of the object's size, and the ranges). An upload's
    amount and bar are the source's bytes sent (compressing: then what was stored so far
    and the ratio), the rate is bytes sent, which ``cap`` (--rate-limit) bounds: reading
    runs ahead of sending by the parts in memory, and would overstate both. Sent, not
    acknowledged: parts of 16 MiB at 1 MiB/s would hold both at 0 for the first 16 s."""
    done, amount, rate, parts = _figures(snapshot, elapsed, total)
    if cap is not None:
        rate += f" (cap {format_size(cap)}/s)"
    fields = [
        _Field("label", label, 4, min(_LABEL_MIN, cell_len(label)), cell_len(label)),
        _Field("bar", "", 2, _BAR_MIN, _BAR_MAX),
        _Field("amount", amount, 0, cell_len(amount), cell_len(amount)),
        _Field("rate", rate, 1, 0, 0),
        _Field("parts", parts, 5, cell_len(parts), cell_len(parts)),
        _Field("elapsed", format_duration(elapsed), 3, 0, 0),
    ]
    if total is None:
        fields = [f for f in fields if f.name != "bar"]  # no total, nothing to fill
    for field in fields:
        if field.max_width == 0:
            field.min_width = field.max_width = cell_len(field.text)
    room = width - 1
    if room <= 0:
        return Text()

    def needed(chosen: list[_Field]) -> int:
        return sum(f.min_width for f in chosen) + len(_GAP) * (len(chosen) - 1)

    while len(fields) > 1 and needed(fields) > room:
        fields.remove(max(fields, key=lambda f: f.keep))
    spare = room - needed(fields)
    widths = {f.name: f.min_width for f in fields}
    for field in sorted(fields, key=lambda f: f.keep):  # the bar grows before the label
        grow = min(spare, field.max_width - field.min_width)
        widths[field.name] += grow
        spare -= grow

    line = Text(no_wrap=True, overflow="ellipsis")
    for i, field in enumerate(fields):
        if i:
            line.append(_GAP)
        if field.name == "bar":
            _append_bar(line, widths["bar"], done, total or 1)
        elif field.name == "label":
            line.append(shorten(field.text, widths["label"]), style="bold")
        else:
            line.append(field.text)
    line.truncate(room, overflow="ellipsis")  # only a lone field wider than the room
    return line


def _figures(
    snapshot: Progress | ReadProgress, elapsed: float, total: int | None
) -> tuple[int, str, str, str]:
    """The bar's count, the amount, the rate and the requests: of an upload, the source's
    bytes sent (compressing: then what was stored so far and the ratio); of a read (``cat``),
    the bytes written out and the ranges."""
    if isinstance(snapshot, ReadProgress):
        done = snapshot.bytes_delivered
        amount = f"{format_size(done)} / {format_size(snapshot.size)}"
        ranges = f"ranges {snapshot.ranges_done} done / {snapshot.ranges_in_flight} in flight"
        return done, amount, _rate(done, elapsed), ranges
    done = snapshot.source_sent
    amount = format_size(done) if total is None else f"{format_size(done)} / {format_size(total)}"
    if snapshot.source_bytes is not None:
        stored = snapshot.bytes_written
        ratio = f"{snapshot.source_bytes / stored:.1f}x" if stored > 0 else "-"
        amount += f" → {format_size(stored)} ({ratio})"
    parts = f"parts {snapshot.parts_done} done / {snapshot.parts_in_flight} in flight"
    return done, amount, _rate(snapshot.bytes_sent, elapsed), parts


def _append_bar(line: Text, width: int, done: int, total: int) -> None:
    filled = min(width, width * done // total) if total > 0 else width
    line.append("━" * filled, style="bar.complete")
    line.append("━" * (width - filled), style="bar.back")
