"""``s3sink cat s3://BUCKET/KEY [-o PATH | -- COMMAND [ARG...]]``: the object's bytes, read in
parallel ranges and verified against what the store recorded at upload; its typer declaration
into :class:`~._cat_run.CatOptions`, run by :mod:`._cat_run`."""

from __future__ import annotations

from typing import Annotated

import typer

from .._read.config import DEFAULT_READ_CONCURRENCY
from ._app import CatCommand
from ._cat_run import CatOptions, run_cat
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    DecompressOption,
    EndpointOption,
    IdentityOption,
    JsonOption,
    MaxAttemptsOption,
    ProfileOption,
    ProgressIntervalOption,
    ProgressOption,
    QuietOption,
    ReadConcurrencyOption,
    ReadMaxMemoryOption,
    ReadPartSizeOption,
    RegionOption,
    RequireChecksumOption,
    SseCKeyFileOption,
    VersionIdOption,
)
from ._progress import PLAIN_INTERVAL
from ._report import EXIT_USAGE, error_line

__all__ = ["cat_app"]

_EPILOG = (
    "\b\n"
    "Verified against the object's FULL_OBJECT or COMPOSITE checksum, else its ETag's MD5s;\n"
    "the last range is written only once the whole object checks out.\n"
    "\b\n"
    "Exit codes: 0 read and verified (or nothing to check against: a warning),\n"
    "1 failed (not found, denied, network; no --identity matches), 2 usage error\n"
    "(an unusable --identity file too), 4 the object changed\n"
    "while it was read, 5 its bytes do not match what the store recorded (stdout\n"
    "never gets the last range, -o PATH is not written, COMMAND is stopped before\n"
    "the end of its input; with --identity also: an age object that does not\n"
    "authenticate), 141 stdout's reader closed it early (as cat),\n"
    "130/143/129 on SIGINT/SIGTERM/SIGHUP. COMMAND's outcome: 123 it failed,\n"
    "125 a signal killed it, 126 it could not be run, 127 not found."
)

cat_app = typer.Typer(
    name="cat",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)


@cat_app.command(cls=CatCommand, epilog=_EPILOG)
def cat(  # noqa: PLR0917  # typer maps each parameter to one documented option
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(metavar="s3://BUCKET/KEY", show_default=False, help="What to read."),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            show_default=False,
            help="Write to PATH (under a temporary name, renamed once verified) instead of stdout.",
        ),
    ] = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    version_id: VersionIdOption = None,
    part_size: ReadPartSizeOption = None,
    concurrency: ReadConcurrencyOption = DEFAULT_READ_CONCURRENCY,
    max_memory: ReadMaxMemoryOption = None,
    require_checksum: RequireChecksumOption = False,
    sse_c_key_file: SseCKeyFileOption = None,
    decompress: DecompressOption = False,
    identity: IdentityOption = None,
    max_attempts: MaxAttemptsOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    progress: ProgressOption = None,
    progress_interval: ProgressIntervalOption = PLAIN_INTERVAL,
    debug: DebugOption = False,
) -> None:
    """Write s3://BUCKET/KEY to stdout, to PATH (-o), or to COMMAND's stdin (after --,
    run without a shell: s3sink cat s3://b/db.dump -- pg_restore -d mydb).

    Ranged GETs in parallel, written in order, memory bounded whatever the output's speed;
    every range asks for the ETag of the first answer (If-Match), so an object replaced
    meanwhile fails instead of splicing two versions. With --json the result is one JSON
    object on stdout (on stderr when stdout carries the object).
    """
    command = ctx.meta.get("s3sink.command")
    if command == []:
        error_line("nothing after '--': give the COMMAND to run (see 's3sink cat --help')")
        raise typer.Exit(EXIT_USAGE)
    options = CatOptions(
        uri=uri,
        command=tuple(command or ()),
        output=output,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        version_id=version_id,
        part_size=part_size,
        concurrency=concurrency,
        max_memory=max_memory,
        require_checksum=require_checksum,
        sse_c_key_file=sse_c_key_file,
        decompress=decompress,
        identity=tuple(identity or ()),
        max_attempts=max_attempts,
        json_output=json_output,
        quiet=quiet,
        progress=progress,
        progress_interval=progress_interval,
        debug=debug,
    )
    raise typer.Exit(run_cat(options))
