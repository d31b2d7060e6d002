"""The objects below a prefix, for ``s3sink get s3://B/PREFIX/ DIR`` and ``s3sink verify
s3://B/PREFIX/ --recursive``: ListObjectsV2, every page, each object's key, size and ETag.

Keys come back exactly as stored: ListObjectsV2 is asked for no ``EncodingType``, so botocore
gets them as XML text (control characters that XML 1.0 cannot carry make S3 answer an error
rather than a mangled key). What a key may do below DIR is ``s3sink._read.paths``' business.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .client import S3Client
from .errors import translate_read

__all__ = ["ListedObject", "list_objects"]


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing."""

    key: str
    size: int
    etag: str


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
                yield ListedObject(
                    key=str(item["Key"]),
                    size=int(item.get("Size", 0)),
                    etag=str(item.get("ETag", "")),
                )
    except Exception as exc:
        raise translate_read(
            exc, "ListObjectsV2", bucket=bucket, key=prefix, version_id=None, started=False
        ) from exc
