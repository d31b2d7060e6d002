"""Putting a writer together: from its checked :class:`WriterConfig`, the transport (built
over a botocore client when none is given), the part pool, the multipart upload, the part
buffer and the feed in front of it, as one :class:`WriterParts` that the writer and its
ending share. No I/O: the multipart upload is created with the first full part."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from .._store.boto import BotoTransport
from .._store.client import S3Client
from .._store.transport import Transport
from .._upload.multipart import MultipartUpload
from .._upload.parts import PartLedger
from .._upload.pool import PartPool, SharedBudget
from .._upload.state import Lifecycle, State
from .buffer import PartBuffer
from .compress import CompressionStage
from .config import WriterConfig
from .encrypt import EncryptionStage, StagePair
from .feed import DirectFeed, Feed, Stage, StagedFeed

__all__ = ["WriterParts", "assemble"]


@dataclass
class WriterParts:
    """What one writer is made of, as its ending needs it."""

    lock: threading.RLock  # the writer's: serialises write/close/abort
    life: Lifecycle
    upload: MultipartUpload
    pool: PartPool
    ledger: PartLedger
    buffer: PartBuffer
    feed: Feed
    stop_sending: threading.Event  # set when aborting: capped bodies stop sending
    # Checks the conditions once, if no write did (close() of an empty stream).
    check_conditions: Callable[[], None]
    # write_file()'s check that the file is unchanged, run before the commit; or None.
    source_check: Callable[[], Callable[[], None] | None]
    # The exception being handled when the writer was made (by id: holding it would keep
    # its frames alive): close() under any other one is an unwinding, not a commit.
    made_under: int | None


def assemble(
    config: WriterConfig,
    *,
    client: S3Client | None,
    transport: Transport | None,
    memory_budget: SharedBudget | None,
    check_conditions: Callable[[], None],
    source_check: Callable[[], Callable[[], None] | None],
    made_under: int | None,
) -> WriterParts:
    """The parts of one writer over ``transport`` (or a :class:`BotoTransport` over
    ``client``, or over a client built for the writer's checksum mode), its pool in
    ``memory_budget`` when the buffers are shared (the mount)."""
    spec = config.spec
    stop_sending = threading.Event()  # set when aborting: parts sent at the cap stop at once
    if transport is None:
        transport = _boto_transport(config, client, stop_sending)
    pool = PartPool(
        concurrency=config.concurrency,
        max_memory=config.plan.max_memory,
        name=f"s3sink-{spec.key[:20]}",
        limit_for=config.plan.limit_for,
        shared=memory_budget,
    )
    ledger = PartLedger(config.on_progress)
    if config.codec is not None or config.recipients:
        ledger.source_bytes = 0
    life = Lifecycle(State.OPEN)
    upload = MultipartUpload(
        transport,
        spec,
        pool=pool,
        ledger=ledger,
        lifecycle=life,
        abort_timeout=config.abort_timeout,
        schedule=config.plan.schedule,
        resumption=replace(config.resumption, endpoint=getattr(transport, "endpoint", "")),
    )
    buffer = PartBuffer(upload, pool, ledger, spec.checksummer)
    feed: Feed = DirectFeed(buffer)
    stage: Stage | None = None
    if config.codec is not None:
        stage = CompressionStage(
            config.codec, bucket=spec.bucket, key=spec.key, upload_id=lambda: upload.upload_id
        )
    if config.recipients:
        encryption = EncryptionStage(config.recipients)
        stage = encryption if stage is None else StagePair(stage, encryption)
    if stage is not None:
        feed = StagedFeed(stage, buffer, ledger)
    return WriterParts(
        lock=threading.RLock(),  # serialises write/close/abort; parts run outside it
        life=life,
        upload=upload,
        pool=pool,
        ledger=ledger,
        buffer=buffer,
        feed=feed,
        stop_sending=stop_sending,
        check_conditions=check_conditions,
        source_check=source_check,
        made_under=made_under,
    )


def _boto_transport(
    config: WriterConfig, client: S3Client | None, stop_sending: threading.Event
) -> Transport:
    """A :class:`BotoTransport` over ``client``, or over one built for the writer."""
    if client is None:
        from .._store.client import build_client  # noqa: PLC0415  # botocore: slow import

        client = build_client(checksum=config.checksum, concurrency=config.concurrency)
    return BotoTransport(client, limiter=config.rate_limiter, stop=stop_sending)
