"""FaultyStore: faults as a wrapper around a store, not switches inside it (mountpoint-s3's
``failure_client.rs`` wraps its mock client the same way).

``FaultyStore(store)`` is a Transport in front of ``store`` (a ``FakeS3``, or any Transport):
hand it to the writer (``make_writer(faulty)``, ``transport=faulty``) and keep the store for
what it holds. Every call passes through in this order:

1. the ``before`` hook of its operation, if any (before the call is recorded);
2. the call is recorded (``FaultyStore`` is a ``CallLog``: what the writer sent, faults
   included, with the ``upload_part`` calls in flight, held ones too);
3. holds (``hold_parts``): the call waits until its Event is set (a held call gives up after
   ``HOLD_TIMEOUT`` with ``TestHoldTimedOut``, so no test hangs);
4. delays (``delay_parts``);
5. failures (``fail``): the S3 error BotoTransport would raise, and the store never sees the
   call;
6. corruption (``corrupt``): one byte in the middle of the body flipped on its way in (a copy:
   the caller's buffer is untouched); ``rewrite_commit`` changes what a Complete or PutObject
   claims (its size, checksum, conditions);
7. the store performs it (an abort set to leak by ``leak_aborts`` frees the stored parts but
   lets parts in flight land, as S3 documents);
8. a lost response (``lose_response``): the store did it, the caller sees an error;
9. the ``after`` hook, once the call returned without error.

Reading back (``read_head``, ``get_range``) goes through the same steps; a GET's body can
then break (``break_ranges``: ``RangeBroken`` after some bytes, as a reset mid-body) or arrive
with a byte flipped (``corrupt("get_range")``: the middle byte of the range, as in transit).

Each fault names the operation by its Transport method (``"upload_part"``,
``"complete_multipart_upload"``, ...), can be limited to part numbers (``parts``) and to a
number of calls (``times``; ``None``: every matching call). Add faults before the writer runs;
they apply in the order added, the first matching one of a kind wins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from s3sink._store.objectlock import ObjectLock
from s3sink._store.transport import (
    Body,
    Commit,
    CompletedPart,
    ListedPart,
    ObjectHead,
    ObjectInfo,
    PartChecksum,
    PartReceipt,
    PendingUpload,
    RangeBroken,
    RangeStream,
    SendCounter,
    StoredObject,
    Transport,
)
from tests.support.fakes import CallLog, read_error, s3_error

HOLD_TIMEOUT = 30.0  # a held call gives up (fails) after this long, so no test hangs

#: Each operation's S3 request name, as BotoTransport's errors say it.
REQUESTS = {
    "put_object": "PutObject",
    "create_multipart_upload": "CreateMultipartUpload",
    "upload_part": "UploadPart",
    "complete_multipart_upload": "CompleteMultipartUpload",
    "abort_multipart_upload": "AbortMultipartUpload",
    "delete_object": "DeleteObject",
    "copy_object": "CopyObject",
    "list_parts": "ListParts",
    "head_object": "HeadObject",
    "put_object_lock": "PutObjectRetention",
    "list_uploads": "ListMultipartUploads",
    "check_bucket": "ListObjectsV2",
    "read_head": "HeadObject",
    "get_range": "GetObject",
}
READS = frozenset({"read_head", "get_range"})
COMMITS = frozenset({"put_object", "complete_multipart_upload"})


@dataclass
class _Rule:
    """One fault: which calls it applies to, and how many more times (None: always)."""

    kind: str  # "hold" | "delay" | "fail" | "corrupt" | "commit" | "lose_response" | "leak"
    # | "break"
    op: str
    parts: frozenset[int] | None
    times: int | None
    code: str = ""
    event: threading.Event | None = None
    delay: Callable[[int], float] | None = None
    change: Callable[[Commit], Commit] | None = None
    after_bytes: int = 0  # "break": bytes of the body delivered before it breaks

    def matches(self, op: str, part_number: int | None) -> bool:
        if op != self.op or self.times == 0:
            return False
        return self.parts is None or part_number in self.parts


@dataclass
class _Request:
    """One call on its way through: what the faults need to know about it."""

    op: str
    bucket: str
    key: str
    upload_id: str | None = None
    part_number: int | None = None

    def fail(self, code: str) -> NoReturn:
        if self.op in READS:
            failure = read_error(code, REQUESTS[self.op], self.bucket, self.key)
            raise failure from failure.__cause__
        error = s3_error(
            code,
            REQUESTS.get(self.op, self.op),
            self.bucket,
            self.key,
            self.upload_id,
            part_number=self.part_number,
            commit=self.op in COMMITS,
        )
        raise error from error.__cause__


class FaultyStore(CallLog):
    """A Transport that injects faults into the calls it passes to ``store``; see the module
    docstring."""

    def __init__(self, store: Transport) -> None:
        super().__init__()
        self.store = store
        self._rules: list[_Rule] = []
        self._before: dict[str, Callable[[], None]] = {}
        self._after: dict[str, Callable[[], None]] = {}

    @property
    def endpoint(self) -> str:
        """The store's name in resume journals, as the wrapped store gives it."""
        return str(getattr(self.store, "endpoint", ""))

    # -- faults --------------------------------------------------------------------------------

    def fail(
        self, op: str, code: str, *, parts: Iterable[int] | None = None, times: int | None = None
    ) -> None:
        """Calls of ``op`` fail with S3 error ``code`` without reaching the store."""
        self._add(_Rule("fail", op, _numbers(parts), times, code=code))

    def hold_parts(self, *numbers: int) -> threading.Event:
        """Parts with these numbers (every part if none given) wait, in flight, until the
        returned Event is set."""
        event = threading.Event()
        self._add(_Rule("hold", "upload_part", _numbers(numbers or None), None, event=event))
        return event

    def delay_parts(self, seconds: float | Callable[[int], float]) -> None:
        """Every part takes ``seconds`` (or ``seconds(part_number)``) longer, after any hold."""
        delay = seconds if callable(seconds) else (lambda _number: float(seconds))
        self._add(_Rule("delay", "upload_part", None, None, delay=delay))

    def corrupt(
        self, op: str, *, parts: Iterable[int] | None = None, times: int | None = 1
    ) -> None:
        """The next ``times`` bodies of ``op`` (``upload_part`` or ``put_object``; every one
        if None) arrive at the store with their middle byte flipped, under the caller's
        checksums."""
        self._add(_Rule("corrupt", op, _numbers(parts), times))

    def rewrite_commit(
        self, op: str, change: Callable[[Commit], Commit], *, times: int | None = None
    ) -> None:
        """What ``op`` (``complete_multipart_upload`` or ``put_object``) claims reaches the
        store as ``change(commit)``: e.g. a wrong MpuObjectSize."""
        self._add(_Rule("commit", op, None, times, change=change))

    def lose_response(
        self, op: str, code: str = "NoSuchUpload", *, times: int | None = None
    ) -> None:
        """The store performs ``op``, but its answer is lost: the caller sees ``code`` (what an
        SDK's retry of a Complete gets: NoSuchUpload, or 412 from If-None-Match finding the
        object this very Complete published)."""
        self._add(_Rule("lose_response", op, None, times, code=code))

    def leak_aborts(self, times: int = 1) -> None:
        """The next ``times`` aborts free the stored parts but let parts in flight land
        (``FakeS3.abort_leaving_parts_in_flight``), so the writer must abort again."""
        self._add(_Rule("leak", "abort_multipart_upload", None, times))

    def break_ranges(self, after_bytes: int, *, times: int | None = 1) -> None:
        """The next ``times`` GET bodies (every one if None) break with RangeBroken once
        ``after_bytes`` of them were read, as a connection reset mid-body."""
        self._add(_Rule("break", "get_range", None, times, after_bytes=after_bytes))

    def before(self, op: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` as each call of ``op`` arrives, before anything else."""
        self._before[op] = hook

    def after(self, op: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` after each call of ``op`` that returned without error."""
        self._after[op] = hook

    # -- the Transport -------------------------------------------------------------------------

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
        request = _Request("put_object", bucket, key)
        with self._call(request, len(body)) as arrive:
            commit = self._commit(request, commit)
            return self.store.put_object(
                bucket, key, arrive(body), extra=extra, commit=commit, sent=sent
            )

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        extra: Mapping[str, Any],
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> str:
        with self._call(_Request("create_multipart_upload", bucket, key)):
            return self.store.create_multipart_upload(
                bucket,
                key,
                extra=extra,
                checksum_algorithm=checksum_algorithm,
                checksum_type=checksum_type,
            )

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
        request = _Request("upload_part", bucket, key, upload_id, part_number)
        with self._call(request, len(body)) as arrive:
            return self.store.upload_part(
                bucket,
                key,
                upload_id,
                part_number,
                arrive(body),
                extra=extra,
                checksum=checksum,
                content_md5=content_md5,
                sent=sent,
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
        request = _Request("complete_multipart_upload", bucket, key, upload_id)
        with self._call(request):
            commit = self._commit(request, commit)
            return self.store.complete_multipart_upload(
                bucket, key, upload_id, parts, extra=extra, commit=commit
            )

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        op = "abort_multipart_upload"
        with self._call(_Request(op, bucket, key, upload_id)):
            if self._take("leak", op, None) is not None:
                leaky = getattr(self.store, "abort_leaving_parts_in_flight", None)
                if leaky is None:
                    raise TypeError(f"{type(self.store).__name__} cannot leak an abort")
                leaky(bucket, key, upload_id)
            else:
                self.store.abort_multipart_upload(bucket, key, upload_id)

    def delete_object(self, bucket: str, key: str, version_id: str | None) -> None:
        with self._call(_Request("delete_object", bucket, key)):
            self.store.delete_object(bucket, key, version_id)

    def copy_object(self, bucket: str, source_key: str, target_key: str) -> None:
        with self._call(_Request("copy_object", bucket, target_key)):
            self.store.copy_object(bucket, source_key, target_key)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[ListedPart] | None:
        with self._call(_Request("list_parts", bucket, key, upload_id)):
            return self.store.list_parts(bucket, key, upload_id)

    def head_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo | None:
        with self._call(_Request("head_object", bucket, key)):
            return self.store.head_object(bucket, key, version_id)

    def put_object_lock(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        lock: ObjectLock,
        *,
        extra: Mapping[str, Any],
    ) -> None:
        with self._call(_Request("put_object_lock", bucket, key)):
            self.store.put_object_lock(bucket, key, version_id, lock, extra=extra)

    def list_uploads(self, bucket: str, prefix: str) -> Iterator[PendingUpload]:
        with self._call(_Request("list_uploads", bucket, prefix)):
            found = list(self.store.list_uploads(bucket, prefix))
        yield from found

    def check_bucket(self, bucket: str, key: str) -> None:
        with self._call(_Request("check_bucket", bucket, key)):
            self.store.check_bucket(bucket, key)

    @property
    def max_attempts(self) -> int:
        return int(getattr(self.store, "max_attempts", 10))

    def read_head(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_number: int | None = None,
        if_match: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ObjectHead:
        with self._call(_Request("read_head", bucket, key, part_number=part_number)):
            return self.store.read_head(
                bucket,
                key,
                version_id=version_id,
                part_number=part_number,
                if_match=if_match,
                extra=extra,
            )

    def get_range(
        self,
        bucket: str,
        key: str,
        start: int,
        end: int,
        *,
        if_match: str | None,
        version_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> RangeStream:
        request = _Request("get_range", bucket, key)
        with self._call(request, end - start):
            stream = self.store.get_range(
                bucket, key, start, end, if_match=if_match, version_id=version_id, extra=extra
            )
        broken = self._take("break", "get_range", None)
        flipped = self._take("corrupt", "get_range", None) is not None
        if broken is None and not flipped:
            return stream
        return _FaultyRange(
            stream,
            break_after=broken.after_bytes if broken is not None else None,
            flip_at=(end - start) // 2 if flipped else None,
        )

    # -- internals -----------------------------------------------------------------------------

    def _add(self, rule: _Rule) -> None:
        with self._cond:
            self._rules.append(rule)

    def _take(self, kind: str, op: str, part_number: int | None) -> _Rule | None:
        """The first rule of ``kind`` for this call, counted as used."""
        with self._cond:
            for rule in self._rules:
                if rule.kind == kind and rule.matches(op, part_number):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    @contextmanager
    def _call(self, request: _Request, size: int | None = None) -> Iterator[Callable[[Body], Body]]:
        """One call through the wrapper, in the order of the module docstring; the block
        gets the function that delivers the body (corrupted or not) and calls the store."""
        hook = self._before.get(request.op)
        if hook is not None:
            hook()
        with self.record(request.op, part_number=request.part_number, size=size):
            self._pass(request)
            yield lambda body: self._arrive(request, body)
            lost = self._take("lose_response", request.op, request.part_number)
            if lost is not None:
                request.fail(lost.code)
        hook = self._after.get(request.op)
        if hook is not None:
            hook()

    def _pass(self, request: _Request) -> None:
        """Holds, delays and failures, in that order, before the store sees the call."""
        op, number = request.op, request.part_number
        with self._cond:
            holds = [
                r.event
                for r in self._rules
                if r.kind == "hold" and r.event is not None and r.matches(op, number)
            ]
        for event in holds:
            if not event.wait(HOLD_TIMEOUT):
                request.fail("TestHoldTimedOut")
        delay = self._take("delay", op, number)
        if delay is not None and delay.delay is not None:
            seconds = delay.delay(number or 0)
            if seconds:
                time.sleep(seconds)
        failure = self._take("fail", op, number)
        if failure is not None:
            request.fail(failure.code)

    def _commit(self, request: _Request, commit: Commit) -> Commit:
        """The commit as the store receives it."""
        rule = self._take("commit", request.op, None)
        return rule.change(commit) if rule is not None and rule.change is not None else commit

    def _arrive(self, request: _Request, body: Body) -> Body:
        """The body as the store receives it: one byte flipped in the middle if corrupted."""
        if self._take("corrupt", request.op, request.part_number) is None or not body:
            return body
        flipped = bytearray(body)
        flipped[len(flipped) // 2] ^= 0xFF
        return bytes(flipped)


class _FaultyRange:
    """A GET body that breaks after ``break_after`` bytes, or has byte ``flip_at`` flipped."""

    def __init__(
        self, stream: RangeStream, *, break_after: int | None, flip_at: int | None
    ) -> None:
        self._stream = stream
        self._break_after = break_after
        self._flip_at = flip_at
        self._read = 0

    def readinto(self, buffer: memoryview, /) -> int:
        if self._break_after is not None:
            room = self._break_after - self._read
            if room <= 0:
                raise RangeBroken("connection reset by FaultyStore")
            buffer = buffer[:room]
        n = self._stream.readinto(buffer)
        if self._flip_at is not None and self._read <= self._flip_at < self._read + n:
            buffer[self._flip_at - self._read] ^= 0xFF
        self._read += n
        return n

    def close(self) -> None:
        self._stream.close()

    def abort(self) -> None:
        self._stream.abort()


def _numbers(parts: Iterable[int] | None) -> frozenset[int] | None:
    return frozenset(parts) if parts is not None else None
