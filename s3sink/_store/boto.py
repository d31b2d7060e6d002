"""The :class:`Transport` over a botocore S3 client (its read half is
:class:`~s3sink._store.reading.BotoReads`); its failures become s3sink's errors
through :mod:`.errors` (always chained, so the original cause stays visible). Wire tests
run it against real HTTP servers. It needs no botocore import of its own: it only calls the
client it is given and reads the ``response`` of the exceptions that client raises.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    PartUploadError,
)
from .body import BufferBody, start_sending
from .errors import DIGEST_MISMATCH, describe, error_code, translate, upload_is_gone
from .objectlock import ObjectLock
from .ratelimit import RateLimiter
from .reading import BotoReads, etag_is_md5, is_checksum_field
from .transport import (
    Body,
    Commit,
    CompletedPart,
    ListedPart,
    ObjectInfo,
    PartChecksum,
    PartReceipt,
    PendingUpload,
    SendCounter,
    StoredObject,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient


def _checksum_kwargs(checksum: PartChecksum | None) -> dict[str, str]:
    return {checksum.param: checksum.value} if checksum is not None else {}


def _commit_kwargs(commit: Commit) -> dict[str, Any]:
    kwargs: dict[str, Any] = _checksum_kwargs(commit.checksum)
    if commit.content_md5 is not None:
        kwargs["ContentMD5"] = commit.content_md5
    if commit.checksum_algorithm is not None:
        # With the value, boto3's own PutObject sends x-amz-sdk-checksum-algorithm: some
        # stores (moto) keep the checksum only then. botocore keeps the value we give.
        kwargs["ChecksumAlgorithm"] = commit.checksum_algorithm
    if commit.if_none_match is not None:
        kwargs["IfNoneMatch"] = commit.if_none_match
    if commit.if_match is not None:
        kwargs["IfMatch"] = commit.if_match
    return kwargs


class BotoTransport(BotoReads):
    """:class:`Transport` over a boto3 S3 client (the caller's, or one we built)."""

    def __init__(
        self,
        client: BaseClient,
        *,
        limiter: RateLimiter | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.stop = stop  # set when the writer aborts: capped bodies stop sending
        # Once per client (unique_id): one handler serves every body of every writer. It
        # tells the reads that send a body (paced by the limiter, counted for progress)
        # from those that only hash it for the signature.
        client.meta.events.register("before-send.s3", start_sending, unique_id="s3sink-sending")

    @property
    def endpoint(self) -> str:
        """Where requests go (names the store in a resume journal)."""
        return str(self.client.meta.endpoint_url)

    def put_object(
        self,
        bucket: str,
        key: str,
        body: Body,
        *,
        extra: Mapping[str, Any],
        commit: Commit,
        sent: SendCounter | None = None,
    ) -> StoredObject:
        stream = BufferBody(body, self.limiter, self.stop, sent)
        try:
            response = self.client.put_object(
                Bucket=bucket, Key=key, Body=stream, **extra, **_commit_kwargs(commit)
            )
        except Exception as exc:
            raise translate(exc, "PutObject", bucket=bucket, key=key, commit=True) from exc
        finally:
            stream.close()
        return _stored(response, commit)

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        extra: Mapping[str, Any],
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> str:
        kwargs: dict[str, Any] = dict(extra)
        if checksum_algorithm is not None:
            kwargs["ChecksumAlgorithm"] = checksum_algorithm
        if checksum_type is not None:
            kwargs["ChecksumType"] = checksum_type
        try:
            response = self.client.create_multipart_upload(Bucket=bucket, Key=key, **kwargs)
        except Exception as exc:
            raise translate(exc, "CreateMultipartUpload", bucket=bucket, key=key) from exc
        return str(response["UploadId"])

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: Body,
        *,
        extra: Mapping[str, Any],
        checksum: PartChecksum | None,
        content_md5: str | None = None,
        sent: SendCounter | None = None,
    ) -> PartReceipt:
        stream = BufferBody(body, self.limiter, self.stop, sent)
        md5 = {"ContentMD5": content_md5} if content_md5 is not None else {}
        try:
            response = self.client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                Body=stream,
                **extra,
                **_checksum_kwargs(checksum),
                **md5,
            )
        except Exception as exc:
            raise PartUploadError(
                f"part {part_number} failed: {describe(exc)}",
                bucket=bucket,
                key=key,
                upload_id=upload_id,
                part_number=part_number,
                received_other_bytes=error_code(exc) in DIGEST_MISMATCH,
            ) from exc
        finally:
            stream.close()
        echoed = response.get(checksum.param) if checksum is not None else None
        return PartReceipt(
            etag=str(response["ETag"]),
            checksum=str(echoed) if echoed is not None else None,
            etag_is_md5=etag_is_md5(response),
        )

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        *,
        extra: Mapping[str, Any],
        commit: Commit,
    ) -> StoredObject:
        kwargs = _commit_kwargs(commit)
        if commit.checksum_type is not None:
            kwargs["ChecksumType"] = commit.checksum_type
        if commit.size is not None:
            kwargs["MpuObjectSize"] = commit.size
        listed = [
            {"PartNumber": p.number, "ETag": p.etag, **_checksum_kwargs(p.checksum)}
            for p in sorted(parts, key=lambda p: p.number)
        ]
        try:
            response = self.client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": listed},
                **extra,
                **kwargs,
            )
        except Exception as exc:
            raise translate(
                exc,
                "CompleteMultipartUpload",
                bucket=bucket,
                key=key,
                upload_id=upload_id,
                commit=True,
            ) from exc
        return _stored(response, commit)

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as exc:
            if upload_is_gone(exc):
                return  # already gone: that is what we wanted
            raise translate(
                exc, "AbortMultipartUpload", bucket=bucket, key=key, upload_id=upload_id
            ) from exc

    def delete_object(self, bucket: str, key: str, version_id: str | None) -> None:
        version = {"VersionId": version_id} if version_id else {}
        try:
            self.client.delete_object(Bucket=bucket, Key=key, **version)
        except Exception as exc:
            raise translate(exc, "DeleteObject", bucket=bucket, key=key) from exc

    def copy_object(self, bucket: str, source_key: str, target_key: str) -> None:
        try:
            self.client.copy_object(
                Bucket=bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": source_key}
            )
        except Exception as exc:
            raise translate(exc, "CopyObject", bucket=bucket, key=target_key) from exc

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[ListedPart] | None:
        parts: list[ListedPart] = []
        try:
            paginator = self.client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=bucket, Key=key, UploadId=upload_id):
                parts.extend(
                    ListedPart(
                        number=int(p["PartNumber"]),
                        size=int(p.get("Size", 0)),
                        etag=str(p.get("ETag", "")),
                        checksums={k: str(v) for k, v in p.items() if is_checksum_field(k)},
                    )
                    for p in page.get("Parts", [])
                )
        except Exception as exc:
            if upload_is_gone(exc):
                return None
            raise translate(exc, "ListParts", bucket=bucket, key=key, upload_id=upload_id) from exc
        return parts

    def head_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo | None:
        version = {"VersionId": version_id} if version_id else {}
        try:
            response = self.client.head_object(
                Bucket=bucket, Key=key, ChecksumMode="ENABLED", **version
            )
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise translate(exc, "HeadObject", bucket=bucket, key=key) from exc
        return ObjectInfo(
            etag=str(response.get("ETag", "")),
            size=int(response.get("ContentLength", 0)),
            version_id=response.get("VersionId"),
            checksums={k: str(v) for k, v in response.items() if is_checksum_field(k)},
            checksum_type=response.get("ChecksumType"),
            lock=_lock_of(response),
        )

    def put_object_lock(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        lock: ObjectLock,
        *,
        extra: Mapping[str, Any],
    ) -> None:
        version: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        version.update(
            {k: v for k, v in extra.items() if k in ("ExpectedBucketOwner", "RequestPayer")}
        )
        if lock.mode is not None:
            retention = {"Mode": lock.mode, "RetainUntilDate": lock.retain_until}
            try:
                self.client.put_object_retention(
                    Bucket=bucket, Key=key, Retention=retention, **version
                )
            except Exception as exc:
                raise translate(exc, "PutObjectRetention", bucket=bucket, key=key) from exc
        if lock.legal_hold:
            try:
                self.client.put_object_legal_hold(
                    Bucket=bucket, Key=key, LegalHold={"Status": "ON"}, **version
                )
            except Exception as exc:
                raise translate(exc, "PutObjectLegalHold", bucket=bucket, key=key) from exc

    def list_uploads(self, bucket: str, prefix: str) -> Iterator[PendingUpload]:
        """Every in-progress multipart upload under ``prefix`` (paginated)."""
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    yield PendingUpload(
                        key=str(upload["Key"]),
                        upload_id=str(upload["UploadId"]),
                        initiated=upload["Initiated"],
                    )
        except Exception as exc:
            raise translate(exc, "ListMultipartUploads", bucket=bucket, key=prefix) from exc

    def check_bucket(self, bucket: str, key: str) -> None:
        """ListObjectsV2 of ``key``, one entry at most. Not HeadBucket: a HEAD's error has no
        body, so its bare 403 cannot tell refused credentials (InvalidAccessKeyId,
        SignatureDoesNotMatch) from credentials that may write but not list; a GET's can.
        (Both need s3:ListBucket; the prefix lets policies that allow listing only under
        it answer too.)"""
        try:
            self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        except Exception as exc:
            raise translate(exc, "ListObjectsV2", bucket=bucket, key=key) from exc


def _stored(response: Mapping[str, Any], commit: Commit) -> StoredObject:
    checksum = None
    if commit.checksum is not None:
        checksum = response.get(commit.checksum.param)
    return StoredObject(
        etag=str(response.get("ETag", "")),
        version_id=response.get("VersionId"),
        checksum=str(checksum) if checksum is not None else None,
        checksum_type=response.get("ChecksumType"),
        etag_is_md5=etag_is_md5(response),
    )


def _lock_of(response: Mapping[str, Any]) -> ObjectLock | None:
    mode = response.get("ObjectLockMode")
    hold = response.get("ObjectLockLegalHoldStatus") == "ON"
    if mode is None and not hold:
        return None
    return ObjectLock(mode, response.get("ObjectLockRetainUntilDate"), hold)
