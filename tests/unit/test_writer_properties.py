"""Property tests: for any sequence of writes, the object is their concatenation and the
parts follow the schedule (real 5 MiB parts; a few dozen examples of up to ~20 MiB)."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3sink import S3MultipartWriter
from tests.support.fakes import BUCKET, KEY, PART, FakeS3, MiB, make_writer, parts_for, payload

MAX_TOTAL = 4 * PART - 1  # up to four parts

write_sizes = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=64),
        st.integers(min_value=0, max_value=3 * MiB),
        st.sampled_from([PART - 1, PART, PART + 1, 2 * PART]),
    ),
    max_size=12,
).map(lambda sizes: _cap(sizes, MAX_TOTAL))


def _cap(sizes: list[int], limit: int) -> list[int]:
    """Trim the sizes so that they add up to at most ``limit``."""
    out, total = [], 0
    for wanted in sizes:
        size = min(wanted, limit - total)
        out.append(size)
        total += size
    return out


def send(w: S3MultipartWriter, chunk: bytes, kind: int) -> int:
    """Write ``chunk`` as bytes, bytearray or memoryview, or read it with readinto_from."""
    if kind == 0:
        return w.write(chunk)
    if kind == 1:
        return w.write(bytearray(chunk))
    if kind == 2:
        return w.write(memoryview(chunk))
    return w.readinto_from(io.BytesIO(chunk))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    sizes=write_sizes,
    concurrency=st.integers(min_value=1, max_value=4),
    kinds=st.lists(st.integers(0, 3), min_size=12, max_size=12),
)
def test_object_is_the_concatenation_and_parts_follow_the_schedule(
    sizes: list[int], concurrency: int, kinds: list[int]
) -> None:
    """The object is the writes joined, and part n has schedule.size_of(n) bytes but the last."""
    fake = FakeS3()
    data = payload(sum(sizes), seed=len(sizes))
    with make_writer(fake, concurrency=concurrency) as w:
        pos = 0
        for size, kind in zip(sizes, kinds, strict=False):
            assert send(w, data[pos : pos + size], kind) == size
            pos += size
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.result.size == len(data) == w.bytes_written
    parts = sorted(fake.calls_of("upload_part"), key=lambda c: c.part_number or 0)
    if len(data) <= w.schedule.base:
        assert fake.ops() == ["put_object"]
        assert w.result.parts == 1
        return
    sizes_sent = [c.size for c in parts]
    assert [c.part_number for c in parts] == list(range(1, len(parts) + 1))
    assert len(parts) == parts_for(w.schedule, len(data)) == w.result.parts
    assert sizes_sent[:-1] == [w.schedule.size_of(n) for n in range(1, len(parts))]
    assert 0 < (sizes_sent[-1] or 0) <= w.schedule.size_of(len(parts))
    assert fake.live_uploads() == []
