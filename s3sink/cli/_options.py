"""The command's option declarations, shared by the sink command and ``mount`` (and in part
by ``uploads`` and ``doctor``): each option's typer ``Annotated`` type with its help, its
``S3SINK_*`` variable and its parser. What the options mean once parsed is
:mod:`._settings`'s."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from .._read.config import DEFAULT_READ_PART_SIZE
from .._sizes import format_size, parse_duration, parse_size
from .._store.objectlock import MODES, RetainUntil, retain_until, retain_until_or_duration
from .._store.ratelimit import parse_rate
from .._upload.policy import DEFAULT_PART_SIZE
from .._version import __version__
from .._writer.compress import parse_compress
from ..errors import UsageError
from ._report import EXIT_OK

if TYPE_CHECKING:
    pass


Checksum = Literal["crc64nvme", "crc32c", "crc32", "sha256", "md5", "off"]
Sse = Literal["AES256", "aws:kms", "aws:kms:dsse"]
_V = TypeVar("_V")
CannedAcl = Literal[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
]


def _click_parser(parse: Callable[[str], _V]) -> Callable[[str], _V]:
    """``parse`` for a typer ``parser=``: its UsageError becomes click's BadParameter (exit 2,
    in click's words for the option)."""

    def parser(text: str) -> _V:
        try:
            return parse(text)
        except UsageError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parser


size_option = _click_parser(parse_size)
duration_option = _click_parser(parse_duration)
rate_option = _click_parser(parse_rate)
# ``zstd[:LEVEL]`` / ``gzip[:LEVEL]``, as its canonical ``codec:level``.
compress_option = _click_parser(lambda text: parse_compress(text).name)
# A date, a time or a duration from now (``30d``): the retention's end, in UTC.
retain_until_option = _click_parser(retain_until)
# The mount's: the date, and the duration when it is one (it counts from each file's commit).
mount_retain_until_option = _click_parser(retain_until_or_duration)


def lock_mode_option(text: str) -> str:
    """GOVERNANCE or COMPLIANCE, in any case."""
    mode = text.strip().upper()
    if mode not in MODES:
        raise typer.BadParameter(f"{text!r}: use GOVERNANCE or COMPLIANCE")
    return mode


_ACCOUNT_RE = re.compile(r"\d{12}")


def account_option(text: str) -> str:
    """An AWS account ID: twelve digits."""
    if not _ACCOUNT_RE.fullmatch(text.strip()):
        raise typer.BadParameter(f"{text!r} is not an AWS account ID (12 digits)")
    return text.strip()


