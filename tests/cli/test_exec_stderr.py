"""Exec mode in a terminal: the command's own stderr lands above the live progress line, one
whole line at a time, never glued onto it and never lost; off a terminal it passes through."""

from __future__ import annotations

import os
import pty
import subprocess
import time
from typing import Any

from tests.support.clirun import S3SINK, body, run_cli

MESSAGE = "producer: dumping table 2"
# Data first, so that the live line is drawn before the command says anything; then two
# lines of its own, a partial one at the very end, and the rest of the data.
SCRIPT = (
    "head -c 3000000 /dev/zero; sleep 1; "
    f"echo '{MESSAGE}' >&2; sleep 0.5; echo 'producer: done' >&2; "
    "printf 'no newline at the end' >&2; head -c 1000 /dev/zero"
)


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """s3sink with its stderr on a pseudo-terminal (so the live line shows); its exit code
    and everything the terminal received."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*S3SINK, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env={**env, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(terminal)
    received = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the last holder of the terminal is gone
            break
        if not chunk:
            break
        received += chunk
    os.close(controller)
    return process.wait(timeout=30), received.decode(errors="replace")


def _row_before(text: str, needle: str) -> str:
    """What stands on the terminal row before ``needle``: since the last line feed or
    carriage return, escape sequences removed."""
    start = text.index(needle)
    row = text[:start].replace("\r", "\n").rsplit("\n", 1)[-1]
    while "\x1b[" in row:  # CSI sequences: ESC [ params final-byte
        head, _, rest = row.partition("\x1b[")
        i = 0
        while i < len(rest) and not ("@" <= rest[i] <= "~"):
            i += 1
        row = head + rest[i + 1 :]
    return row


def test_the_commands_lines_land_above_the_live_line(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """Each line the command writes starts a row of its own (nothing of the progress line
    before it), the partial last line is not lost, and the upload is intact."""
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--", "sh", "-c", SCRIPT]
    code, screen = _run_on_a_terminal(args, env)
    assert code == 0, screen
    for line in (MESSAGE, "producer: done", "no newline at the end"):
        assert line in screen, screen
        assert _row_before(screen, line).strip() == "", repr(_row_before(screen, line))
    assert body(s3_client, bucket, "k") == bytes(3_001_000)


def test_off_a_terminal_the_commands_stderr_passes_through(
    env: dict[str, str], s3_endpoint: str, bucket: str
) -> None:
    """Without a terminal (a cron job's log) the command's stderr is its own, unchanged."""
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--", "sh", "-c", SCRIPT]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr
    assert f"{MESSAGE}\nproducer: done\nno newline at the end".encode() in result.stderr
