"""What the mount asks of the store besides writers: a verified server-side rename of a
committed object, deleting a directory's marker, and aborting an upload a writer could not."""

from __future__ import annotations

import errno
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from .._store.checksums import bare_etag, etag_md5
from .._store.objectlock import ObjectLock
from .._store.transport import ObjectInfo, Transport
from ..errors import S3SinkError
from .files import FileRecord, fail

__all__ = ["MAX_COPY", "ObjectMover", "StoreMover"]

log = logging.getLogger("s3sink")

MAX_COPY = 5 * 1024**3  # CopyObject's limit: larger committed files are not renamed


class ObjectMover(Protocol):
    """What the mount asks of the store besides writers: a server-side rename of a committed
    object (a verified copy, then a delete), and aborting an upload a writer could not."""

    def move(self, source_key: str, target_key: str, record: FileRecord) -> None:
        """Raise OSError (with an errno) when it cannot be done safely."""

    def abort_upload(self, key: str, upload_id: str) -> bool:
        """Abort ``upload_id`` of ``key``; False (logged) when it still cannot be done."""

    def remove(self, key: str) -> None:
        """Delete an object this mount made and no longer stands for (a directory's marker);
        raise OSError (with an errno) when it cannot."""

    def retain(
        self, key: str, version_id: str | None, lock: ObjectLock, extra: Mapping[str, Any]
    ) -> None:
        """Set a committed object's retention to ``lock`` (``extra``: the expected bucket
        owner...) and check that the store shows it; raise OSError (with an errno) when it
        cannot."""


class StoreMover:
    """:class:`ObjectMover` over a Transport: CopyObject, then check the copy against the
    source (size, and the full-object checksum or a plain-MD5 ETag when the store shows
    them), then delete the source. A copy that does not match is deleted and the source
    kept (EIO)."""

    def __init__(self, transport: Transport, bucket: str) -> None:
        self._transport = transport
        self._bucket = bucket

    def move(self, source_key: str, target_key: str, record: FileRecord) -> None:
        t, bucket = self._transport, self._bucket
        try:
            source = t.head_object(bucket, source_key)
            if source is None:
                raise OSError(errno.ENOENT, f"s3://{bucket}/{source_key} is gone")
            t.copy_object(bucket, source_key, target_key)
            copy = t.head_object(bucket, target_key)
            problem = _copy_problem(source, copy)
            if problem is not None:
                if copy is not None:
                    t.delete_object(bucket, target_key, copy.version_id)
                raise OSError(errno.EIO, f"the copy to {target_key} {problem}; kept {source_key}")
            t.delete_object(bucket, source_key, source.version_id)
        except S3SinkError as exc:
            raise fail(errno.EIO, f"renaming {source_key} to {target_key}: {exc}") from exc
        log.info(
            "renamed s3://%s/%s to %s (copied, verified, deleted)", bucket, source_key, target_key
        )

    def remove(self, key: str) -> None:
        try:
            self._transport.delete_object(self._bucket, key, None)
        except S3SinkError as exc:
            raise fail(errno.EIO, f"removing s3://{self._bucket}/{key}: {exc}") from exc

    def retain(
        self, key: str, version_id: str | None, lock: ObjectLock, extra: Mapping[str, Any]
    ) -> None:
        t, bucket = self._transport, self._bucket
        try:
            t.put_object_lock(bucket, key, version_id, lock, extra=extra)
            shown = t.head_object(bucket, key, version_id)
        except S3SinkError as exc:
            raise OSError(errno.EIO, f"setting its retention: {exc}") from exc
        if shown is None or not lock.held_by(shown.lock):
            raise OSError(errno.EIO, "the store does not show the new retention")

    def abort_upload(self, key: str, upload_id: str) -> bool:
        t, bucket = self._transport, self._bucket
        try:
            t.abort_multipart_upload(bucket, key, upload_id)
            gone = t.list_parts(bucket, key, upload_id) is None
        except S3SinkError as exc:
            log.error(  # noqa: TRY400  # the error says it all
                "upload %s of s3://%s/%s still cannot be aborted: %s", upload_id, bucket, key, exc
            )
            return False
        return gone


def _copy_problem(source: ObjectInfo, copy: ObjectInfo | None) -> str | None:
    if copy is None:
        return "is missing"
    if copy.size != source.size:
        return f"has {copy.size:,} bytes, not {source.size:,}"
    shared = set(source.checksums) & set(copy.checksums)
    full = [k for k in shared if "-" not in source.checksums[k]]  # not a composite
    if full:
        return (
            None
            if all(source.checksums[k] == copy.checksums[k] for k in full)
            else ("has another checksum")
        )
    if etag_md5(source.etag) is not None:
        return None if bare_etag(source.etag) == bare_etag(copy.etag) else "has another ETag"
    log.warning(
        "the copy of a multipart object could be checked by its size only (the store "
        "shows no full-object checksum)"
    )
    return None
