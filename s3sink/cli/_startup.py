"""Start-up cost of the command: the cyclic garbage collector stays off while botocore, its S3
model and the client are built, then what exists is frozen out of later collections.

Start-up allocates a few hundred thousand objects that live as long as the process: the
collector would scan them again and again for nothing, about 60 ms of CPU (measured
2026-11-26, d2342b5).
"""

from __future__ import annotations

import gc

__all__ = ["begin", "done", "end"]


def begin() -> None:
    """Called first thing in main()."""
    gc.disable()


def done() -> None:
    """Freeze what start-up built and let the collector run again (before data flows)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def end() -> None:
    """Called as main() returns, whatever happened."""
    gc.enable()
