"""The ranges an object is read in: contiguous, bounded by the range size, never across a
known part boundary, and part-aligned when only the first part's size is known."""

from __future__ import annotations

import pytest

from s3sink._read.plan import Range, count_ranges, iter_ranges


def spans(ranges: list[Range]) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in ranges]


def test_an_object_without_parts_is_cut_into_equal_ranges() -> None:
    """No parts known: ranges of at most part_size, covering every byte once."""
    ranges = list(iter_ranges(10, 4))
    assert spans(ranges) == [(0, 4), (4, 8), (8, 10)]
    assert [r.last for r in ranges] == [False, False, True]
    assert [r.index for r in ranges] == [0, 1, 2]
    assert count_ranges(10, 4) == 3


def test_an_empty_object_has_no_range() -> None:
    """Nothing to GET for 0 bytes."""
    assert list(iter_ranges(0, 4)) == []
    assert count_ranges(0, 4) == 0


def test_known_parts_are_never_crossed() -> None:
    """Parts 5, 9, 2 at a range size of 4: part 1 whole, part 2 in three equal ranges, part 3
    whole; whole_part and part_end say so."""
    ranges = list(iter_ranges(16, 4, part_sizes=[5, 9, 2]))
    assert spans(ranges) == [(0, 3), (3, 5), (5, 8), (8, 11), (11, 14), (14, 16)]
    assert [r.part for r in ranges] == [0, 0, 1, 1, 1, 2]
    assert [r.whole_part for r in ranges] == [False, False, False, False, False, True]
    assert [r.part_end for r in ranges] == [False, True, False, False, True, True]
    assert count_ranges(16, 4, part_sizes=[5, 9, 2]) == len(ranges)


def test_parts_smaller_than_a_range_are_ranges_of_their_own() -> None:
    """5 MiB parts read at 8 MiB ranges: one range per part, none merged (a part's digest
    is then its range's)."""
    ranges = list(iter_ranges(12, 8, part_sizes=[5, 5, 2]))
    assert spans(ranges) == [(0, 5), (5, 10), (10, 12)]
    assert all(r.whole_part and r.part_end for r in ranges)


def test_the_first_part_size_aligns_ranges_as_if_all_parts_were_so() -> None:
    """Only the first part known (a FULL_OBJECT checksum needs no boundaries): ranges follow
    parts of that size."""
    assert spans(list(iter_ranges(25, 8, first_part=10))) == [
        (0, 5),
        (5, 10),
        (10, 15),
        (15, 20),
        (20, 25),
    ]


def test_parts_that_do_not_add_up_are_refused() -> None:
    """Part sizes that are not the object's size are a store's inconsistency."""
    with pytest.raises(ValueError, match="add up"):
        list(iter_ranges(10, 4, part_sizes=[4, 4]))
