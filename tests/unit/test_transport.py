"""BufferBody: the request body over a part buffer that botocore reads, seeks and resends."""

from __future__ import annotations

import io

import pytest

from s3sink._store.body import BufferBody


def test_reads_are_views_of_the_part_buffer_not_copies() -> None:
    buf = bytearray(b"0123456789")
    body = BufferBody(buf)
    chunk = body.read(4)
    assert isinstance(chunk, memoryview)
    assert chunk.obj is buf  # no copy: the HTTP layer sends straight from the buffer
    assert bytes(chunk) == b"0123"
    assert bytes(body.read()) == b"456789"
    assert body.read(3) == b""  # end of stream: empty and falsy, as HTTP loops expect
    assert not body.read(3)


def test_seek_rewinds_for_a_retry_and_readinto_fills_a_buffer() -> None:
    body = BufferBody(bytearray(b"abcdef"))
    assert len(body) == 6
    assert bytes(body.read(4)) == b"abcd"
    assert body.tell() == 4
    assert body.seek(0) == 0
    target = bytearray(4)
    assert body.readinto(memoryview(target)) == 4
    assert target == b"abcd"
    assert body.readinto(memoryview(target)) == 2
    assert target[:2] == b"ef"
    assert body.seek(-1, io.SEEK_END) == 5
    assert body.seek(100) == 6  # clamped: never past the end
    assert body.seekable()
    assert body.readable()


def test_close_releases_its_view_so_the_buffer_can_shrink() -> None:
    buf = bytearray(10)
    body = BufferBody(buf)
    with pytest.raises(BufferError):
        del buf[5:]  # exported while the request may still read it
    body.close()
    del buf[5:]
    assert len(buf) == 5


def test_a_view_of_part_of_a_buffer() -> None:
    buf = bytearray(b"0123456789")
    body = BufferBody(memoryview(buf)[2:5])
    assert len(body) == 3
    assert bytes(body.read()) == b"234"
