"""The read table's consumer: reads a tool's output from stdin, as a pipe reader such as
``zstd -d`` or ``pg_restore`` would, and checks every byte against the synthetic object
(``synthetic_data``). Prints one JSON line: the bytes received and the offset of the first
wrong byte (null when all were right).

Run with the bench venv's Python, ``TOOL | python readsink.py``. It leaves the pipe's size as
the tool made it (64 KiB unless the tool enlarges it) and reads into one reused 1 MiB buffer;
each read is compared in place with the block (``bytearray.startswith``, a memcmp), which costs
about 0.02 s per GiB: its CPU is its own, apart from the tool's.
"""

from __future__ import annotations

import io
import json
import sys

import synthetic_data

BUFFER = synthetic_data.BLOCK


def main() -> int:
    """Read stdin to its end; print {"bytes": N, "mismatch_at": OFFSET or null}."""
    block = synthetic_data.BLOCK
    pattern = memoryview(synthetic_data.block() * 2)
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    stdin = io.FileIO(sys.stdin.fileno(), "rb", closefd=False)  # unbuffered reads
    position = 0
    mismatch: int | None = None
    while True:
        got = stdin.readinto(view)
        if not got:
            break
        if mismatch is None:
            offset = position % block
            if not buffer.startswith(pattern[offset : offset + got]):
                wrong = next(
                    i for i in range(got) if buffer[i] != pattern[offset + i]
                )  # fmt: skip
                mismatch = position + wrong
        position += got
    print(json.dumps({"bytes": position, "mismatch_at": mismatch}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
