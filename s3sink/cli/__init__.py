"""The ``s3sink`` command: stream stdin, a command's output or a named pipe into one S3 object.

::

    tar c DIR | s3sink s3://BUCKET/KEY                        # stdin to EOF
    s3sink s3://BUCKET/KEY -- pg_dump -Fc mydb                # exec mode: commit iff exit 0
    s3sink s3://BUCKET/KEY --fifo /tmp/db.fifo -- pg_dump -Fc --no-sync -f /tmp/db.fifo mydb
    s3sink s3://BUCKET/KEY --file PATH --resumable [--resume]  # a file, resumable
    s3sink uploads list|abort|lifecycle s3://BUCKET[/PREFIX]  # housekeeping
    s3sink mount s3://BUCKET[/PREFIX] MOUNTPOINT              # a write-only directory
    s3sink cat s3://BUCKET/KEY [-o PATH | -- COMMAND ...]     # read back, verified
    s3sink ls s3://BUCKET[/PREFIX]                            # the backups, newest first
    s3sink prune s3://BUCKET/PREFIX --keep-daily 7 ...        # a retention policy

stdout carries only the result (``--json``); progress, the summary, warnings and errors go to
stderr. The package is the only place that imports typer; rich is imported only when a live
bar is shown (``_progress``) and botocore only when a client is built. Its modules:
``COMMANDS`` below (a lazy table of the subcommands: ``_cat``, ``_uploads``, ``_mount``,
``_doctor``, ``_get``, ``_verify``, ``_ls``, ``_prune``),
``_sink`` (the sink command's declaration) and ``_sink_run`` (one run of it), ``_options``
(option declarations shared by the commands) and ``_settings`` (the sink's parsed options,
their checks, the writer's arguments), ``_report`` (exit codes, errors, output), ``_app``
(click plumbing), ``_progress`` and ``_bar`` (the progress display), ``_startup``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from . import _startup

__all__ = ["app", "main", "uploads_app"]

# The subcommands, imported only when named (``mount`` loads libfuse, ``doctor`` its probes):
# name -> (module, its typer app). Anything else is the sink command's URI.
COMMANDS: dict[str, tuple[str, str]] = {
    "cat": ("._cat", "cat_app"),
    "uploads": ("._uploads", "uploads_app"),
    "mount": ("._mount", "mount_app"),
    "doctor": ("._doctor", "doctor_app"),
    "get": ("._get", "get_app"),
    "verify": ("._verify", "verify_app"),
    "ls": ("._ls", "ls_app"),
    "prune": ("._prune", "prune_app"),
}


def main(argv: Sequence[str] | None = None) -> None:
    """The console entry point (also ``python -m s3sink``).

    A positional URI and subcommands clash in click, so the subcommands are dispatched here,
    from :data:`COMMANDS`.
    """
    _startup.begin()
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        entry = COMMANDS.get(args[0]) if args else None
        if entry is not None:
            module, name = entry
            command = getattr(importlib.import_module(module, __name__), name)
            command(args=args[1:], prog_name=f"s3sink {args[0]}")
        else:
            from ._sink import app  # noqa: PLC0415  # the commands load lazily

            # The arguments go along so that a kept upload's resume command repeats them.
            app(args=args, prog_name="s3sink", obj={"argv": tuple(args)})
    finally:
        _startup.end()


def __getattr__(name: str) -> Any:
    """``s3sink.cli.app`` (the sink command) and ``uploads_app``, loaded when asked for."""
    if name == "app":
        from ._sink import app  # noqa: PLC0415

        return app
    if name == "uploads_app":
        from ._uploads import uploads_app  # noqa: PLC0415

        return uploads_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
