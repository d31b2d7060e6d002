"""The sink command, ``s3sink s3://BUCKET/KEY [-- COMMAND ...]``: its typer declaration (one
parameter per documented option) into :class:`SinkOptions`; :mod:`._sink_run` runs it."""

from __future__ import annotations

from typing import Annotated

import typer

from .._writer.writer import DEFAULT_CONCURRENCY
from ._app import SinkCommand
from ._options import (
    HELP_OPTIONS,
    AclOption,
    ChecksumOption,
    CompressOption,
    ConcurrencyOption,
    ContentEncodingOption,
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
    NoOverwriteOption,
    ObjectLockModeOption,
    ObjectLockRetainUntilOption,
    PartSizeOption,
    ProfileOption,
    ProgressIntervalOption,
    ProgressOption,
    RateLimitOption,
    RegionOption,
    SignPayloadOption,
    SseCKeyFileOption,
    SseKmsKeyIdOption,
    SseOption,
    StorageClassOption,
    TagOption,
    print_version,
    size_option,
)
from ._progress import PLAIN_INTERVAL
from ._report import EXIT_USAGE, error_line
from ._settings import (
    SinkOptions,
)
from ._sink_run import run_sink

__all__ = ["app", "sink"]

_SINK_EPILOG = (
    "\b\n"
    "Exit codes: 0 committed, 1 failed (upload aborted), 2 usage error,\n"
    "3 the abort failed too (the upload id is printed), 4 precondition failed,\n"
    "130/143/129 aborted on SIGINT/SIGTERM/SIGHUP. The command in exec mode\n"
    "(its own status is printed): 123 it failed, 125 a signal killed it,\n"
    "126 it could not be run, 127 not found.\n"
    "\b\n"
    "AWS settings stay botocore's: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,\n"
    "credentials. Housekeeping: s3sink uploads list|abort|lifecycle s3://BUCKET[/PREFIX].\n"
    "What a store checks, and the settings for it: s3sink doctor s3://BUCKET.\n"
    "A write-only directory for programs that write files: s3sink mount s3://BUCKET[/P] DIR."
)

app = typer.Typer(
    name="s3sink",
    add_completion=False,
    rich_markup_mode=None,  # plain click help: no rich import just to print --help
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    context_settings=HELP_OPTIONS,
)


