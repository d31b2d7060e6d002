"""``s3sink get s3://BUCKET/KEY FILE`` writes one object to a file, and ``s3sink get
s3://BUCKET/PREFIX/ DIR`` restores a tree: every object below PREFIX to DIR/relative-key,
directory markers as directories, several files at once within one memory bound, each
verified before it appears at its name.

Keys are untrusted input (``s3sink._read.paths``): a key that would land outside DIR, or
cannot be a name there, is refused and reported, never followed; the rest is restored and
the run exits 1 naming each refused key. An existing file is refused unless ``--overwrite``.
A file appears at its name only once its object checked out (``s3sink._read.outfile``), so
a failed, corrupted or interrupted restore leaves no partial file and an existing one as it
was. Exit 0 when all was restored, 5 when any object did not match what the store recorded,
1 when any was refused or failed (4 for a single object replaced while read), 130/143 when
interrupted. Lines go to stderr (``-q``: failures only); ``--json`` prints the result on
stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._exec.signals import Interrupted, SignalGuard
from .._location import S3Location, parse_location
from .._read.paths import KeyRefused, shown
from .._sizes import format_size
from ..errors import IdentityError, S3SinkError, UsageError
from ._app import _OneLineErrors
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    DecompressOption,
    EndpointOption,
    IdentityOption,
    JsonOption,
    MaxAttemptsOption,
    ProfileOption,
    ReadConcurrencyOption,
    ReadMaxMemoryOption,
    ReadPartSizeOption,
    RegionOption,
    RequireChecksumOption,
    SseCKeyFileOption,
    VersionIdOption,
)
from ._reading import (
    EXIT_CORRUPT,
    QuietOption,
    ReadOptions,
    describe_check,
    exit_code_of,
    load_identities,
    message_of,
    nothing_below,
    one_version_only,
    read_transport,
    result_record,
    say,
    sse_c_extra,
    worst,
)
from ._report import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command_logging, error_line, report_failure

if TYPE_CHECKING:
    from .._crypt import Identity
    from .._read.paths import TreeEntry
    from .._read.tree import GuardedOutput, Outcome
    from .._results import ReadResult
    from .._store.boto import BotoTransport

__all__ = ["get_app"]

FILES_AT_ONCE = 4  # files restored at once (each with its share of -j and the memory)


class GetCommand(_OneLineErrors, typer.core.TyperCommand):
    """``s3sink get``: the same one-line usage errors as the other commands."""

    help_hint = "s3sink get"


get_app = typer.Typer(
    name="get",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)


class _Written:
    """What --decompress wrote (codec, bytes), told by read_into."""

    def __init__(self) -> None:
        self.codec: str | None = None
        self.size = 0

    def __call__(self, codec: str, size: int) -> None:
        self.codec, self.size = codec, size


def _detail(result: ReadResult, written: _Written) -> str:
    text = f"{format_size(result.size)}, {describe_check(result)}"
    if result.encryption is not None:
        text += f"; decrypted ({result.encryption}, authenticated)"
    if written.codec is not None:
        text += f"; {written.codec} decompressed to {format_size(written.size)}"
    return text


def _record(result: ReadResult, path: str, written: _Written) -> dict[str, Any]:
    record = {**result_record(result), "path": path}
    if written.codec is not None:
        record.update(decompressed=written.codec, decompressed_size=written.size)
    return record


def _single(transport: BotoTransport, location: S3Location, target: Path,
            options: ReadOptions, *, overwrite: bool, decompress: bool, as_json: bool,
            quiet: bool, identities: Sequence[Identity]) -> int:  # fmt: skip
    """One object into one file (into DIR/its last name when ``target`` is a directory)."""
    from .._read.outfile import OutputFile  # noqa: PLC0415
    from .._read.paths import relative_path  # noqa: PLC0415
    from .._read.reader import ObjectReader  # noqa: PLC0415
    from .._read.restore import read_into  # noqa: PLC0415

    if target.is_dir():
        folder, _, _ = location.key.rpartition("/")
        name = relative_path(location.key, f"{folder}/" if folder else "").parts[-1]
        target = target / name
    written = _Written()
    out, dir_fd = OutputFile.at(target, overwrite=overwrite)
    try:
        with out:
            reader = ObjectReader(transport, location.bucket, location.key, options.config())
            result = read_into(reader, out, decompress=decompress, on_decompressed=written,
                               identities=identities,
                               on_encrypted=_encrypted(location.uri))  # fmt: skip
            out.commit()
    finally:
        os.close(dir_fd)
    if as_json:
        sys.stdout.write(json.dumps(_record(result, str(target), written)) + "\n")
    if not quiet or not result.verified:
        say(f"{location.uri} -> {target} ({_detail(result, written)})")
    return EXIT_OK


def _tree(transport: BotoTransport, location: S3Location, target: Path, options: ReadOptions,
          *, overwrite: bool, decompress: bool, as_json: bool, quiet: bool,
          identities: Sequence[Identity]) -> int:  # fmt: skip
    """Every object below the prefix into DIR (see the module)."""
    from .._read.paths import TreeRoot, plan_tree  # noqa: PLC0415
    from .._read.reader import ObjectReader  # noqa: PLC0415
    from .._read.restore import read_into  # noqa: PLC0415
    from .._read.tree import Cancel, each_in_parallel, restore_file  # noqa: PLC0415
    from .._store.listing import list_objects  # noqa: PLC0415

    started = time.monotonic()
    bucket, prefix = location.bucket, location.key
    etags = {o.key: o.etag for o in list_objects(transport.client, bucket, prefix)}
    if not etags:
        raise nothing_below(location.uri)
    plan = plan_tree(prefix, etags)
    readers = max(1, min(FILES_AT_ONCE, options.concurrency, len(plan.files)))
    options.config(readers=readers)  # a --max-memory too small for them: refused now
    report = _TreeReport(bucket, target, as_json=as_json, quiet=quiet)
    for refused in plan.refused:
        report.refused(refused.key, refused.reason)
    with TreeRoot(target) as root:
        for entry in plan.dirs:
            try:
                root.make_dir(entry)
                report.directory(entry)
            except KeyRefused as exc:
                report.refused(exc.key, exc.reason)
        cancel = Cancel()

        def fetch(entry: TreeEntry, out: GuardedOutput) -> tuple[ReadResult, _Written]:
            config = options.config(readers=readers, if_match=etags[entry.key])
            written = _Written()
            reader = ObjectReader(transport, bucket, entry.key, config)
            result = read_into(reader, out, decompress=decompress, on_decompressed=written,
                               identities=identities, cancel=cancel,
                               on_encrypted=_encrypted(f"s3://{bucket}/{entry.key}"))  # fmt: skip
            return result, written

        def work(entry: TreeEntry) -> tuple[ReadResult, _Written]:
            return restore_file(root, entry, fetch, overwrite=overwrite, cancel=cancel)

        outcomes = each_in_parallel(plan.files, work, workers=readers, cancel=cancel)
        with contextlib.closing(outcomes):
            for outcome in outcomes:
                report.file(outcome)
    return report.finish(time.monotonic() - started)


def _encrypted(uri: str) -> Callable[[], None]:
    def note() -> None:
        say(f"{uri}: age-encrypted, written as stored (give --identity to decrypt)")

    return note


class _TreeReport:
    """The lines (stderr) or the JSON (stdout) of a tree restore, and its exit code."""

    def __init__(self, bucket: str, target: Path, *, as_json: bool, quiet: bool) -> None:
        self._bucket, self._target = bucket, target
        self._as_json, self._quiet = as_json, quiet
        self._codes: list[int] = []
        self._size = 0
        self._data: dict[str, list[Any]] = {
            "restored": [], "directories": [], "refused": [], "failed": [],
        }  # fmt: skip

    def _uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def refused(self, key: str, reason: str) -> None:
        self._codes.append(EXIT_FAILED)
        self._data["refused"].append({"key": key, "reason": reason})
        if not self._as_json:
            error_line(f"refused {shown(self._uri(key))}: {reason}")

    def directory(self, entry: TreeEntry) -> None:
        self._data["directories"].append(str(self._target / entry.relative))

    def file(self, outcome: Outcome[TreeEntry, tuple[ReadResult, _Written]]) -> None:
        entry, error = outcome.item, outcome.error
        path = str(self._target / entry.relative)
        if error is not None and outcome.refused:
            reason = error.reason if isinstance(error, KeyRefused) else str(error)
            self.refused(entry.key, reason)
            return
        if error is not None:
            code = exit_code_of(error)
            self._codes.append(code)
            status = "corrupt" if code == EXIT_CORRUPT else "failed"
            self._data["failed"].append({"key": entry.key, "status": status, "error": str(error)})
            if not self._as_json:
                error_line(f"{'CORRUPT' if code == EXIT_CORRUPT else 'failed'}: {error}")
            return
        assert outcome.result is not None  # noqa: S101  # no error: a result
        result, written = outcome.result
        self._codes.append(EXIT_OK)
        self._size += result.size
        self._data["restored"].append(_record(result, path, written))
        if not self._as_json and (not self._quiet or not result.verified):
            say(f"{self._uri(entry.key)} -> {path} ({_detail(result, written)})")

    def finish(self, seconds: float) -> int:
        code = worst(self._codes)
        data = self._data
        counts = {name: len(items) for name, items in data.items()}
        if self._as_json:
            summary = {**counts, "bytes": self._size, "seconds": round(seconds, 3)}
            sys.stdout.write(json.dumps({"ok": code == EXIT_OK, "summary": summary, **data}) + "\n")
        else:
            say(
                f"restored {counts['restored']} files ({format_size(self._size)}) and "
                f"{counts['directories']} directories into {self._target} in {seconds:.1f} s; "
                f"{counts['refused']} refused, {counts['failed']} failed"
            )
        return code


@get_app.command(cls=GetCommand)
def get(  # noqa: PLR0917  # typer maps parameters to options
    uri: Annotated[
        str,
        typer.Argument(
            metavar="s3://BUCKET/KEY",
            show_default=False,
            help="An object, or a prefix ending in '/' (s3://BUCKET/PREFIX/) for a tree.",
        ),
    ],
    target: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            show_default=False,
            help="The file (or a directory to put it in); for a tree, the directory.",
        ),
    ],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing files (refused without).")
    ] = False,
    decompress: DecompressOption = False,
    identity: IdentityOption = None,
    version_id: VersionIdOption = None,
    require_checksum: RequireChecksumOption = False,
    sse_c_key_file: SseCKeyFileOption = None,
    part_size: ReadPartSizeOption = None,
    concurrency: ReadConcurrencyOption = 8,
    max_memory: ReadMaxMemoryOption = None,
    max_attempts: MaxAttemptsOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Download an object to a file, or every object below a prefix to a directory, each
    verified against what the store recorded at upload before it appears at its name.

    Exit 0 when all was restored, 5 when any object did not match, 1 when any key or
    existing file was refused or any read failed."""
    with command_logging(debug), SignalGuard():
        try:
            location = parse_location(uri, allow_empty_key=True)
            tree = location.key == "" or location.key.endswith("/")
            if tree:
                one_version_only(version_id, "a prefix")
            options = ReadOptions(part_size, concurrency, max_memory, require_checksum,
                                  version_id, max_attempts,
                                  extra=sse_c_extra(sse_c_key_file))  # fmt: skip
            options.config()  # the options checked before anything is read
            identities = load_identities(identity)
            transport = read_transport(concurrency=concurrency, endpoint_url=endpoint_url,
                                       region=region, profile=profile,
                                       max_attempts=max_attempts)  # fmt: skip
            run = _tree if tree else _single
            code = run(transport, location, target, options, overwrite=overwrite,
                       decompress=decompress, as_json=json_output, quiet=quiet,
                       identities=identities)  # fmt: skip
        except (UsageError, IdentityError) as exc:
            report_failure(exc, str(exc), debug=debug)
            code = EXIT_USAGE
        except (S3SinkError, OSError) as exc:
            report_failure(exc, message_of(exc), debug=debug)
            code = exit_code_of(exc)
        except Interrupted as exc:
            error_line(f"interrupted ({exc}): no file was left half written")
            code = exc.exit_code
    raise typer.Exit(code)
