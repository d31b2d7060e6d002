"""``s3sink mount s3://BUCKET[/PREFIX] MOUNTPOINT``: a write-only directory whose files stream
into S3 objects (the filesystem is ``s3sink._mount.fs``), in the foreground until unmounted
(``fusermount3 -u``, ``umount``) or stopped by SIGINT, SIGTERM or SIGHUP (as an unmount; a
second signal aborts what is open and exits 128+N: ``s3sink._mount.signals``); then a
summary, and exit 1 if any file failed or was aborted. libfuse is loaded only by
``s3sink._mount.fuse``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._location import S3Location, parse_location
from .._mount.fs import (
    FileRecord,
    FileRetention,
    ProcHolders,
    StoreMover,
    UploadFS,
    marker_options,
)
from .._mount.fuse import FuseLoop, MountedFS, check_mountpoint, load_fuse, serve
from .._mount.signals import StopSignals
from .._sizes import format_size
from .._store.ratelimit import RateLimiter
from .._upload.policy import DEFAULT_MAX_MEMORY, DEFAULT_PART_SIZE
from .._upload.pool import SharedBudget
from .._writer.writer import DEFAULT_CONCURRENCY, S3MultipartWriter
from ..errors import UsageError
from ._app import MountCommand
from ._commands import connection_options
from ._options import (
    HELP_OPTIONS,
    AclOption,
    ChecksumOption,
    CompressOption,
    ConcurrencyOption,
    ContentTypeOption,
    DebugOption,
    EncryptToFileOption,
    EncryptToOption,
    EndpointOption,
    ExpectedBucketOwnerOption,
    JsonOption,
    LegalHoldOption,
    MaxAttemptsOption,
    MaxMemoryOption,
    MetadataOption,
    MountRetainUntilOption,
    NoOverwriteOption,
    ObjectLockModeOption,
    PartSizeOption,
    ProfileOption,
    RateLimitOption,
    RegionOption,
    SignPayloadOption,
    SseKmsKeyIdOption,
    SseOption,
    StorageClassOption,
    TagOption,
)
from ._preflight import check_bucket
from ._report import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PreflightFailed,
    command_logging,
    report_failure,
    scrub,
)
from ._settings import (
    SinkOptions,
    client_for,
    writer_options,
)

if TYPE_CHECKING:
    from .._store.client import S3Client

__all__ = ["mount_app", "run_mount"]

log = logging.getLogger("s3sink")

# Seconds a write waits for memory before that file fails (EIO) instead of hanging.
MEMORY_WAIT = 60.0


mount_app = typer.Typer(
    name="mount",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)


@mount_app.command(cls=MountCommand)
def mount(  # noqa: PLR0917  # typer maps each parameter to one documented option
    target: Annotated[
        str,
        typer.Argument(
            metavar="s3://BUCKET[/PREFIX]",
            show_default=False,
            help="Where the files go: PREFIX/relative/path.",
        ),
    ],
    mountpoint: Annotated[
        str, typer.Argument(metavar="MOUNTPOINT", show_default=False, help="An empty directory.")
    ],
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    part_size: PartSizeOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    max_memory: MaxMemoryOption = None,
    content_type: ContentTypeOption = None,
    storage_class: StorageClassOption = None,
    acl: AclOption = None,
    sse: SseOption = None,
    sse_kms_key_id: SseKmsKeyIdOption = None,
    metadata: MetadataOption = None,
    tag: TagOption = None,
    no_overwrite: NoOverwriteOption = False,
    checksum: ChecksumOption = "crc64nvme",
    max_attempts: MaxAttemptsOption = None,
    sign_payload: SignPayloadOption = False,
    compress: CompressOption = None,
    encrypt_to: EncryptToOption = None,
    encrypt_to_file: EncryptToFileOption = None,
    rate_limit: RateLimitOption = None,
    object_lock_mode: ObjectLockModeOption = None,
    object_lock_retain_until: MountRetainUntilOption = None,
    legal_hold: LegalHoldOption = False,
    expected_bucket_owner: ExpectedBucketOwnerOption = None,
    exit_on_error: Annotated[
        bool,
        typer.Option(
            "--exit-on-error",
            envvar="S3SINK_EXIT_ON_ERROR",
            help="Unmount at the first file that fails or is aborted.",
        ),
    ] = False,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Mount a write-only directory: every file written below MOUNTPOINT streams into
    s3://BUCKET/PREFIX/relative/path as it is written, and is committed when closed (or at
    fsync). Writes must be sequential; nothing is published partially. Runs until unmounted
    (fusermount3 -u MOUNTPOINT) or stopped (SIGINT, SIGTERM, SIGHUP: files still open are
    aborted); exits 0 when every file was committed, 1 if any failed or was aborted, 128+N
    after a second signal N (it aborts what is open at once). The status of every file is in
    MOUNTPOINT/.s3sink-status."""
    opts = SinkOptions(
        uri=target,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        part_size=part_size,
        concurrency=concurrency,
        max_memory=max_memory,
        content_type=content_type,
        storage_class=storage_class,
        acl=acl,
        sse=sse,
        sse_kms_key_id=sse_kms_key_id,
        metadata=tuple(metadata or ()),
        tags=tuple(tag or ()),
        no_overwrite=no_overwrite,
        checksum=checksum,
        max_attempts=max_attempts,
        sign_payload=sign_payload,
        compress=compress,
        encrypt_to=tuple(encrypt_to or ()),
        encrypt_to_file=tuple(encrypt_to_file or ()),
        rate_limit=rate_limit,
        object_lock_mode=object_lock_mode,
        object_lock_retain_until=(
            object_lock_retain_until.date if object_lock_retain_until is not None else None
        ),
        legal_hold=legal_hold,
        expected_bucket_owner=expected_bucket_owner,
        json_output=json_output,
        debug=debug,
    )
    duration = object_lock_retain_until.duration if object_lock_retain_until else None
    raise typer.Exit(run_mount(opts, mountpoint, exit_on_error=exit_on_error, retain_for=duration))