@app.command(cls=SinkCommand, epilog=_SINK_EPILOG, no_args_is_help=False)
def sink(  # noqa: PLR0917  # typer maps each parameter to one documented option
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(metavar="s3://BUCKET/KEY", show_default=False, help="Where to write."),
    ],
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    part_size: PartSizeOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    max_memory: MaxMemoryOption = None,
    expected_size: Annotated[
        int | None,
        typer.Option(
            parser=size_option,
            metavar="SIZE",
            envvar="S3SINK_EXPECTED_SIZE",
            help="Rough stream size, to pick the part size (an estimate is fine).",
        ),
    ] = None,
    content_type: ContentTypeOption = None,
    content_encoding: ContentEncodingOption = None,
    storage_class: StorageClassOption = None,
    acl: AclOption = None,
    sse: SseOption = None,
    sse_kms_key_id: SseKmsKeyIdOption = None,
    sse_c_key_file: SseCKeyFileOption = None,
    metadata: MetadataOption = None,
    tag: TagOption = None,
    no_overwrite: NoOverwriteOption = False,
    checksum: ChecksumOption = "crc64nvme",
    fixed_part_size: Annotated[
        bool,
        typer.Option(
            "--fixed-part-size",
            envvar="S3SINK_FIXED_PART_SIZE",
            help="Never grow parts (stores that need equal parts); fails at 10,000 parts.",
        ),
    ] = False,
    if_match: Annotated[
        str | None,
        typer.Option(
            metavar="ETAG",
            envvar="S3SINK_IF_MATCH",
            help="Replace the object only if its ETag still matches (else exit 4).",
        ),
    ] = None,
    max_attempts: MaxAttemptsOption = None,
    sign_payload: SignPayloadOption = False,
    compress: CompressOption = None,
    encrypt_to: EncryptToOption = None,
    encrypt_to_file: EncryptToFileOption = None,
    rate_limit: RateLimitOption = None,
    object_lock_mode: ObjectLockModeOption = None,
    object_lock_retain_until: ObjectLockRetainUntilOption = None,
    legal_hold: LegalHoldOption = False,
    expected_bucket_owner: ExpectedBucketOwnerOption = None,
    fifo: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            envvar="S3SINK_FIFO",
            help="Create a named pipe (0600) at PATH, upload what is written into it, "
            "remove it afterwards. With exec mode, the command's stdout goes to stderr.",
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            metavar="PATH",
            envvar="S3SINK_FILE",
            help="Upload the file PATH instead of stdin: parts fitted to its size and read in "
            "parallel; fails, publishing nothing, if the file changes meanwhile. (A file "
            "redirected to stdin, < PATH, is read the same way.)",
        ),
    ] = None,
    resumable: Annotated[
        bool,
        typer.Option(
            "--resumable",
            envvar="S3SINK_RESUMABLE",
            help="On a failure or signal keep the upload (and a journal of its parts) "
            "instead of aborting it, and print the command that resumes it.",
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            envvar="S3SINK_RESUME",
            help="Resume the pending upload of this key: parts the store holds with this "
            "run's bytes are not sent again. With none pending, start a new one.",
        ),
    ] = False,
    upload_id: Annotated[
        str | None,
        typer.Option(
            "--upload-id",
            metavar="ID",
            help="With --resume: the pending upload to resume (when several are pending).",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            envvar="S3SINK_ALLOW_EMPTY",
            help="Upload an empty object when the input is empty (refused by default: a "
            "0-byte backup is almost always a failed producer).",
        ),
    ] = False,
    json_output: JsonOption = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", envvar="S3SINK_QUIET", help="No progress, no summary."),
    ] = False,
    progress: ProgressOption = None,
    progress_interval: ProgressIntervalOption = PLAIN_INTERVAL,
    debug: DebugOption = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=print_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Stream stdin (or COMMAND's stdout, or a named pipe) into s3://BUCKET/KEY.

    The object appears only when the whole stream arrived: on any failure, signal or a
    failed COMMAND the multipart upload is aborted (kept for --resume, with --resumable)
    and nothing is written.
    """
    command = ctx.meta.get("s3sink.command")
    if command == []:
        error_line("nothing after '--': give the COMMAND to run (see 's3sink --help')")
        raise typer.Exit(EXIT_USAGE)
    options = SinkOptions(
        argv=tuple((ctx.obj or {}).get("argv", ())),
        uri=uri,
        command=tuple(command or ()),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        part_size=part_size,
        concurrency=concurrency,
        max_memory=max_memory,
        expected_size=expected_size,
        content_type=content_type,
        content_encoding=content_encoding,
        storage_class=storage_class,
        acl=acl,
        sse=sse,
        sse_kms_key_id=sse_kms_key_id,
        sse_c_key_file=sse_c_key_file,
        metadata=tuple(metadata or ()),
        tags=tuple(tag or ()),
        no_overwrite=no_overwrite,
        checksum=checksum,
        fixed_part_size=fixed_part_size,
        if_match=if_match,
        max_attempts=max_attempts,
        sign_payload=sign_payload,
        fifo=fifo,
        file=file,
        resumable=resumable,
        resume=resume,
        upload_id=upload_id,
        allow_empty=allow_empty,
        compress=compress,
        encrypt_to=tuple(encrypt_to or ()),
        encrypt_to_file=tuple(encrypt_to_file or ()),
        rate_limit=rate_limit,
        object_lock_mode=object_lock_mode,
        object_lock_retain_until=object_lock_retain_until,
        legal_hold=legal_hold,
        expected_bucket_owner=expected_bucket_owner,
        json_output=json_output,
        quiet=quiet,
        progress=progress,
        progress_interval=progress_interval,
        debug=debug,
    )
    raise typer.Exit(run_sink(options))
