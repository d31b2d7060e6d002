"""LineRelay: a command's stderr handed over whole line by whole line, \r-redrawn meters
reduced to their last state, a partial last line not lost, the writer never blocking it."""

from __future__ import annotations

import os

from s3sink._exec.relay import LineRelay


def _relay(*chunks: bytes) -> list[str]:
    got: list[str] = []
    relay = LineRelay(got.append)
    for chunk in chunks:
        os.write(relay.write_fd, chunk)
    relay.close()
    return got


def test_lines_are_whole_however_they_are_cut() -> None:
    """Lines split across writes arrive whole, in order; the last partial one at the end."""
    assert _relay(b"dump", b"ing 1\ndumping 2\nlast", b" words") == [
        "dumping 1\n",
        "dumping 2\n",
        "last words\n",
    ]


def test_a_meter_redrawn_with_carriage_returns_is_its_last_state() -> None:
    """``10%\\r20%\\r30%\\n`` is one line, ``30%``."""
    assert _relay(b"10%\r20%", b"\r30%\ndone\n") == ["30%\n", "done\n"]


def test_bytes_that_are_no_utf8_are_shown_not_fatal() -> None:
    """Invalid UTF-8 is replaced, and the lines after it still come."""
    assert _relay(b"caf\xe9\nnext\n") == ["caf\ufffd\n", "next\n"]


def test_a_writer_that_fails_does_not_stop_the_reading() -> None:
    """A terminal that is gone (OSError) drops a line; the pipe is still drained, so the
    command never blocks on it."""
    seen: list[str] = []

    def write(line: str) -> None:
        seen.append(line)
        raise OSError("terminal gone")

    relay = LineRelay(write)
    os.write(relay.write_fd, b"x\n" * 50_000)  # more than a pipe holds
    relay.close()
    assert len(seen) == 50_000
