"""What the Dask workers of tests/fsspec run: importable by name in a worker process (a
function of a test module would travel by value, with its module's globals)."""

from __future__ import annotations

from typing import Any

MiB = 1 << 20
PARTITION_MIB = 12


def chunk(index: int, mib: int) -> bytes:
    """The ``mib``-th MiB of partition ``index``: recognisable, not compressible to nothing."""
    return bytes([(index * 31 + mib) % 251]) * MiB


def write_partition(url: str, index: int, fail_after_mib: int | None, options: Any) -> int:
    """Write PARTITION_MIB MiB to ``url`` through fsspec, a MiB at a time; raise after
    ``fail_after_mib`` MiB, inside the ``with`` block, as a task whose computation fails
    half-way through its partition does."""
    import fsspec

    with fsspec.open(url, "wb", **options) as f:
        for mib in range(PARTITION_MIB):
            if mib == fail_after_mib:
                raise RuntimeError(f"partition {index} failed after {mib} MiB")
            f.write(chunk(index, mib))
    return PARTITION_MIB * MiB