def run_mount(
    opts: SinkOptions,
    mountpoint: str,
    *,
    exit_on_error: bool,
    retain_for: dt.timedelta | None = None,
) -> int:
    """Mount, serve until unmounted, report; returns the exit code. ``retain_for``: the
    Object Lock retention was given as a duration, which counts from each file's commit."""
    with command_logging(opts.debug):
        try:
            location = parse_location(opts.uri, allow_empty_key=True)
            where = check_mountpoint(mountpoint)
            options = writer_options(opts)
            fuse = load_fuse()
            client = client_for(opts, concurrency=max(10, 4 * opts.concurrency))
        except UsageError as exc:
            report_failure(exc, str(exc), debug=opts.debug)
            _failure_json(opts, str(exc))
            return EXIT_USAGE
        if not _bucket_checked(opts, location, client, where):
            return EXIT_FAILED
        budget = SharedBudget(opts.max_memory or DEFAULT_MAX_MEMORY, max_wait=MEMORY_WAIT)
        for unused in ("expected_size", "resumable", "resume", "upload_id"):
            options.pop(unused, None)
        if opts.rate_limit is not None:
            # One cap for the whole mount, shared by every file's parts.
            options["rate_limit"] = RateLimiter(opts.rate_limit)

        retention = None
        if retain_for is not None and opts.object_lock_mode is not None:
            retention = FileRetention(opts.object_lock_mode, retain_for)

        def make_writer(key: str, marker: bool) -> S3MultipartWriter:
            chosen = marker_options(options) if marker else options
            if retention is not None and not marker:
                chosen = retention.options(chosen)  # from now: each file its own date
            return S3MultipartWriter(
                location.bucket, key, client=client, memory_budget=budget, **chosen
            )

        loop = FuseLoop()

        def stop() -> None:
            if exit_on_error:
                log.error("--exit-on-error: unmounting %s", where)
                loop.exit()

        from .._store.boto import BotoTransport  # noqa: PLC0415

        fs = MountedFS(
            loop=loop,
            bucket=location.bucket,
            prefix=location.key,
            make_writer=make_writer,
            budget=budget,
            part_size=opts.part_size or DEFAULT_PART_SIZE,
            mover=StoreMover(BotoTransport(client), location.bucket),
            on_failure=stop,
            retention=retention,
            holders=ProcHolders(where).writing,
            on_mounted=lambda: _say_mounted(location.uri, where),
        )
        return _serve(fuse, fs, where, opts)


