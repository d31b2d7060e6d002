"""The ranges an object is read in: pure arithmetic over its size and (when known) its parts.

A range never crosses a part boundary the reader knows of, and a part larger than the range
size is cut into equal ranges (``ceil(part / part_size)`` of them), so a composite checksum or
a multipart ETag is checked part by part, and a part that fits in one range is digested
whole, on the worker that read it. Stores also serve part-aligned ranges from one part (AWS
recommends them). With only the first part's size known (a FULL_OBJECT checksum needs no
boundaries) the object is cut as if every part had that size: a wrong guess only costs the
alignment, never correctness. Ranges come lazily: a 1 TiB object is 131,072 of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Range", "count_ranges", "iter_ranges"]


@dataclass(frozen=True, slots=True)
class Range:
    """Bytes ``start`` to ``end`` (exclusive) of the object, range number ``index``. ``part``
    is the index of the part it lies in (by the boundaries the plan was given); ``whole_part``
    says it is that entire part, ``part_end`` that it is the part's last range, ``last`` that
    it is the object's last range."""

    index: int
    start: int
    end: int
    part: int
    whole_part: bool
    part_end: bool
    last: bool

    @property
    def length(self) -> int:
        return self.end - self.start


def _pieces(size: int, part_sizes: Sequence[int] | None, first_part: int | None) -> list[int]:
    """The lengths to cut into ranges: the parts when known, else parts of the first one's
    size as a guess, else the whole object."""
    if part_sizes is not None:
        return list(part_sizes)
    if first_part is not None and 0 < first_part < size:
        whole, rest = divmod(size, first_part)
        return [first_part] * whole + ([rest] if rest else [])
    return [size]


def _cuts(length: int, part_size: int) -> int:
    return max(1, -(-length // part_size))


def count_ranges(
    size: int,
    part_size: int,
    *,
    part_sizes: Sequence[int] | None = None,
    first_part: int | None = None,
) -> int:
    """How many ranges :func:`iter_ranges` yields."""
    if size == 0:
        return 0
    return sum(_cuts(p, part_size) for p in _pieces(size, part_sizes, first_part))


def iter_ranges(
    size: int,
    part_size: int,
    *,
    part_sizes: Sequence[int] | None = None,
    first_part: int | None = None,
) -> Iterator[Range]:
    """The ranges of an object of ``size`` bytes, in order, none longer than ``part_size``.
    ``part_sizes`` are the object's parts (exact boundaries); ``first_part`` only the first
    part's length (for alignment). An empty object has no range."""
    if size == 0:
        return
    if part_sizes is not None and sum(part_sizes) != size:
        raise ValueError(f"the parts add up to {sum(part_sizes)} bytes, not {size}")
    pieces = _pieces(size, part_sizes, first_part)
    index = offset = 0
    for number, length in enumerate(pieces):
        cuts = _cuts(length, part_size)
        step = -(-length // cuts)
        end_of_part = offset + length
        start = offset
        while start < end_of_part:
            end = min(start + step, end_of_part)
            yield Range(
                index=index,
                start=start,
                end=end,
                part=number,
                whole_part=cuts == 1,
                part_end=end == end_of_part,
                last=end == size,
            )
            index += 1
            start = end
        offset = end_of_part
