"""The sink command's settings: the options as parsed (:class:`SinkOptions`), checked
together (plain functions over plain values: testable without typer), down to the writer's
keyword arguments and the client.

The writer checks its own arguments (``s3sink._writer.checks``); the checks here are the ones
only a command line needs (``KEY=VALUE`` pairs, empty values, stdin) or phrase the same rules
in terms of options.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .._location import S3Location
from .._sizes import format_size
from .._store.objectlock import lock_problem
from .._store.ssec import read_key_file, sse_c_args
from .._upload.policy import DEFAULT_PART_SIZE, check_part_size
from .._writer.checks import (
    HEADER_UNSAFE_RE,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    budget_holds_a_part,
    tag_problem,
)
from .._writer.writer import DEFAULT_CONCURRENCY
from ..errors import InvalidLocationError, RecipientError, UsageError
from ._progress import PLAIN_INTERVAL

if TYPE_CHECKING:
    from .._crypt import Recipient
    from .._store.client import S3Client


@dataclass(frozen=True)
class SinkOptions:
    """Everything the sink command was given, parsed but not yet validated together."""

    uri: str
    argv: tuple[str, ...] = ()  # as given, for the resume command of a kept upload
    command: tuple[str, ...] = ()
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    part_size: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_memory: int | None = None
    expected_size: int | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    storage_class: str | None = None
    acl: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    sse_c_key_file: str | None = None
    encrypt_to: tuple[str, ...] = ()
    encrypt_to_file: tuple[str, ...] = ()
    metadata: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    no_overwrite: bool = False
    checksum: str = "crc64nvme"
    fixed_part_size: bool = False
    if_match: str | None = None
    max_attempts: int | None = None
    sign_payload: bool = False
    fifo: str | None = None
    file: str | None = None
    resumable: bool = False
    resume: bool = False
    upload_id: str | None = None
    allow_empty: bool = False
    compress: str | None = None
    rate_limit: int | None = None
    object_lock_mode: str | None = None
    object_lock_retain_until: dt.datetime | None = None
    legal_hold: bool = False
    expected_bucket_owner: str | None = None
    json_output: bool = False
    quiet: bool = False
    progress: bool | None = None
    progress_interval: float = PLAIN_INTERVAL
    debug: bool = False


# -- validation -------------------------------------------------------------------------------
def _pairs(values: Sequence[str], what: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings as pairs; a missing ``=``, an empty or a repeated key is refused.

    Metadata names and values are checked by the writer (HTTP header rules).
    """
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        if key in seen:
            raise UsageError(f"{what} key {key!r} given twice")
        seen.add(key)
        pairs.append((key, value))
    return pairs


def _tags(values: Sequence[str]) -> list[tuple[str, str]]:
    """``--tag`` pairs within S3's limits; the store would refuse them only after the stream."""
    pairs = _pairs(values, "--tag")  # refuses empty and repeated keys
    problem = tag_problem(pairs)
    if problem == "count":
        raise UsageError(f"{len(pairs)} --tag options given; S3 allows at most {MAX_TAGS} tags")
    for key, value in pairs:
        if problem == "length" and tag_problem([(key, value)]) is not None:
            raise UsageError(
                f"invalid --tag {f'{key}={value}'!r}: S3 allows keys of at most {MAX_TAG_KEY} "
                f"characters and values of at most {MAX_TAG_VALUE}"
            )
    return pairs


def extra_args(opts: SinkOptions) -> dict[str, Any]:
    """The writer's ``extra_args`` (S3 request parameters) for the options given."""
    extra: dict[str, Any] = {}
    simple = {
        "ContentType": opts.content_type,
        "ContentEncoding": opts.content_encoding,
        "StorageClass": opts.storage_class,
        "ACL": opts.acl,
    }
    extra.update({name: value for name, value in simple.items() if value is not None})
    sse = opts.sse
    if opts.sse_kms_key_id is not None:
        if sse == "AES256":
            raise UsageError("--sse-kms-key-id needs --sse aws:kms or aws:kms:dsse, not AES256")
        sse = sse or "aws:kms"
        extra["SSEKMSKeyId"] = opts.sse_kms_key_id
    if sse is not None:
        extra["ServerSideEncryption"] = sse
    if opts.sse_c_key_file is not None:
        if sse is not None:
            raise UsageError(
                "--sse-c-key-file cannot be combined with --sse or --sse-kms-key-id: an "
                "object is encrypted one way"
            )
        extra.update(sse_c_args(read_key_file(opts.sse_c_key_file)))
    if opts.metadata:
        extra["Metadata"] = dict(_pairs(opts.metadata, "--metadata"))
    if opts.tags:
        # S3 takes tags as a URL query string; %20 (not '+') for spaces is the safe encoding.
        extra["Tagging"] = urlencode(_tags(opts.tags), quote_via=quote, safe="")
    extra.update(_object_lock(opts))
    if opts.expected_bucket_owner is not None:
        extra["ExpectedBucketOwner"] = opts.expected_bucket_owner
    return extra


