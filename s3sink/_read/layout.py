"""Before the first byte: what the object is (HeadObject), what its bytes are checked against,
and where its parts begin and end.

One HeadObject with ChecksumMode=ENABLED gives the size, the ETag (which every GET then
insists on), the stored checksum and the encryption. A multipart object (its ETag or
checksum ends in ``-N``) gets a second HeadObject with ``PartNumber=1``: the parts count and
the first part's size, to align the ranges on the parts. Only a per-part check (a COMPOSITE
checksum, a multipart ETag) needs every boundary: HeadObject of parts 2..N, ``concurrency`` at
a time (N requests, cheap next to reading the parts; for a FULL_OBJECT CRC, what s3sink
writes, none of them). A store that will not answer a part number leaves a per-part check
impossible, which is then said like any other "nothing to check against".
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from .._store.checksums import bare_etag
from .._store.transport import ObjectHead
from ..errors import IntegrityError, ObjectChangedError, ReadError
from .config import ReadConfig
from .fetch import Target
from .verify import Check, choose_check, parts_in

__all__ = ["Layout", "describe"]

log = logging.getLogger("s3sink")


@dataclass(frozen=True)
class Layout:
    """The object as the reader plans it: its ``head``, the ``check``, the part boundaries
    (``part_sizes`` when a per-part check needs them, else the ``first_part`` size for
    alignment only, when known) and its ``parts`` count."""

    head: ObjectHead
    check: Check
    parts: int
    part_sizes: tuple[int, ...] | None = None
    first_part: int | None = None


def describe(target: Target, config: ReadConfig) -> Layout:
    """HeadObject (and its parts, when needed); raises ReadError, ObjectChangedError (the
    ETag is not ``config.if_match``) and IntegrityError (nothing to check against, with
    ``require_checksum``)."""
    transport = target.transport
    head = transport.read_head(
        target.bucket, target.key, version_id=target.version_id, extra=target.extra
    )
    if config.if_match is not None and bare_etag(head.etag) != bare_etag(config.if_match):
        raise ObjectChangedError(
            f"the object's ETag is {head.etag}, not {config.if_match}: it changed",
            bucket=target.bucket,
            key=target.key,
            version_id=target.version_id,
        )
    check = choose_check(head)
    count = check.parts or parts_in(head.etag)
    layout = Layout(head, check, parts=count or 1)
    if count is not None or check.by == "checksum-composite":
        layout = _with_parts(target, config, layout)
    if layout.check.by is None:
        _nothing_to_check(target, config, layout.check)
    return layout


def _with_parts(target: Target, config: ReadConfig, layout: Layout) -> Layout:
    """The parts count and the first part's size; every boundary for a per-part check."""
    check = layout.check
    try:
        first = _part(target, 1)
    except ReadError as exc:
        if not check.per_part:
            log.debug("HeadObject with a part number failed (%s): ranges not aligned", exc)
            return layout
        return replace(layout, check=_unplannable(exc))
    count = first.parts_count or 1
    if first.part_size is None or not check.per_part:
        return replace(layout, parts=count, first_part=first.part_size)
    sizes = [first.part_size]
    if count > 1:
        try:
            with ThreadPoolExecutor(
                max_workers=min(config.concurrency, count - 1), thread_name_prefix="s3sink-head"
            ) as pool:
                sizes += [
                    head.part_size or 0
                    for head in pool.map(lambda n: _part(target, n), range(2, count + 1))
                ]
        except ReadError as exc:
            return replace(layout, check=_unplannable(exc))
    if sum(sizes) != layout.head.size:
        raise ReadError(
            f"the {count} parts HeadObject reports add up to {sum(sizes)} bytes, not the "
            f"object's {layout.head.size}",
            bucket=target.bucket,
            key=target.key,
            version_id=target.version_id,
        )
    return replace(layout, parts=count, part_sizes=tuple(sizes), first_part=sizes[0])


def _part(target: Target, number: int) -> ObjectHead:
    # No If-Match here: moto answers a part's own ETag; the GETs insist on the object's.
    return target.transport.read_head(
        target.bucket,
        target.key,
        version_id=target.version_id,
        part_number=number,
        extra=target.extra,
    )


def _unplannable(exc: ReadError) -> Check:
    return Check(
        None,
        why_not=f"the parts' boundaries are unknown (HeadObject with a part number: {exc})",
    )


def _nothing_to_check(target: Target, config: ReadConfig, check: Check) -> None:
    uri = f"s3://{target.bucket}/{target.key}"
    if config.require_checksum:
        raise IntegrityError(
            f"nothing to check the bytes against: {check.why_not} (required: a checksum, "
            "or an ETag that is an MD5)",
            bucket=target.bucket,
            key=target.key,
            version_id=target.version_id,
        )
    log.warning("%s: the bytes cannot be verified: %s", uri, check.why_not)
