"""The one place where botocore's exceptions are read and become s3sink's: error codes and
HTTP statuses, what a store answers for "unsupported", "precondition" and "wrong bytes", and
one-line descriptions with secrets redacted. Callers chain what :func:`translate` returns
(``raise translate(...) from exc``) so the original cause stays visible."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from ..errors import (
    CompleteError,
    ObjectChangedError,
    PreconditionFailed,
    ReadError,
    S3SinkError,
    UploadError,
)
from .redact import redact

__all__ = [
    "BAD_CREDENTIALS",
    "DIGEST_MISMATCH",
    "BucketProblem",
    "bucket_problem",
    "causes",
    "connection_reason",
    "describe",
    "error_code",
    "http_status",
    "is_connection_problem",
    "is_missing_credentials",
    "is_precondition_failure",
    "is_setup_problem",
    "is_unsupported",
    "translate",
    "translate_read",
    "upload_is_gone",
]


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


def is_precondition_failure(exc: BaseException) -> bool:
    """412 PreconditionFailed, or 409 ConditionalRequestConflict from a conditional write."""
    code = error_code(exc)
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or http_status(exc) == 412


# What stores answer when a request's bytes do not match what was sent with them: S3 and
# SeaweedFS (checksums, Content-MD5), Ceph RGW (Content-MD5, the SigV4 payload hash).
DIGEST_MISMATCH = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}
)


def is_unsupported(exc: BaseException) -> bool:
    """The store does not implement the operation (405 or 501, as minimal stores answer)."""
    return http_status(exc) in (405, 501) or error_code(exc) in (
        "NotImplemented",
        "MethodNotAllowed",
    )


def upload_is_gone(exc: BaseException) -> bool:
    """The multipart upload does not exist (any more): the store says NoSuchUpload (S3, moto,
    SeaweedFS), or NoSuchKey (Ceph RGW, for ListParts of an aborted or unknown upload). Not
    any 404: a proxy or a wrong endpoint answers 404 too, and taking that for "gone" would
    delete a resume journal and report an abort confirmed."""
    return error_code(exc) in ("NoSuchUpload", "NoSuchKey")


def describe(exc: BaseException) -> str:
    """A one-line description of a foreign exception (never includes request parameters)."""
    code = error_code(exc)
    if code is not None:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message") or ""
        status = http_status(exc)
        prefix = f"{code} (HTTP {status})" if status else code
        return redact(f"{prefix}: {message}" if message else prefix)
    return redact(f"{type(exc).__name__}: {exc}")


def translate(
    exc: Exception,
    what: str,
    *,
    bucket: str,
    key: str,
    upload_id: str | None = None,
    commit: bool = False,
) -> S3SinkError:
    """The s3sink error that describes botocore's ``exc`` from the request ``what`` (a
    conditional commit refused becomes :class:`PreconditionFailed`)."""
    text = f"{what} failed: {describe(exc)}"
    if is_unsupported(exc):
        text += (
            f"; this store does not implement {what}, so s3sink cannot abort or list "
            "unfinished uploads there: remove them with the store's own tools, or let a "
            "lifecycle rule expire them"
        )
    if commit and is_precondition_failure(exc):
        return PreconditionFailed(
            f"{what} refused by a precondition ({describe(exc)}); "
            "the object exists or changed, so nothing was written",
            bucket=bucket,
            key=key,
            upload_id=upload_id,
        )
    if commit:
        return CompleteError(
            text,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            received_other_bytes=error_code(exc) in DIGEST_MISMATCH,
        )
    return UploadError(text, bucket=bucket, key=key, upload_id=upload_id)


# What a store answers for a key or a version it does not hold (HeadObject has no body, so
# botocore names the code after the status).
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})


# What a HeadObject's bare 400 or 403 most likely means, by whether an SSE-C key was sent.
SSE_C_HINTS = {
    False: "an object encrypted with SSE-C is read with its key (--sse-c-key-file)",
    True: "with SSE-C: is this the key the object was written with?",
}


def translate_read(
    exc: Exception,
    what: str,
    *,
    bucket: str,
    key: str,
    version_id: str | None,
    started: bool,
    sse_c: bool | None = None,
) -> ReadError:
    """The s3sink error for botocore's ``exc`` from the read request ``what``. ``started``:
    the object was found before (a later request): a refused If-Match (412), or the object
    gone, then means it changed while it was read. ``sse_c`` (HeadObject: whether an SSE-C
    key was sent) adds what a bare 400 or 403 most likely means."""
    code = error_code(exc)
    kind, text = ReadError, f"{what} failed: {describe(exc)}"
    if is_precondition_failure(exc):
        kind = ObjectChangedError
        text = (
            f"the object changed while it was read ({what}: {describe(exc)}); nothing of "
            "two versions was put together: read it again"
        )
    elif code in _NOT_FOUND and started:
        kind = ObjectChangedError
        text = f"the object was deleted while it was read ({what}: {describe(exc)})"
    elif code in _NOT_FOUND:
        missing = f"version {version_id} of the object" if version_id else "the object"
        text = f"{missing} does not exist ({what}: {describe(exc)})"
    elif sse_c is not None and http_status(exc) in (400, 403):
        text += f"; {SSE_C_HINTS[sse_c]}"
    return kind(text, bucket=bucket, key=key, version_id=version_id)


def is_connection_problem(exc: BaseException) -> bool:
    """The endpoint could not be reached or the connection broke (no answer from a store)."""
    from botocore import exceptions  # noqa: PLC0415  # loaded already: a client was built

    # EndpointConnectionError and ConnectTimeoutError derive from botocore's ConnectionError.
    return isinstance(exc, exceptions.ConnectionError)


def is_missing_credentials(exc: BaseException) -> bool:
    """botocore found no credentials to sign with."""
    from botocore.exceptions import NoCredentialsError  # noqa: PLC0415

    return isinstance(exc, NoCredentialsError)


def is_setup_problem(exc: BaseException) -> bool:
    """Building a client failed on the configuration (a missing profile, a bad endpoint URL),
    not on the network: the user's to fix."""
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415

    return isinstance(exc, (BotoCoreError, ValueError))


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what lies under it, outermost first: botocore keeps urllib3's error in
    ``kwargs["error"]``, which chains on through ``__cause__`` / ``__context__``."""
    cause: BaseException | None = exc
    for _ in range(8):  # a chain is short; a cycle must not hang
        if cause is None:
            return
        yield cause
        kwargs = getattr(cause, "kwargs", None)
        nested = kwargs.get("error") if isinstance(kwargs, dict) else None
        cause = (
            nested if isinstance(nested, BaseException) else cause.__cause__ or cause.__context__
        )


def connection_reason(exc: BaseException) -> str:
    """Why a connection failed, in the system's words (``Connection refused``, ``Name or
    service not known``), without the request's URL that botocore's text repeats."""
    for cause in causes(exc):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return type(exc).__name__


# Answers that say the credentials themselves are wrong: S3 checks them before any
# permission, so every request gets them, whatever the policies allow.
BAD_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)

BucketProblem = Literal["missing-bucket", "bad-credentials", "no-credentials", "unreachable"]


def bucket_problem(exc: BaseException) -> BucketProblem | None:
    """What a failed bucket check (a ListObjectsV2: a GET, whose error has a body, unlike
    HeadBucket's) proves is wrong, or None when it proves nothing: AccessDenied is what
    credentials that may write but not list get (a common policy for backups), and any other
    error (a 5xx, a redirect, an unsupported request) says nothing certain about writes."""
    if is_connection_problem(exc):
        return "unreachable"
    if is_missing_credentials(exc):
        return "no-credentials"
    code = error_code(exc)
    if code in BAD_CREDENTIALS:
        return "bad-credentials"
    # No S3 store answers 404 to the listing of a bucket that exists: NoSuchBucket, or a
    # bare 404 from something at the endpoint that is no S3 store (or not this bucket's).
    if code == "NoSuchBucket" or http_status(exc) == 404:
        return "missing-bucket"
    return None
