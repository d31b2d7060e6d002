"""Publishing the object: one PutObject for a stream that fit in one part, else
CompleteMultipartUpload; the checks that tell a lost response or an interrupt from a failure;
the result.

The commit is the one request that publishes. Two ways it can look failed although the store
acted on it: the response to a Complete that succeeded is lost and botocore's retry fails
(NoSuchUpload, or 412 when If-None-Match now sees our own object), or an interrupt
(KeyboardInterrupt, a signal's exception) arrives while the request is under way. In both
cases the object is ours if the upload is gone and an object with exactly our size and
whole-object checksum is there. :attr:`Committer.published` records the moment the object is
known to be published, so the writer never aborts (or reports "nothing written") after it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ._checksum import Checksummer, encode
from ._results import UploadResult
from ._transport import Commit, CompletedPart, PartChecksum, StoredObject, Transport
from .errors import CompleteError, PreconditionFailed, S3SinkError

__all__ = ["Committer"]

log = logging.getLogger("s3sink")


class Committer:
    """Publishes one object and builds its :class:`UploadResult`."""

    def __init__(
        self,
        transport: Transport,
        bucket: str,
        key: str,
        *,
        extra: Mapping[str, Any],
        part_extra: Mapping[str, Any],
        checksummer: Checksummer | None,
        if_none_match: str | None,
        if_match: str | None,
    ) -> None:
        self._transport = transport
        self.bucket = bucket
        self.key = key
        self._extra = extra
        self._part_extra = part_extra
        self._checksummer = checksummer
        self._if_none_match = if_none_match
        self._if_match = if_match
        self.published: UploadResult | None = None

    def checksum_type(self, *, multipart: bool) -> str | None:
        """The checksum type the object gets: a single PutObject's checksum covers the whole
        object whatever the algorithm; a multipart one is the algorithm's type."""
        if self._checksummer is None:
            return None
        return self._checksummer.checksum_type if multipart else "FULL_OBJECT"

    def _commit_options(self, checksum: str | None, size: int, *, multipart: bool) -> Commit:
        checksummer = self._checksummer
        sent = None
        # A COMPOSITE checksum-of-checksums is not a value the request can carry; the
        # store verifies each part's checksum instead.
        composite = multipart and self.checksum_type(multipart=True) == "COMPOSITE"
        if checksummer is not None and checksum is not None and not composite:
            sent = PartChecksum(checksummer.param, checksum)
        return Commit(
            checksum=sent,
            checksum_type=self.checksum_type(multipart=True) if multipart else None,
            size=size if multipart else None,
            if_none_match=self._if_none_match,
            if_match=self._if_match,
        )

    def put_single(self, body: bytearray) -> UploadResult:
        """Publish ``body`` (the whole stream) with one PutObject."""
        checksum = None
        if self._checksummer is not None:
            checksum = encode(self._checksummer.digest(body))
        size = len(body)
        try:
            stored = self._transport.put_object(
                self.bucket,
                self.key,
                body,
                extra=self._extra,
                commit=self._commit_options(checksum, size, multipart=False),
            )
        except BaseException as exc:
            self._check_interrupted(exc, None, checksum, size, parts=1)
            raise
        return self._publish(stored, None, size, parts=1, checksum=checksum)

    def complete(self, upload_id: str, parts: Sequence[CompletedPart], size: int) -> UploadResult:
        """Publish the multipart upload from ``parts`` (sorted by number), ``size`` bytes."""
        checksum = None
        if self._checksummer is not None:
            checksum = self._checksummer.combine([(p.digest or b"", p.size) for p in parts])
        commit = self._commit_options(checksum, size, multipart=True)
        try:
            stored = self._transport.complete_multipart_upload(
                self.bucket, self.key, upload_id, parts, extra=self._part_extra, commit=commit
            )
        except (CompleteError, PreconditionFailed) as exc:
            # The object may be there (a lost response, see the module docstring): check
            # before declaring failure. A 412 counts as ours only if our upload is gone too
            # (a genuine conflict leaves it in place).
            landed = None
            if not isinstance(exc, PreconditionFailed) or self._upload_gone(upload_id):
                landed = self._landed_anyway(checksum, size)
            if landed is None:
                raise
            log.warning("CompleteMultipartUpload failed (%s) but the object landed intact", exc)
            stored = landed
        except BaseException as exc:
            self._check_interrupted(exc, upload_id, checksum, size, parts=len(parts))
            raise
        return self._publish(stored, upload_id, size, parts=len(parts), checksum=checksum)

    def _check_interrupted(
        self,
        exc: BaseException,
        upload_id: str | None,
        checksum: str | None,
        size: int,
        *,
        parts: int,
    ) -> None:
        """After an interrupt during the commit, record the object as published if it
        landed; the interrupt still reaches the caller."""
        if isinstance(exc, Exception):
            return  # a failed request: handled by the caller
        if upload_id is not None and not self._upload_gone(upload_id):
            return
        landed = self._landed_anyway(checksum, size)
        if landed is not None:
            log.warning("interrupted, but the object had already been published")
            self._publish(landed, upload_id, size, parts=parts, checksum=checksum)

    def _upload_gone(self, upload_id: str) -> bool:
        """True when the multipart upload no longer exists (completed or aborted)."""
        try:
            return self._transport.list_parts(self.bucket, self.key, upload_id) is None
        except S3SinkError as exc:
            log.warning("could not check upload %s: %s", upload_id, exc)
            return False

    def _landed_anyway(self, checksum: str | None, size: int) -> StoredObject | None:
        """The object, if one with exactly our size and whole-object checksum exists."""
        checksummer = self._checksummer
        if checksummer is None or checksum is None:
            return None  # without a checksum we cannot tell our object from another
        try:
            info = self._transport.head_object(self.bucket, self.key)
        except S3SinkError as exc:
            log.warning("could not check whether the object landed: %s", exc)
            return None
        if info is None or info.size != size:
            return None
        if info.checksums.get(checksummer.param) != checksum:
            return None
        return StoredObject(info.etag, info.version_id, checksum, info.checksum_type)

    def _publish(
        self,
        stored: StoredObject,
        upload_id: str | None,
        size: int,
        *,
        parts: int,
        checksum: str | None,
    ) -> UploadResult:
        checksummer = self._checksummer
        self.published = UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=stored.etag,
            version_id=stored.version_id,
            size=size,
            parts=parts,
            upload_id=upload_id,
            checksum_algorithm=checksummer.algorithm if checksummer else None,
            checksum=stored.checksum or checksum,
            checksum_type=stored.checksum_type
            or self.checksum_type(multipart=upload_id is not None),
        )
        return self.published
