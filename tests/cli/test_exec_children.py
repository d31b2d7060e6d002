"""Exec mode's child processes (s3sink._exec): a FIFO whose command exits without opening it,
and a command that ignores SIGTERM, as real processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from s3sink._exec.fifo import Fifo
from s3sink._exec.producer import Command


@pytest.mark.timeout(10)
def test_fifo_reader_is_released_when_command_never_opens(tmp_path: Path) -> None:
    """A command that exits without opening the FIFO does not leave the reader blocked."""
    path = tmp_path / "pipe"
    with Fifo(str(path)) as fifo, open(os.devnull, "wb") as devnull:
        command = Command.start(["sh", "-c", "exit 5"], stdout=devnull.fileno())
        fifo.release_when_exits(command)
        reader = fifo.open_reader()
        try:
            assert reader.readinto(memoryview(bytearray(10))) == 0
        finally:
            reader.close()
        assert command.wait() == 5


@pytest.mark.timeout(10)
def test_command_stop_escalates_to_kill() -> None:
    """stop() sends SIGTERM after the grace period, then SIGKILL to a command ignoring it."""
    with open(os.devnull, "wb") as devnull:
        command = Command.start(
            ["sh", "-c", "trap '' TERM; echo ready; sleep 30"], stdout=devnull.fileno()
        )
        time.sleep(0.2)  # let the shell install its trap
        assert command.stop(grace=0.2) == -signal.SIGKILL
