"""A multipart ETag on a store that ignores part numbers (Ceph RGW 16): the likely layouts,
and the object verified by the one that gives the ETag, or a mismatch naming them."""

from __future__ import annotations

import pytest

from s3sink._read.config import ReadConfig
from s3sink._read.guess import MAX_GUESSES, likely_layouts
from s3sink._read.reader import ObjectReader
from s3sink._upload.policy import FLAT_PARTS
from s3sink.errors import IntegrityError
from tests.support.fakes import BUCKET, KEY, FakeS3, MiB, make_writer, payload


def test_equal_parts_of_common_sizes_come_first() -> None:
    """12 MiB + 5 in 3 parts: 5 MiB and 6 MiB parts fit (two of three parts below the
    size, three at or above it); 5 MiB, the commoner, first."""
    layouts = likely_layouts(12 * MiB + 5, 3)
    assert layouts == [(5 * MiB, 5 * MiB, 2 * MiB + 5), (6 * MiB, 6 * MiB, 5)]


def test_guesses_are_bounded() -> None:
    """Two parts of a large object fit many part sizes: at most MAX_GUESSES, the common
    ones first (8 MiB before 9)."""
    layouts = likely_layouts(14 * MiB, 2)
    assert len(layouts) == MAX_GUESSES
    assert [layout[0] // MiB for layout in layouts] == [8, 10, 7, 9]
    assert all(sum(layout) == 14 * MiB for layout in layouts)


def test_s3sinks_growing_schedule_is_a_guess_past_its_flat_parts() -> None:
    """A stream past 2,048 flat parts of 16 MiB: its parts double every 448; that layout
    is among the guesses."""
    size = FLAT_PARTS * 16 * MiB + 100 * 32 * MiB + 7
    layouts = likely_layouts(size, FLAT_PARTS + 101)
    assert any(layout[FLAT_PARTS] == 32 * MiB for layout in layouts)
    assert all(sum(layout) == size for layout in layouts)


def rgw_like() -> FakeS3:
    store = FakeS3()
    store.ignores_part_numbers = True
    return store


@pytest.mark.parametrize("data_size", [12 * MiB + 5, 15 * MiB])
def test_an_s3sink_upload_is_verified_on_a_store_that_ignores_part_numbers(
    data_size: int,
) -> None:
    """Uploaded with --checksum off (no checksum kept, as on RGW) in 5 MiB parts: the
    ETag is checked against the guessed layouts, and the 5 MiB one matches."""
    store = rgw_like()
    data = payload(data_size)
    writer = make_writer(store, checksum="off")
    writer.write(data)
    writer.close()
    out = bytearray()
    result = ObjectReader(store, BUCKET, KEY, ReadConfig(part_size=4 * MiB)).copy_to(out.extend)
    assert out == data
    assert (result.verified, result.verified_by) == (True, "etag-md5")


def test_a_corrupted_object_matches_no_layout() -> None:
    """A stored ETag no layout gives: a mismatch that names the layouts tried, and the last
    range withheld."""
    store = rgw_like()
    data = payload(12 * MiB + 5)
    store.seed(BUCKET, KEY, data, parts=[5 * MiB, 5 * MiB, 2 * MiB + 5], checksums={})
    store.objects[(BUCKET, KEY)].data = data[:-1] + b"!"
    reader = ObjectReader(store, BUCKET, KEY, ReadConfig(part_size=4 * MiB))
    got = bytearray()
    with pytest.raises(IntegrityError, match="tried parts of 5 MiB, 6 MiB"):
        for view in reader.chunks():
            got += view
    assert len(got) < len(data)
