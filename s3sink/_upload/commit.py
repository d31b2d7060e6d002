"""Publishing the object: one PutObject for a stream that fit in one part, else
CompleteMultipartUpload; the checks that tell a lost response or an interrupt from a failure;
the result.

The commit is the one request that publishes. Two ways it can look failed although the store
acted on it: the response to a Complete that succeeded is lost and botocore's retry fails
(NoSuchUpload, or 412 when If-None-Match now sees our own object), or an interrupt
(KeyboardInterrupt, a signal's exception) arrives while the request is under way. In both
cases the object is ours if the upload is gone and an object with exactly our size and
whole-object checksum (or the multipart ETag our parts make) is there. An interrupted Complete
that the store is still processing can even win the race with the abort that follows, so the
writer asks once more after aborting (:meth:`Committer.landed_after_abort`).
:attr:`Committer.published` records the moment the object is known to be published, so the
writer never aborts (or reports "nothing written") after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from .._results import UploadResult
from .._store.checksums import bare_etag, encode, md5_digest, multipart_etag
from .._store.transport import (
    Commit,
    CompletedPart,
    Integrity,
    PartChecksum,
    SendCounter,
    StoredObject,
    Transport,
)
from ..errors import CompleteError, PreconditionFailed, S3SinkError, UploadError
from .parts import VERIFY_ATTEMPTS, verify_receipt
from .spec import UploadSpec

__all__ = ["Committer", "weakest"]

log = logging.getLogger("s3sink")

_STRENGTH: tuple[Integrity, ...] = ("unverified", "etag-md5", "store-checksum")


def weakest(verdicts: Iterable[Integrity]) -> Integrity:
    """The object is only as verified as its least verified part."""
    return min(verdicts, key=_STRENGTH.index, default="unverified")


class Committer:
    """Publishes one object and builds its :class:`UploadResult`."""

    def __init__(self, transport: Transport, spec: UploadSpec) -> None:
        self._transport = transport
        self.bucket = spec.bucket
        self.key = spec.key
        self._extra = spec.extra
        self._part_extra = spec.part_extra
        self._checksummer = spec.checksummer
        self._if_none_match = spec.if_none_match
        # Sent quoted, as S3 documents it; see _with_if_match_forms.
        if_match = spec.if_match
        self._if_match = f'"{bare_etag(if_match)}"' if if_match is not None else None
        self._content_md5 = spec.content_md5
        self.published: UploadResult | None = None
        # An interrupted Complete whose upload still existed: the store may finish it yet.
        self._pending: tuple[str, int, str | None, str | None, int] | None = None

    def check_conditions(self) -> None:
        """Check If-None-Match / If-Match with HeadObject before any byte is read, and
        raise PreconditionFailed at once when they do not hold. Some stores ignore the
        condition on CompleteMultipartUpload (Ceph RGW): this check still refuses there;
        the condition on the final request covers a change during the upload."""
        if self._if_none_match is None and self._if_match is None:
            return
        try:
            info = self._transport.head_object(self.bucket, self.key)
        except S3SinkError as exc:
            log.warning(
                "could not check the condition on s3://%s/%s before streaming (%s); only the "
                "store's check of the final request applies",
                self.bucket,
                self.key,
                exc,
            )
            return
        if self._if_none_match is not None and info is not None:
            raise PreconditionFailed(
                "the object exists (HeadObject, If-None-Match: *), so nothing was written",
                bucket=self.bucket,
                key=self.key,
            )
        if self._if_match is not None and (
            info is None or bare_etag(info.etag) != bare_etag(self._if_match)
        ):
            now = f"has ETag {info.etag}" if info is not None else "does not exist"
            raise PreconditionFailed(
                f"the object {now}, not {self._if_match} (If-Match), so nothing was written",
                bucket=self.bucket,
                key=self.key,
            )

    def checksum_type(self, *, multipart: bool) -> str | None:
        """The checksum type the object gets: a single PutObject's checksum covers the whole
        object whatever the algorithm; a multipart one is the algorithm's type."""
        if self._checksummer is None:
            return None
        return self._checksummer.checksum_type if multipart else "FULL_OBJECT"

    def _commit_options(
        self, checksum: str | None, size: int, *, multipart: bool, md5: bytes | None = None
    ) -> Commit:
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
            content_md5=encode(md5) if md5 is not None and not multipart else None,
            checksum_algorithm=checksummer.boto_name if checksummer and not multipart else None,
        )

    def put_single(self, body: bytearray, sent: SendCounter | None = None) -> UploadResult:
        """Publish ``body`` (the whole stream) with one PutObject, and verify what the store
        received as a part's is verified (``_parts.verify_receipt``); ``sent`` counts the
        bytes of the attempt under way as they are sent.

        A PutObject publishes as it lands, so a store that did not check the bytes has
        already published a corrupted object when its ETag shows it: s3sink replaces it
        (If-Match on that ETag, so nothing else is overwritten) and, if that keeps failing,
        deletes that version and raises.
        """
        checksum = None
        if self._checksummer is not None:
            checksum = encode(self._checksummer.digest(body))
        md5 = md5_digest(body) if self._content_md5 else None
        size = len(body)
        commit = self._commit_options(checksum, size, multipart=False, md5=md5)
        corrupted: StoredObject | None = None  # what the store published from corrupted bytes
        try:
            for attempt in range(1, VERIFY_ATTEMPTS + 1):
                last = attempt == VERIFY_ATTEMPTS
                stored = self._put_once(body, commit, checksum, last=last, sent=sent)
                if stored is None:
                    continue  # refused as corrupted: nothing was published
                integrity, md5 = verify_receipt(
                    stored, commit.checksum, body, md5, check_etag_too=True
                )
                if integrity == "unverified":
                    log.warning(
                        "s3://%s/%s could not be verified: the store confirmed no checksum "
                        "and the ETag is not an MD5 (SSE-KMS or SSE-C)",
                        self.bucket,
                        self.key,
                    )
                if integrity is not None:
                    corrupted = None  # replaced by this very PutObject
                    return self._publish(
                        stored, None, size, parts=1, checksum=checksum, integrity=integrity
                    )
                corrupted = stored
                log.warning(
                    "PutObject of s3://%s/%s: the store received other bytes than were sent "
                    "(ETag %s, MD5 %s)%s",
                    self.bucket,
                    self.key,
                    stored.etag,
                    md5.hex() if md5 else "-",
                    "; replacing the object it published" if attempt < VERIFY_ATTEMPTS else "",
                )
                commit = replace(commit, if_none_match=None, if_match=stored.etag)
            raise CompleteError(
                f"the store received other bytes than were sent, {VERIFY_ATTEMPTS} times, so "
                "nothing was written",
                bucket=self.bucket,
                key=self.key,
            )
        finally:
            if corrupted is not None:
                self._delete_corrupted(corrupted)

    def _put_once(
        self,
        body: bytearray,
        commit: Commit,
        checksum: str | None,
        *,
        last: bool,
        sent: SendCounter | None = None,
    ) -> StoredObject | None:
        """One PutObject; None when the store refused it as corrupted (send it again)."""
        try:
            return self._with_if_match_forms(
                commit,
                lambda c: self._transport.put_object(
                    self.bucket, self.key, body, extra=self._extra, commit=c, sent=sent
                ),
            )
        except UploadError as exc:
            if not exc.received_other_bytes or last:
                raise
            log.warning("%s; sending it again", exc)
            return None
        except BaseException as exc:
            etag = md5_digest(body).hex()  # a PutObject's ETag, without SSE-KMS or SSE-C
            self._check_interrupted(exc, None, checksum, len(body), parts=1, etag=etag)
            raise

    def _delete_corrupted(self, stored: StoredObject) -> None:
        """Remove the object the store published from corrupted bytes (that version of it,
        so that on a versioned bucket the previous version is current again)."""
        failure: S3SinkError | None = None
        try:
            self._transport.delete_object(self.bucket, self.key, stored.version_id)
        except S3SinkError as exc:
            failure = exc
        if failure is not None:
            log.error(
                "s3://%s/%s holds corrupted bytes (ETag %s, version %s) and deleting it "
                "failed: %s; delete it before anyone reads it",
                self.bucket,
                self.key,
                stored.etag,
                stored.version_id,
                failure,
            )
            return
        log.warning("deleted the corrupted object the store published (ETag %s)", stored.etag)

    def _with_if_match_forms(
        self, commit: Commit, send: Callable[[Commit], StoredObject]
    ) -> StoredObject:
        """``send(commit)``; when If-Match is refused although the object still has that
        ETag, once more with the ETag unquoted. S3 takes the quoted form (RFC 9110); Ceph
        RGW compares the bare digest and refuses the quoted one."""
        try:
            return send(commit)
        except PreconditionFailed:
            if commit.if_match is None or not commit.if_match.startswith('"'):
                raise
            try:
                info = self._transport.head_object(self.bucket, self.key)
            except S3SinkError:
                info = None
            if info is None or bare_etag(info.etag) != bare_etag(commit.if_match):
                raise
            return send(replace(commit, if_match=bare_etag(commit.if_match)))

    def complete(self, upload_id: str, parts: Sequence[CompletedPart], size: int) -> UploadResult:
        """Publish the multipart upload from ``parts`` (sorted by number), ``size`` bytes."""
        checksum = None
        if self._checksummer is not None:
            checksum = self._checksummer.combine([(p.digest or b"", p.size) for p in parts])
        commit = self._commit_options(checksum, size, multipart=True)
        try:
            stored = self._with_if_match_forms(
                commit,
                lambda c: self._transport.complete_multipart_upload(
                    self.bucket, self.key, upload_id, parts, extra=self._part_extra, commit=c
                ),
            )
        except (CompleteError, PreconditionFailed) as exc:
            # The object may be there (a lost response, see the module docstring): check
            # before declaring failure. A 412 counts as ours only if our upload is gone too
            # (a genuine conflict leaves it in place).
            landed = None
            if not isinstance(exc, PreconditionFailed) or self._upload_gone(upload_id):
                landed = self._landed_anyway(checksum, size, multipart_etag(parts))
            if landed is None:
                raise
            log.warning("CompleteMultipartUpload failed (%s) but the object landed intact", exc)
            stored = landed
        except BaseException as exc:
            self._check_interrupted(
                exc, upload_id, checksum, size, parts=len(parts), etag=multipart_etag(parts)
            )
            raise
        if not stored.etag.strip('"'):
            stored = self._with_etag_from_head(stored)
        integrity = weakest(p.integrity for p in parts)
        if integrity == "unverified":
            unverified = sum(p.integrity == "unverified" for p in parts)
            log.warning(
                "s3://%s/%s: %d of %d parts could not be verified: the store confirmed no "
                "checksum for them and their ETags are not MD5s (SSE-KMS or SSE-C)",
                self.bucket,
                self.key,
                unverified,
                len(parts),
            )
        published = self._publish(
            stored, upload_id, size, parts=len(parts), checksum=checksum, integrity=integrity
        )
        skipped = [p for p in parts if p.skipped]
        if skipped:
            self.published = published = replace(
                published,
                parts_skipped=len(skipped),
                bytes_skipped=sum(p.size for p in skipped),
            )
        return published

    def _with_etag_from_head(self, stored: StoredObject) -> StoredObject:
        """Ceph RGW answers CompleteMultipartUpload with an empty ETag: ask HeadObject, so the
        result names the object that was published."""
        try:
            info = self._transport.head_object(self.bucket, self.key)
        except S3SinkError as exc:
            log.warning("the store returned no ETag, and HeadObject failed: %s", exc)
            return stored
        if info is None:
            return stored
        return replace(stored, etag=info.etag, version_id=stored.version_id or info.version_id)

    def _check_interrupted(
        self,
        exc: BaseException,
        upload_id: str | None,
        checksum: str | None,
        size: int,
        *,
        parts: int,
        etag: str | None,
    ) -> None:
        """After an interrupt during the commit, record the object as published if it
        landed; the interrupt still reaches the caller."""
        if isinstance(exc, Exception):
            return  # a failed request: handled by the caller
        if upload_id is not None and not self._upload_gone(upload_id):
            # The store may still be processing the Complete: ask again after the abort.
            self._pending = (upload_id, parts, etag, checksum, size)
            return
        landed = self._landed_anyway(checksum, size, etag)
        if landed is not None:
            log.warning("interrupted, but the object had already been published")
            self._publish(landed, upload_id, size, parts=parts, checksum=checksum)

    def landed_after_abort(self) -> bool:
        """After the abort that followed an interrupted Complete: True (and the result
        recorded) when the store finished that Complete first, so the object is published."""
        if self._pending is None or self.published is not None:
            return self.published is not None
        upload_id, parts, etag, checksum, size = self._pending
        self._pending = None
        landed = self._landed_anyway(checksum, size, etag)
        if landed is None:
            return False
        log.warning(
            "interrupted during CompleteMultipartUpload, and the store finished it before the "
            "abort: s3://%s/%s is published",
            self.bucket,
            self.key,
        )
        self._publish(landed, upload_id, size, parts=parts, checksum=checksum)
        return True

    def _upload_gone(self, upload_id: str) -> bool:
        """True when the multipart upload no longer exists (completed or aborted)."""
        try:
            return self._transport.list_parts(self.bucket, self.key, upload_id) is None
        except S3SinkError as exc:
            log.warning("could not check upload %s: %s", upload_id, exc)
            return False

    def _landed_anyway(
        self, checksum: str | None, size: int, etag: str | None
    ) -> StoredObject | None:
        """The object, if one with exactly our size and either our whole-object checksum or
        the ``etag`` our bytes give (bare) exists; otherwise we cannot tell it from another."""
        checksummer = self._checksummer
        if etag is None and (checksummer is None or checksum is None):
            return None
        try:
            info = self._transport.head_object(self.bucket, self.key)
        except S3SinkError as exc:
            log.warning("could not check whether the object landed: %s", exc)
            return None
        if info is None or info.size != size:
            return None
        if checksummer and checksum and info.checksums.get(checksummer.param) == checksum:
            return StoredObject(info.etag, info.version_id, checksum, info.checksum_type)
        if etag is not None and bare_etag(info.etag) == etag:
            return StoredObject(info.etag, info.version_id, None, info.checksum_type)
        return None

    def _publish(
        self,
        stored: StoredObject,
        upload_id: str | None,
        size: int,
        *,
        parts: int,
        checksum: str | None,
        integrity: Integrity = "unverified",
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
            checksum_algorithm=(
                checksummer.algorithm if checksummer else "md5" if self._content_md5 else None
            ),
            checksum=stored.checksum or checksum,
            checksum_type=stored.checksum_type
            or self.checksum_type(multipart=upload_id is not None),
            integrity=integrity,
        )
        return self.published
