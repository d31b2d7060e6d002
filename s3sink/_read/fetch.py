"""One range, read on a worker thread into its buffer: resumed where a broken connection left
it, every request with ``If-Match``.

The body is read a chunk at a time (256 KiB) straight into the range's buffer, and each chunk
is folded into the range's digest while it is still in the CPU's cache (a whole 8 MiB range
digested afterwards comes back from memory). A connection that breaks mid-body
(:class:`RangeBroken`: a reset, a timeout, a close) is resumed from the last chunk received,
with a new GET of the rest, after the upload side's backoff (botocore's standard retry mode:
full jitter, doubling, at most 20 s) and as many times as the client tries a request
(``--max-attempts``, AWS_MAX_ATTEMPTS, else 10); each retry is logged as botocore's are. A
request that fails outright has been retried by botocore already.

Every GET carries ``If-Match`` with the ETag of the first answer, so a range of another
version is refused (412: :class:`~s3sink.errors.ObjectChangedError`). Ceph RGW compares
If-Match with the bare digest and refuses the quoted ETag that S3 documents: on a 412 for the
quoted form the reader asks HeadObject, and if the ETag is unchanged it goes on with the bare
form (:class:`IfMatch`), once for all ranges.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._store.checksums import Digest, bare_etag
from .._store.transport import RangeBroken, RangeStream, ReadTransport
from ..errors import ObjectChangedError, ReadError
from .plan import Range

__all__ = ["CHUNK", "ActiveStreams", "IfMatch", "Stopped", "Target", "fetch_range"]

log = logging.getLogger("s3sink")

CHUNK = 256 * 1024  # bytes read (and digested) at a time: a chunk stays in L2 cache


class Stopped(Exception):  # the reader is closing: not a failure
    """The read was stopped (closed, or failed elsewhere) while this range was read."""


@dataclass(frozen=True)
class Target:
    """What every request of one read names."""

    transport: ReadTransport
    bucket: str
    key: str
    version_id: str | None
    extra: Mapping[str, Any]


class IfMatch:
    """The If-Match value every GET sends: the ETag as the first answer gave it (quoted),
    or its bare digest once a store showed that it wants that form (see the module
    docstring). Shared by the workers of one read."""

    def __init__(self, etag: str) -> None:
        self.value = etag
        self._lock = threading.Lock()

    def refused(self, target: Target, sent: str) -> bool:
        """A GET with ``sent`` was refused (412): True if it is worth asking again (the bare
        form for a store that wants it, or another worker switched already)."""
        with self._lock:
            if self.value != sent:
                return True
            if not sent.startswith('"'):
                return False
            try:
                head = target.transport.read_head(
                    target.bucket, target.key, version_id=target.version_id, extra=target.extra
                )
            except ReadError:  # deleted meanwhile, say: the GET's own error says it
                return False
            if bare_etag(head.etag) != bare_etag(sent):
                return False
            log.debug("the store refuses a quoted If-Match; sending the bare ETag")
            self.value = bare_etag(sent)
            return True


class ActiveStreams:
    """The bodies being read right now, so that closing the reader can wake workers blocked
    in a read (a stalled store) instead of waiting for the socket's timeout."""

    def __init__(self) -> None:
        self._streams: set[RangeStream] = set()
        self._lock = threading.Lock()

    def add(self, stream: RangeStream) -> None:
        with self._lock:
            self._streams.add(stream)

    def discard(self, stream: RangeStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def abort_all(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.abort()


def _open(target: Target, start: int, end: int, if_match: IfMatch) -> RangeStream:
    while True:
        sent = if_match.value
        try:
            return target.transport.get_range(
                target.bucket,
                target.key,
                start,
                end,
                if_match=sent,
                version_id=target.version_id,
                extra=target.extra,
            )
        except ObjectChangedError:
            if not if_match.refused(target, sent):
                raise


class _Progress:
    """Bytes of the range in its buffer (and digested) so far: survives a broken body."""

    __slots__ = ("received",)

    def __init__(self) -> None:
        self.received = 0


def _read_body(
    stream: RangeStream,
    rng: Range,
    view: memoryview,
    digest: Digest | None,
    *,
    progress: _Progress,
    stop: threading.Event,
) -> None:
    """Read the rest of ``rng`` from ``stream``, a chunk at a time, each one digested as it
    lands; RangeBroken from the stream goes up with ``progress`` where it stopped."""
    while progress.received < rng.length:
        if stop.is_set():
            raise Stopped
        chunk = view[progress.received : min(progress.received + CHUNK, rng.length)]
        got = stream.readinto(chunk)
        if got <= 0:
            raise RangeBroken(f"the body ended {rng.length - progress.received} bytes early")
        if digest is not None:
            digest.update(chunk[:got])
        progress.received += got


def fetch_range(
    target: Target,
    rng: Range,
    view: memoryview,
    digest: Digest | None,
    *,
    if_match: IfMatch,
    stop: threading.Event,
    attempts: int,
    wait: Callable[[int], float],
    active: ActiveStreams,
) -> None:
    """Read ``rng`` into ``view`` (its length), folding each chunk into ``digest``.
    :class:`Stopped` when ``stop`` is set meanwhile; a ReadError once the range broke
    ``attempts`` times. The body is in ``active`` while it is read."""
    progress = _Progress()
    attempt = 1
    while True:
        if stop.is_set():
            raise Stopped
        stream = _open(target, rng.start + progress.received, rng.end, if_match)
        active.add(stream)
        try:
            _read_body(stream, rng, view, digest, progress=progress, stop=stop)
        except RangeBroken as exc:
            if stop.is_set():  # aborted by close(): no retry, nothing to say
                raise Stopped from exc
            attempt += 1
            if attempt > attempts:
                raise ReadError(
                    f"GetObject of bytes {rng.start}-{rng.end - 1} broke off {attempts} times; "
                    f"the last time: {exc}",
                    bucket=target.bucket,
                    key=target.key,
                    version_id=target.version_id,
                ) from exc
            log.warning(
                "retrying GetObject of bytes %d-%d from byte %d (attempt %d of %d): %s",
                rng.start,
                rng.end - 1,
                rng.start + progress.received,
                attempt,
                attempts,
                exc,
            )
        else:
            return
        finally:
            active.discard(stream)
            stream.close()
        if stop.wait(wait(attempt)):
            raise Stopped
