"""Aborting a multipart upload for good: abort, wait for parts in flight, confirm, repeat.

An abort may have to be repeated: a part still being sent when the first abort lands can be
stored afterwards. So: abort at once (parts still sending then fail fast), wait (bounded) for
the parts in flight, confirm with ListParts, and abort again while parts remain.
"""

from __future__ import annotations

import logging

from .._store.transport import Transport, UploadTransport
from ..errors import AbortFailedError, S3SinkError, UploadError
from .pool import PartPool

__all__ = ["ABORT_ATTEMPTS", "abort_upload"]

log = logging.getLogger("s3sink")

ABORT_ATTEMPTS = 3


def abort_upload(
    transport: UploadTransport,
    pool: PartPool,
    *,
    bucket: str,
    key: str,
    upload_id: str,
    timeout: float,
) -> None:
    """Abort ``upload_id`` and confirm it is gone; raise AbortFailedError (with the id and
    the command that cleans it up) when that could not be done."""
    last_error: BaseException | None = None
    for attempt in range(ABORT_ATTEMPTS):
        try:
            transport.abort_multipart_upload(bucket, key, upload_id)
            if attempt == 0 and not pool.drain(timeout):
                log.warning(
                    "parts of upload %s still in flight after %.0fs; aborting again",
                    upload_id,
                    timeout,
                )
                continue
            remaining = transport.list_parts(bucket, key, upload_id)
        except UploadError as exc:
            last_error = exc
            continue
        if not remaining:
            return
        last_error = None
    reason = f" ({last_error.args[0]})" if last_error is not None else ""
    raise AbortFailedError(
        f"could not abort multipart upload {upload_id}{reason}; it keeps its parts on the "
        f"server until you run: s3sink uploads abort s3://{bucket}/{key} "
        f"--upload-id {upload_id}",
        bucket=bucket,
        key=key,
        upload_id=upload_id,
    ) from last_error


def cleanup_command(bucket: str, key: str, upload_id: str) -> str:
    """The command that aborts ``upload_id`` later."""
    return f"s3sink uploads abort s3://{bucket}/{key} --upload-id {upload_id}"


def report_unknown_uploads(transport: Transport, bucket: str, key: str, since: float) -> None:
    """CreateMultipartUpload was interrupted: the store may have created an upload whose
    id never reached us. Name the uploads for this key that started since (allowing a
    minute of clock skew) rather than report that nothing was left behind. They are not
    aborted here: another writer of the same key could own one."""
    try:
        found = [
            u
            for u in transport.list_uploads(bucket, key)
            if u.key == key and u.initiated.timestamp() >= since - 60
        ]
    except S3SinkError as exc:
        log.warning(
            "CreateMultipartUpload was interrupted, and listing uploads to find what it "
            "may have created failed (%s); check with: s3sink uploads list s3://%s/%s",
            exc,
            bucket,
            key,
        )
        return
    for upload in found:
        log.warning(
            "CreateMultipartUpload was interrupted, and upload %s (started %s) may be the "
            "one it created; remove it with: %s",
            upload.upload_id,
            upload.initiated.isoformat(timespec="seconds"),
            cleanup_command(bucket, key, upload.upload_id),
        )
