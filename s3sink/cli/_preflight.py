"""The bucket, checked before a command starts anything: before exec mode's command is
spawned, a FIFO made, stdin or a file read, or a mount comes up. A missing bucket, refused
credentials or an endpoint out of reach would otherwise show only at the first write, after
a producer ran for hours (or, in a mount, at the first file's commit).

One request that changes nothing (``Transport.check_bucket``: ListObjectsV2 of the key).
What it cannot prove is left to the upload: AccessDenied is what credentials get that may
write but not list (a common policy for backups), so it lets the command go on, as does any
other answer that proves nothing (a 5xx after the retries, a redirect). Nothing short of a
write proves that writes are allowed: a CreateMultipartUpload then AbortMultipartUpload
would, but costs two requests, needs the abort permission (a write-only policy that lacks it
would leave an upload behind on every run) and shows in the store's listings and logs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .._location import S3Location
from .._store.errors import (
    bucket_problem,
    connection_reason,
    describe,
    error_code,
    http_status,
)
from .._store.transport import Transport
from ..errors import UploadError
from ._commands import make_bucket_command
from ._report import PreflightFailed, scrub

__all__ = ["check_bucket"]

log = logging.getLogger("s3sink")


def check_bucket(
    transport: Transport, location: S3Location, *, connection: Sequence[str], untouched: str
) -> None:
    """Raise PreflightFailed when the store proves that ``location``'s bucket cannot take
    the upload; ``connection``: the options that reach the store (for the command printed),
    ``untouched``: what was not done because of it (``pg_dump was not started``)."""
    try:
        transport.check_bucket(location.bucket, location.key)
    except UploadError as exc:
        cause = exc.__cause__ or exc
        problem = bucket_problem(cause)
        if problem is None:
            _cannot_tell(location, cause)
            return
        endpoint = scrub(str(getattr(transport, "endpoint", "") or "the endpoint"))
        bucket = location.bucket
        messages = {
            "missing-bucket": (
                # The store's own words add nothing to "does not exist": its code will do.
                f"bucket {bucket!r} does not exist at {endpoint} "
                f"({error_code(cause) or http_status(cause)}); {untouched}\n"
                "check the bucket name and the endpoint (--endpoint-url, AWS_ENDPOINT_URL), "
                "or create the bucket:\n"
                f"  {make_bucket_command(bucket, connection)}"
            ),
            "bad-credentials": (
                f"the store at {endpoint} refused the credentials for bucket {bucket!r} "
                f"({describe(cause)}); {untouched}\ncheck AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or the profile (--profile, AWS_PROFILE)"
            ),
            "no-credentials": (
                f"no AWS credentials found to reach bucket {bucket!r} at {endpoint}; "
                f"{untouched}\nset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile "
                "(--profile, AWS_PROFILE)"
            ),
            "unreachable": (
                f"cannot reach the S3 endpoint {endpoint} for bucket {bucket!r} "
                f"({connection_reason(cause)}); {untouched}\ncheck the endpoint "
                "(--endpoint-url, AWS_ENDPOINT_URL) and the network"
            ),
        }
        raise PreflightFailed(messages[problem]) from exc


def _cannot_tell(location: S3Location, cause: BaseException) -> None:
    if error_code(cause) == "AccessDenied" or http_status(cause) == 403:
        # Credentials that may write without listing: the writes will tell.
        log.debug(
            "cannot check bucket %r before starting (%s): going on",
            location.bucket,
            describe(cause),
        )
        return
    log.warning(
        "could not check bucket %r before starting (%s); going on: the upload will tell",
        location.bucket,
        describe(cause),
    )