def _say_mounted(uri: str, where: str) -> None:
    sys.stderr.write(f"s3sink: mounted {uri} at {where}; unmount with: fusermount3 -u {where}\n")
    sys.stderr.flush()


def _serve(fuse: Any, fs: MountedFS, where: str, opts: SinkOptions) -> int:
    """Serve until unmounted, or stopped by SIGINT, SIGTERM or SIGHUP (as an unmount: see
    s3sink._mount.signals; a second signal aborts what is still open and exits 128+N), then
    report; returns the exit code."""

    def at_once(signum: int) -> None:
        fs.stop_open_files(f"a second signal ({signal.Signals(signum).name})")

    signals = StopSignals(on_first=lambda _signum: fs.loop.exit(), on_second=at_once)
    with signals:
        try:
            serve(fuse, fs, where)
        except RuntimeError as exc:
            # Never a signal: those end the loop through fs.loop.exit(), which libfuse's
            # loop returns from with 0.
            report_failure(exc, f"mounting {where} failed: {exc}", debug=opts.debug)
            _failure_json(opts, f"mounting {where} failed: {exc}")
            return EXIT_FAILED
        finally:
            fs.abort_open_files("unmount")
        for key, upload_id in fs.abort_orphans():
            sys.stderr.write(
                f"s3sink: upload {upload_id} of s3://{fs.bucket}/{key} could not be "
                f"aborted; remove it with: s3sink uploads abort s3://{fs.bucket}/{key} "
                f"--upload-id {upload_id}\n"
            )
        code = _report(fs, json_output=opts.json_output)
    return code if signals.exit_code is None else signals.exit_code


def _bucket_checked(opts: SinkOptions, location: S3Location, client: S3Client, where: str) -> bool:
    """Whether the bucket may take the files (cli._preflight), checked before the mount
    comes up: a mount on a missing bucket would take every file and fail each at its
    commit. Said when not, and with --json one object."""
    from .._store.boto import BotoTransport  # noqa: PLC0415

    connection = connection_options(
        endpoint_url=opts.endpoint_url, region=opts.region, profile=opts.profile
    )
    try:
        check_bucket(
            BotoTransport(client),
            location,
            connection=connection,
            untouched=f"nothing was mounted at {where}",
        )
    except PreflightFailed as exc:
        report_failure(exc, str(exc), debug=opts.debug)
        _failure_json(opts, str(exc))
        return False
    return True


def _failure_json(opts: SinkOptions, message: str) -> None:
    """With --json, a mount that never came up still prints its one object."""
    if opts.json_output:
        record = {"ok": False, "message": scrub(message), "committed": [], "failed": []}
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def _report(fs: UploadFS, *, json_output: bool) -> int:
    committed, failures = fs.committed(), fs.failures()
    if json_output:
        record: dict[str, Any] = {
            "ok": not failures,
            "committed": [_as_dict(r) for r in committed],
            "failed": [_as_dict(r) for r in failures],
        }
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    total = sum(r.size for r in committed)
    stored = sum(r.object_size for r in committed)
    failed = sum(r.state == "failed" for r in failures)
    aborted = len(failures) - failed
    stored_note = "" if stored == total else f", {format_size(stored)} stored"
    sys.stderr.write(
        f"s3sink: unmounted: {len(committed)} file{'' if len(committed) == 1 else 's'} committed "
        f"({format_size(total)}{stored_note}), {failed} failed, {aborted} aborted\n"
    )
    for record_ in failures:
        sys.stderr.write(f"s3sink: {record_.state}: {record_.error}\n")
    return EXIT_FAILED if failures else EXIT_OK


def _as_dict(record: FileRecord) -> dict[str, Any]:
    return {
        "path": record.path,
        "key": record.key,
        "state": record.state,
        "size": record.size,
        "checksum": record.checksum,
        "error": record.error,
        "stored_size": record.stored_size,
    }
