"""The objects below a prefix, for ``s3sink get s3://B/PREFIX/ DIR``, ``s3sink verify
s3://B/PREFIX/ --recursive``, ``ls`` and ``prune``: ListObjectsV2, every page, each object's
key, size, ETag, LastModified and stored checksum (the algorithm and type the listing names:
S3 gives them for every object, some stores only the algorithm, some nothing); and
ListObjectVersions for ``prune --purge-versions``.

Keys come back exactly as stored: ListObjectsV2 is asked for no ``EncodingType``, so botocore
gets them as XML text (control characters that XML 1.0 cannot carry make S3 answer an error
rather than a mangled key). What a key may do below DIR is ``s3sink._read.paths``' business.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .client import S3Client
from .errors import translate_read

__all__ = ["ListedObject", "ListedVersion", "list_objects", "list_versions", "utc_time"]


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing."""

    key: str
    size: int
    etag: str
    last_modified: dt.datetime | None = None
    checksum_algorithm: str | None = None  # CRC64NVME, ...; None: the listing names none
    checksum_type: str | None = None  # FULL_OBJECT or COMPOSITE, where the store says


@dataclass(frozen=True)
class ListedVersion:
    """One version (or delete marker) of a version listing."""

    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    last_modified: dt.datetime | None


def utc_time(value: object) -> dt.datetime | None:
    """A listing's time, aware and in UTC (botocore gives tzutc or tzlocal datetimes)."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _listed(item: dict[str, Any]) -> ListedObject:
    algorithms = item.get("ChecksumAlgorithm") or []
    return ListedObject(
        key=str(item["Key"]),
        size=int(item.get("Size", 0)),
        etag=str(item.get("ETag", "")),
        last_modified=utc_time(item.get("LastModified")),
        checksum_algorithm=",".join(map(str, algorithms)) or None,
        checksum_type=str(item["ChecksumType"]) if item.get("ChecksumType") else None,
    )


def list_objects(
    client: S3Client, bucket: str, prefix: str, *, page_size: int | None = None
) -> Iterator[ListedObject]:
    """Every object whose key starts with ``prefix``, in the store's (UTF-8 byte) order,
    page after page (``page_size`` keys a page: the store's default, 1000 on S3); a failure
    is a ReadError naming the bucket and prefix, its cause chained."""
    paging = {} if page_size is None else {"PageSize": page_size}
    try:
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig=paging)
        for page in pages:
            for item in page.get("Contents", []):
                yield _listed(item)
    except Exception as exc:
        raise translate_read(
            exc, "ListObjectsV2", bucket=bucket, key=prefix, version_id=None, started=False
        ) from exc


def list_versions(client: S3Client, bucket: str, prefix: str) -> Iterator[ListedVersion]:
    """Every version and delete marker whose key starts with ``prefix`` (ListObjectVersions,
    every page); a failure is a ReadError, its cause chained."""
    try:
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                for item in page.get(kind, []):
                    yield ListedVersion(
                        key=str(item["Key"]),
                        version_id=str(item.get("VersionId") or "null"),
                        is_latest=bool(item.get("IsLatest")),
                        delete_marker=marker,
                        last_modified=utc_time(item.get("LastModified")),
                    )
    except Exception as exc:
        raise translate_read(
            exc, "ListObjectVersions", bucket=bucket, key=prefix, version_id=None, started=False
        ) from exc
