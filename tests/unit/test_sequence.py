"""The mount's write ordering (s3sink/_sequence.py): sequential writes, and zeros at the end of
a file that may be written over."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3sink._mount.sequencer import NonSequential, Sequencer

PAGE = 4096


def stream(seq: Sequencer, writes: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for offset, data in writes:
        for chunk in seq.accept(offset, data):
            out += chunk
    for chunk in seq.finish():
        out += chunk
    return bytes(out)


def content(n: int, seed: int = 1) -> bytes:
    data = bytearray(random.Random(seed).randbytes(n))
    for i in range(0, n, 777):  # zero runs inside the data, and at the ends of writes
        data[i : i + 50] = bytes(len(data[i : i + 50]))
    return bytes(data)


@pytest.mark.parametrize("chunk", [1, 10 * 1024, 1 << 20])
def test_direct_sequential_writes_are_the_stream(chunk: int) -> None:
    data = content(3 << 20)
    writes = [(o, data[o : o + chunk]) for o in range(0, len(data), chunk)]
    assert stream(Sequencer(), writes) == data


def test_zeros_are_held_and_a_shorter_rewrite_keeps_the_length() -> None:
    """pg_basebackup: zero-fill a WAL segment, then write it from 0."""
    seq = Sequencer()
    size = 16 * PAGE
    assert [c for o in range(0, size, PAGE) for c in seq.accept(o, bytes(PAGE))] == []
    data = content(5 * PAGE + 3)
    sent = b"".join(
        bytes(c) for o in range(0, len(data), 1000) for c in seq.accept(o, data[o : o + 1000])
    )
    assert sent == data.rstrip(b"\0")  # zeros after the last byte other than zero are held
    assert seq.size == size
    assert sent + b"".join(bytes(c) for c in seq.finish()) == data + bytes(size - len(data))


def test_data_after_held_zeros_sends_them() -> None:
    seq = Sequencer()
    assert stream(seq, [(0, b"ab\0\0"), (4, bytes(10)), (9, b"x")]) == b"ab" + bytes(
        7
    ) + b"x" + bytes(4)


@pytest.mark.parametrize(
    ("writes", "reason"),
    [
        ([(0, b"abcd"), (2, b"zz")], "sequential writes only"),
        ([(0, b"abcd"), (5, b"z")], "sequential writes only"),
        ([(0, b"ab\0\0"), (1, b"z")], "sequential writes only"),  # over data, not the zeros
        ([(0, bytes(4)), (5, b"z")], "sequential writes only"),  # past the zeros
    ],
    ids=["back", "gap", "over-data", "past-zeros"],
)
def test_direct_writes_out_of_order_are_refused(
    writes: list[tuple[int, bytes]], reason: str
) -> None:
    seq = Sequencer()
    with pytest.raises(NonSequential, match=reason):
        stream(seq, writes)


@given(
    data=st.binary(max_size=3000).map(lambda b: b + bytes(len(b) % 7)),
    cuts=st.lists(st.integers(0, 3000)),
    fill=st.integers(0, 4000),
)
def test_zero_fill_then_any_chunking_is_what_a_disk_would_hold(
    data: bytes, cuts: list[int], fill: int
) -> None:
    """Zero-fill ``fill`` bytes, then write ``data`` from 0 in arbitrary pieces."""
    seq = Sequencer()
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    writes = [(0, bytes(fill))] if fill else []
    writes += [(a, data[a:b]) for a, b in itertools.pairwise(points)]
    expected = data + bytes(max(0, fill - len(data)))
    assert stream(seq, writes) == expected
    assert seq.size == len(expected)