def _object_lock(opts: SinkOptions) -> dict[str, Any]:
    """The Object Lock parameters, checked together (before anything is read)."""
    lock: dict[str, Any] = {}
    if opts.object_lock_mode is not None:
        lock["ObjectLockMode"] = opts.object_lock_mode
    if opts.object_lock_retain_until is not None:
        lock["ObjectLockRetainUntilDate"] = opts.object_lock_retain_until
    if opts.legal_hold:
        lock["ObjectLockLegalHoldStatus"] = "ON"
    problem = lock_problem(lock, None if opts.checksum == "off" else opts.checksum)
    if problem == "needs-date":
        raise UsageError("--object-lock-mode needs --object-lock-retain-until DATE|DURATION")
    if problem == "needs-mode":
        raise UsageError(
            "--object-lock-retain-until needs --object-lock-mode GOVERNANCE|COMPLIANCE"
        )
    if problem == "no-checksum":
        raise UsageError(
            "Object Lock needs an integrity header on every request (S3 refuses the upload "
            "without one): leave out --checksum off, or use --checksum md5"
        )
    return lock


def writer_options(opts: SinkOptions) -> dict[str, Any]:
    """Keyword arguments for S3MultipartWriter (no client); raises UsageError."""
    part_size = opts.part_size if opts.part_size is not None else DEFAULT_PART_SIZE
    check_part_size(part_size)
    if opts.max_memory is not None and not budget_holds_a_part(part_size, opts.max_memory):
        raise UsageError(
            f"--max-memory {format_size(opts.max_memory)} cannot hold one part of "
            f"{format_size(part_size)} (--part-size); raise --max-memory or lower --part-size"
        )
    recipients = _recipients(opts)
    if recipients and (opts.resumable or opts.resume or opts.upload_id):
        raise UsageError(
            "--encrypt-to cannot be combined with --resumable, --resume or --upload-id: a "
            "resume must rebuild byte-identical parts, and every upload encrypts with a new "
            "file key, which s3sink does not keep (see docs/options.md)"
        )
    if opts.compress is not None and (opts.resumable or opts.resume or opts.upload_id):
        raise UsageError(
            "--compress cannot be combined with --resumable, --resume or --upload-id: a "
            "resume must rebuild byte-identical parts, and multi-threaded compression does "
            "not promise the same bytes twice"
        )
    return {
        "part_size": part_size,
        "concurrency": opts.concurrency,
        "max_memory": opts.max_memory,
        "expected_size": opts.expected_size,
        "extra_args": extra_args(opts),
        "checksum": opts.checksum,
        "fixed_part_size": opts.fixed_part_size,
        "if_none_match": "*" if opts.no_overwrite else None,
        "if_match": opts.if_match,
        "resumable": opts.resumable,
        "resume": opts.resume or opts.upload_id is not None,
        "upload_id": opts.upload_id,
        "compress": opts.compress,
        "rate_limit": opts.rate_limit,
        "encrypt_to": recipients or None,
    }


def _recipients(opts: SinkOptions) -> list[Recipient]:
    """The recipients of ``--encrypt-to`` and ``--encrypt-to-file``, each checked now (before
    anything is read). A bad one is named by its place, not shown: a secret key pasted by
    mistake must not land in a log."""
    if not opts.encrypt_to and not opts.encrypt_to_file:
        return []
    from .._crypt import parse_recipient, read_recipients_file  # noqa: PLC0415  # only when asked

    recipients: list[Recipient] = []
    for number, text in enumerate(opts.encrypt_to, 1):
        try:
            recipients.append(parse_recipient(text))
        except RecipientError as exc:
            raise RecipientError(f"--encrypt-to (recipient {number} given): {exc}") from None
    for path in opts.encrypt_to_file:
        try:
            recipients += read_recipients_file(path)
        except RecipientError as exc:
            raise RecipientError(f"--encrypt-to-file: {exc}") from None
    return recipients


def check_target(location: S3Location) -> None:
    """The sink writes one object: a key ending in '/' names a folder, not a file."""
    if location.key.endswith("/"):
        raise InvalidLocationError(
            f"invalid S3 location {location.uri!r}: the key ends with '/', which S3 tools show "
            f"as a folder; name the object, e.g. {location.uri}NAME"
        )


def check_values(opts: SinkOptions) -> None:
    """Options that name something cannot be empty: S3 would reject or ignore them later."""
    named = {
        "--content-type": opts.content_type,
        "--content-encoding": opts.content_encoding,
        "--storage-class": opts.storage_class,
        "--sse-kms-key-id": opts.sse_kms_key_id,
        "--if-match": opts.if_match,
    }
    for option, value in named.items():
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty; give a value or leave the option out")
        if value is not None and HEADER_UNSAFE_RE.search(value):
            # The writer refuses them too, but in terms of its extra_args.
            raise UsageError(
                f"invalid {option} {value!r}: a control character or an undecodable byte "
                "cannot travel in an HTTP header"
            )


def client_for(opts: SinkOptions, *, concurrency: int) -> S3Client:
    """The client the options ask for (``--checksum off`` and ``md5`` send no flexible
    checksum; ``md5`` sends Content-MD5 instead)."""
    from .._store.client import build_client  # noqa: PLC0415  # imports botocore: slow, so only now

    return build_client(
        concurrency=concurrency,
        checksum=opts.checksum,
        endpoint_url=opts.endpoint_url,
        region=opts.region,
        profile=opts.profile,
        max_attempts=opts.max_attempts,
        # Only ever forced on: without it, built clients decide (and the config file).
        sign_payload=True if opts.sign_payload else None,
    )
