"""Objects as a filesystem sees them, for ``s3sink.fsspec``: one level of a listing
(ListObjectsV2 with a ``/`` delimiter, every page), the buckets, an object's metadata
(HeadObject), batched deletes (DeleteObjects) and server-side copies (CopyObject, and
UploadPartCopy for objects beyond CopyObject's 5 GiB).

Missing things are answered as such (``None``, an empty listing), never as an exception, so
the filesystem can tell "no such file" from a store that failed; failures are s3sink's errors,
their botocore cause chained.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ReadError, UploadError
from .client import S3Client
from .errors import describe, error_code, translate, translate_read

__all__ = [
    "COPY_OBJECT_LIMIT",
    "DELETE_BATCH",
    "Entry",
    "copy_object",
    "delete_objects",
    "list_buckets",
    "list_level",
    "stat_object",
]

#: DeleteObjects takes at most this many keys a request.
DELETE_BATCH = 1000
#: CopyObject copies at most 5 GiB; beyond, UploadPartCopy in parts of COPY_PART.
COPY_OBJECT_LIMIT = 5 << 30
COPY_PART = 512 << 20

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class Entry:
    """One object (``size`` and the rest) or one common prefix (``is_prefix``, key ending
    without its ``/``) of a listing, or an object's HeadObject."""

    key: str
    size: int = 0
    is_prefix: bool = False
    etag: str | None = None
    last_modified: _dt.datetime | None = None
    content_type: str | None = None
    version_id: str | None = None


def list_level(
    client: S3Client, bucket: str, prefix: str, *, limit: int | None = None
) -> Iterator[Entry]:
    """The objects and common prefixes right below ``prefix`` (``""`` or ending with ``/``),
    page after page; ``limit`` stops after that many entries (an existence check). A
    missing bucket is a FileNotFoundError."""
    seen = 0
    paging = {} if limit is None else {"PageSize": limit, "MaxItems": limit}
    try:
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig=paging
        )
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                yield Entry(key=str(common["Prefix"]).rstrip("/"), is_prefix=True)
                seen += 1
            for item in page.get("Contents", []):
                yield Entry(
                    key=str(item["Key"]),
                    size=int(item.get("Size", 0)),
                    etag=str(item.get("ETag", "")),
                    last_modified=item.get("LastModified"),
                )
                seen += 1
            if limit is not None and seen >= limit:
                return
    except Exception as exc:
        if error_code(exc) == "NoSuchBucket":
            raise FileNotFoundError(f"no bucket {bucket!r}") from exc
        raise translate_read(
            exc, "ListObjectsV2", bucket=bucket, key=prefix, version_id=None, started=False
        ) from exc


def list_buckets(client: S3Client) -> list[str]:
    """The names of the buckets the credentials own (ListBuckets)."""
    try:
        response = client.list_buckets()
    except Exception as exc:
        raise ReadError(f"ListBuckets failed: {describe(exc)}", bucket="", key="") from exc
    return [str(b["Name"]) for b in response.get("Buckets", [])]


def stat_object(client: S3Client, bucket: str, key: str) -> Entry | None:
    """HeadObject of ``key``, or None when there is no such object (or bucket)."""
    try:
        response = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if error_code(exc) in _NOT_FOUND or error_code(exc) == "NoSuchBucket":
            return None
        raise translate_read(
            exc, "HeadObject", bucket=bucket, key=key, version_id=None, started=False
        ) from exc
    return Entry(
        key=key,
        size=int(response.get("ContentLength", 0)),
        etag=str(response.get("ETag", "")),
        last_modified=response.get("LastModified"),
        content_type=response.get("ContentType"),
        version_id=response.get("VersionId"),
    )


def delete_objects(client: S3Client, bucket: str, keys: Iterable[str]) -> None:
    """Delete ``keys`` (DeleteObjects, DELETE_BATCH a request); a key the store could not
    delete is an UploadError naming it (missing keys are not errors in S3)."""
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == DELETE_BATCH:
            _delete_batch(client, bucket, batch)
            batch = []
    if batch:
        _delete_batch(client, bucket, batch)


def _delete_batch(client: S3Client, bucket: str, keys: list[str]) -> None:
    try:
        response = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
    except Exception as exc:
        raise translate(exc, "DeleteObjects", bucket=bucket, key=keys[0]) from exc
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise UploadError(
            f"DeleteObjects left {len(errors)} key(s): {first.get('Code')}: "
            f"{first.get('Message', '')}",
            bucket=bucket,
            key=str(first.get("Key", "")),
        )


def copy_object(client: S3Client, bucket: str, source: str, target: str, size: int) -> None:
    """Copy ``source`` to ``target`` in the store: CopyObject up to 5 GiB, beyond that a
    multipart upload of UploadPartCopy ranges (aborted on any failure)."""
    copy_source = {"Bucket": bucket, "Key": source}
    if size <= COPY_OBJECT_LIMIT:
        try:
            client.copy_object(Bucket=bucket, Key=target, CopySource=copy_source)
        except Exception as exc:
            raise translate(exc, "CopyObject", bucket=bucket, key=target) from exc
        return
    try:
        upload_id = str(client.create_multipart_upload(Bucket=bucket, Key=target)["UploadId"])
    except Exception as exc:
        raise translate(exc, "CreateMultipartUpload", bucket=bucket, key=target) from exc
    try:
        parts = _copy_parts(
            client, bucket=bucket, target=target, upload_id=upload_id, source=copy_source, size=size
        )
        client.complete_multipart_upload(
            Bucket=bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException as exc:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload_id)
        except Exception as abort_exc:  # noqa: BLE001 - the first error wins; this one is its note
            exc.add_note(f"and aborting the copy's upload {upload_id} failed: {abort_exc}")
        if isinstance(exc, Exception):
            raise translate(exc, "UploadPartCopy", bucket=bucket, key=target) from exc
        raise


def _copy_parts(
    client: S3Client,
    *,
    bucket: str,
    target: str,
    upload_id: str,
    source: dict[str, str],
    size: int,
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for number, start in enumerate(range(0, size, COPY_PART), start=1):
        end = min(start + COPY_PART, size) - 1
        response = client.upload_part_copy(
            Bucket=bucket,
            Key=target,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={start}-{end}",
        )
        parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
    return parts
