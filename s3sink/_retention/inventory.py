"""What is below a prefix, for ``s3sink ls`` and ``s3sink prune``: the objects newest first,
what one HeadObject per object adds (the lock, the Content-Type), the pending uploads, and the
other "directories" a prefix without a trailing ``/`` also matches.

Cost: one listing (a request per 1,000 keys) and one GetObjectLockConfiguration. HeadObject
is asked per object only where it is worth it: ``heads="locked"`` (ls's default) only when
the bucket has Object Lock enabled, so a plain bucket costs the listing alone;
``heads="all"`` (``ls --long``) always, for the Content-Type too; ``heads="none"`` never.
They run on a bounded pool of threads; the first failure wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from .._store.boto import BotoTransport
from .._store.client import S3Client
from .._store.listing import ListedObject, list_objects
from .._store.objectinfo import ObjectInfo, bucket_has_object_lock, head_info
from .._store.transport import PendingUpload

__all__ = [
    "EPOCH",
    "HEAD_CONCURRENCY",
    "Entry",
    "Heads",
    "Inventory",
    "head_all",
    "object_format",
    "shared_starts",
    "take_inventory",
]

HEAD_CONCURRENCY = 8  # HeadObject requests in flight at once
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # a listing without a time: oldest

Heads = Literal["none", "locked", "all"]

# Content-Types s3sink sets (``--compress``) or that name these formats, and the names'
# endings that say the same without a request.
_TYPES = {
    "application/zstd": "zstd",
    "application/x-zstd": "zstd",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/age": "age",
    "application/x-age": "age",
}
_ENDINGS = (
    (".tar.zst", "zstd"),
    (".zst", "zstd"),
    (".zstd", "zstd"),
    (".gz", "gzip"),
    (".tgz", "gzip"),
    (".age", "age"),
)


@dataclass(frozen=True)
class Entry:
    """One object: as listed, and what its HeadObject said (None: not asked)."""

    listed: ListedObject
    info: ObjectInfo | None = None

    @property
    def last_modified(self) -> dt.datetime:
        return self.listed.last_modified or EPOCH


@dataclass(frozen=True)
class Inventory:
    """The objects below a prefix (newest first), the bucket's Object Lock (None: unknown),
    the pending uploads, and the other starts the prefix matches."""

    entries: list[Entry]
    object_lock: bool | None
    uploads: list[PendingUpload]
    shared: list[str]


def object_format(key: str, content_type: str | None) -> tuple[str | None, str | None]:
    """What the object is (``zstd``, ``gzip``, ``age``) and how that is known
    (``content-type``, or ``name`` from the key's ending); (None, None) when neither says."""
    if content_type:
        known = _TYPES.get(content_type.split(";", 1)[0].strip().lower())
        if known is not None:
            return known, "content-type"
    lowered = key.lower()
    for ending, name in _ENDINGS:
        if lowered.endswith(ending):
            return name, "name"
    return None, None


def shared_starts(prefix: str, keys: Iterable[str], *, limit: int = 3) -> list[str]:
    """The "directories" other than ``prefix/`` that ``prefix`` matches as a plain string
    prefix (``db`` also matches ``db-old/``): none when it ends in ``/`` or is empty."""
    if not prefix or prefix.endswith("/"):
        return []
    found: list[str] = []
    for key in keys:
        rest = key[len(prefix) :]
        head, slash, _ = rest.partition("/")
        if slash and head:
            start = f"{prefix}{head}/"
            if start not in found:
                found.append(start)
                if len(found) >= limit:
                    break
    return found


def head_all(
    client: S3Client,
    bucket: str,
    targets: Sequence[tuple[str, str | None]],
    *,
    concurrency: int = HEAD_CONCURRENCY,
) -> list[ObjectInfo]:
    """HeadObject for each (key, version id), at most ``concurrency`` at once, in order;
    the first failure (a ReadError) is raised once the requests under way are done."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        futures = [pool.submit(head_info, client, bucket, key, ver) for key, ver in targets]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def take_inventory(
    client: S3Client,
    bucket: str,
    prefix: str,
    *,
    heads: Heads = "locked",
    uploads: bool = True,
    concurrency: int = HEAD_CONCURRENCY,
) -> Inventory:
    """List ``prefix`` (see the module docstring for what is asked and when)."""
    listed = sorted(
        list_objects(client, bucket, prefix),
        key=lambda o: (o.last_modified or EPOCH, o.key),
        reverse=True,
    )
    object_lock = bucket_has_object_lock(client, bucket)
    entries = [Entry(item) for item in listed]
    if heads == "all" or (heads == "locked" and object_lock):
        targets = [(e.listed.key, None) for e in entries]
        infos = head_all(client, bucket, targets, concurrency=concurrency)
        entries = [Entry(e.listed, info) for e, info in zip(entries, infos, strict=True)]
    pending = list(BotoTransport(client).list_uploads(bucket, prefix)) if uploads else []
    shared = shared_starts(prefix, (item.key for item in listed))
    return Inventory(entries, object_lock, pending, shared)