def count_option(text: str) -> int:
    """A whole number of at least 1 (said in words, not click's ``x>=1``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise typer.BadParameter(f"{text!r} is not a whole number of at least 1")
    return value


# -h as well as --help, on every subcommand.
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"s3sink {__version__}\n")
        raise typer.Exit(EXIT_OK)


EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="S3SINK_ENDPOINT_URL",
        metavar="URL",
        help="S3 endpoint, for S3-compatible stores [default: botocore's, e.g. AWS_ENDPOINT_URL].",
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        envvar="S3SINK_REGION",
        metavar="REGION",
        help="AWS region [default: botocore's, AWS_REGION].",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        envvar="S3SINK_PROFILE",
        metavar="NAME",
        help="AWS profile [default: botocore's, AWS_PROFILE].",
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug", envvar="S3SINK_DEBUG", help="Debug logging; tracebacks on errors (no locals)."
    ),
]
# The writer's options, shared by the sink command and `s3sink mount`.
PartSizeOption = Annotated[
    int | None,
    typer.Option(
        parser=size_option,
        metavar="SIZE",
        envvar="S3SINK_PART_SIZE",
        help=f"First part size, 5MiB..5GiB; parts grow on long streams "
        f"[default: {format_size(DEFAULT_PART_SIZE)}].",
    ),
]
ConcurrencyOption = Annotated[
    int,
    typer.Option(
        "--concurrency",
        "-j",
        parser=count_option,
        metavar="N",
        envvar="S3SINK_CONCURRENCY",
        help="Parts uploaded in parallel.",
    ),
]
MaxMemoryOption = Annotated[
    int | None,
    typer.Option(
        parser=size_option,
        metavar="SIZE",
        envvar="S3SINK_MAX_MEMORY",
        help=(
            "Cap on part buffers alive at once [default: 1GiB, or two parts once "
            "parts exceed 512MiB]."
        ),
    ),
]
CompressOption = Annotated[
    str | None,
    typer.Option(
        "--compress",
        parser=compress_option,
        metavar="CODEC[:LEVEL]",
        envvar="S3SINK_COMPRESS",
        show_default=False,
        help="Compress before uploading, on all cores: zstd[:1..19] or gzip[:1..9] (both "
        "default to 3). Content-Type application/zstd or application/gzip unless "
        "--content-type says otherwise.",
    ),
]
RateLimitOption = Annotated[
    int | None,
    typer.Option(
        "--rate-limit",
        parser=rate_option,
        metavar="RATE",
        envvar="S3SINK_RATE_LIMIT",
        show_default=False,
        help="Cap on bytes sent to the store, all parts and retries together: 50MiB/s, "
        "200Mbit/s, 1.5GB/s, or bytes per second.",
    ),
]
ObjectLockModeOption = Annotated[
    str | None,
    typer.Option(
        "--object-lock-mode",
        parser=lock_mode_option,
        metavar="GOVERNANCE|COMPLIANCE",
        envvar="S3SINK_OBJECT_LOCK_MODE",
        show_default=False,
        help="Object Lock retention mode of the object (the bucket must have Object Lock "
        "enabled); needs --object-lock-retain-until.",
    ),
]
ObjectLockRetainUntilOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--object-lock-retain-until",
        parser=retain_until_option,
        metavar="DATE|DURATION",
        envvar="S3SINK_OBJECT_LOCK_RETAIN_UNTIL",
        show_default=False,
        help="End of the retention: 2027-01-31, 2027-01-31T12:00:00Z, or a duration from the "
        "start of the upload (30d, 12h, 2w, 1y).",
    ),
]
MountRetainUntilOption = Annotated[
    RetainUntil | None,
    typer.Option(
        "--object-lock-retain-until",
        parser=mount_retain_until_option,
        metavar="DATE|DURATION",
        envvar="S3SINK_OBJECT_LOCK_RETAIN_UNTIL",
        show_default=False,
        help="End of the retention: 2027-01-31, 2027-01-31T12:00:00Z, or a duration from "
        "each file's commit (30d, 12h, 2w, 1y).",
    ),
]
LegalHoldOption = Annotated[
    bool,
    typer.Option(
        "--legal-hold",
        envvar="S3SINK_LEGAL_HOLD",
        help="Put an Object Lock legal hold on the object (no date; lifted only explicitly).",
    ),
]
ExpectedBucketOwnerOption = Annotated[
    str | None,
    typer.Option(
        "--expected-bucket-owner",
        parser=account_option,
        metavar="ACCOUNT_ID",
        envvar="S3SINK_EXPECTED_BUCKET_OWNER",
        show_default=False,
        help="Fail (403) unless the bucket belongs to this AWS account; sent on every "
        "request that writes.",
    ),
]
ContentTypeOption = Annotated[
    str | None, typer.Option(envvar="S3SINK_CONTENT_TYPE", metavar="TYPE", help="Content-Type.")
]
ContentEncodingOption = Annotated[
    str | None,
    typer.Option(envvar="S3SINK_CONTENT_ENCODING", metavar="ENCODING", help="Content-Encoding."),
]
StorageClassOption = Annotated[
    str | None,
    typer.Option(
        envvar="S3SINK_STORAGE_CLASS", metavar="CLASS", help="e.g. STANDARD_IA, GLACIER_IR."
    ),
]
AclOption = Annotated[
    CannedAcl | None,
    typer.Option(
        envvar="S3SINK_ACL",
        metavar="ACL",
        help="Canned ACL: private, public-read, bucket-owner-full-control, ...",
    ),
]
SseOption = Annotated[Sse | None, typer.Option(envvar="S3SINK_SSE", help="Server-side encryption.")]
SseKmsKeyIdOption = Annotated[
    str | None,
    typer.Option(
        envvar="S3SINK_SSE_KMS_KEY_ID", metavar="KEY", help="KMS key (implies --sse aws:kms)."
    ),
]
EncryptToOption = Annotated[
    list[str] | None,
    typer.Option(
        "--encrypt-to",
        metavar="RECIPIENT",
        show_default=False,
        help="Store an age file that only this recipient's identity opens (age -d -i KEY "
        "decrypts it): an age public key (age1…) or an SSH public key (ssh-ed25519 …, "
        "ssh-rsa …). Repeatable; after --compress. Object names, sizes and metadata are not "
        "encrypted.",
    ),
]
EncryptToFileOption = Annotated[
    list[str] | None,
    typer.Option(
        "--encrypt-to-file",
        metavar="PATH",
        envvar="S3SINK_ENCRYPT_TO_FILE",
        show_default=False,
        help="Recipients from a file, one per line, # comments (as age -R reads it). "
        "Repeatable, and with --encrypt-to.",
    ),
]
SseCKeyFileOption = Annotated[
    str | None,
    typer.Option(
        "--sse-c-key-file",
        metavar="PATH",
        envvar="S3SINK_SSE_C_KEY_FILE",
        show_default=False,
        help="SSE-C: the store encrypts with this key (a file of 32 raw bytes or their "
        "base64), sent with every request; the same key reads the object back. Never "
        "printed, never in a resume journal.",
    ),
]
MetadataOption = Annotated[
    list[str] | None,
    typer.Option(metavar="KEY=VALUE", envvar="S3SINK_METADATA", help="User metadata (repeatable)."),
]
TagOption = Annotated[
    list[str] | None,
    typer.Option(metavar="KEY=VALUE", envvar="S3SINK_TAG", help="Object tag (repeatable)."),
]
NoOverwriteOption = Annotated[
    bool,
    typer.Option(
        "--no-overwrite",
        envvar="S3SINK_NO_OVERWRITE",
        help="Fail (exit 4) instead of replacing an existing object (If-None-Match: *).",
    ),
]
ChecksumOption = Annotated[
    Checksum,
    typer.Option(
        envvar="S3SINK_CHECKSUM",
        case_sensitive=False,
        help="Checksum sent with every part (the store verifies it where it can; s3sink "
        "checks what the store confirms, else the ETag); md5: Content-MD5 and ETags, for "
        "stores that echo checksums without checking them; off: no checksum header.",
    ),
]
ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        envvar="S3SINK_PROGRESS",
        show_default=False,
        help="Progress on stderr [default: a bar when stderr is a terminal].",
    ),
]
# Seconds between plain progress lines (_progress.PLAIN_INTERVAL); hidden: for tests.
ProgressIntervalOption = Annotated[
    float,
    typer.Option(envvar="S3SINK_PROGRESS_INTERVAL", hidden=True, min=0.01),
]
MaxAttemptsOption = Annotated[
    int | None,
    typer.Option(
        parser=count_option,
        metavar="N",
        envvar="S3SINK_MAX_ATTEMPTS",
        show_default=False,
        help="Tries per request, the first included [default: AWS_MAX_ATTEMPTS, else 10].",
    ),
]
SignPayloadOption = Annotated[
    bool,
    typer.Option(
        "--sign-payload",
        envvar="S3SINK_SIGN_PAYLOAD",
        help="SHA-256 every byte for the request signatures (tamper-evidence on plain "
        "HTTP); by default the parts' checksums guard the bytes.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", envvar="S3SINK_JSON", help="Print the result as JSON on stdout.")
]
# Reading back (`s3sink cat`, and the read commands after it): the same variables as the
# upload's where the meaning carries over (parallelism, the piece size, the memory bound).
ReadPartSizeOption = Annotated[
    int | None,
    typer.Option(
        "--part-size",
        parser=size_option,
        metavar="SIZE",
        envvar="S3SINK_PART_SIZE",
        show_default=False,
        help="Size of each ranged GET; ranges follow the object's own parts when they are "
        f"known [default: {format_size(DEFAULT_READ_PART_SIZE)}].",
    ),
]
ReadConcurrencyOption = Annotated[
    int,
    typer.Option(
        "--concurrency",
        "-j",
        parser=count_option,
        metavar="N",
        envvar="S3SINK_CONCURRENCY",
        help="Ranges read in parallel.",
    ),
]
ReadMaxMemoryOption = Annotated[
    int | None,
    typer.Option(
        parser=size_option,
        metavar="SIZE",
        envvar="S3SINK_MAX_MEMORY",
        show_default=False,
        help="Cap on range buffers alive at once, however slow the output is "
        "[default: concurrency + 2 ranges].",
    ),
]
VersionIdOption = Annotated[
    str | None,
    typer.Option(
        "--version-id",
        metavar="ID",
        envvar="S3SINK_VERSION_ID",
        show_default=False,
        help="Read this version of the object (a versioned bucket).",
    ),
]
RequireChecksumOption = Annotated[
    bool,
    typer.Option(
        "--require-checksum",
        envvar="S3SINK_REQUIRE_CHECKSUM",
        help="Fail (exit 5) when nothing can check the bytes (no checksum stored, and the "
        "ETag is no MD5: SSE-KMS, SSE-C), instead of a warning.",
    ),
]
DecompressOption = Annotated[
    bool,
    typer.Option(
        "--decompress",
        help="Decompress what --compress wrote (zstd or gzip, from the Content-Type or "
        "the first bytes); the stored bytes are verified, and the format's own checksum.",
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", envvar="S3SINK_QUIET", help="No summary on stderr."),
]
IdentityOption = Annotated[
    list[str] | None,
    typer.Option("--identity", "-i", metavar="PATH", envvar="S3SINK_IDENTITY",
                 show_default=False,
                 help="Decrypt age objects with this identity file (age-keygen's, or an "
                 "OpenSSH private key without passphrase; repeatable). Objects must then be "
                 "age; with --decompress, decrypted first."),
]  # fmt: skip
