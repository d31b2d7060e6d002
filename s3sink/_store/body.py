"""A part buffer as botocore's request body (:class:`BufferBody`): read in place, never
copied, re-sent on a retry, paced by the rate limit and counted while it is being sent."""

from __future__ import annotations

import threading
from typing import Any

from .ratelimit import CHUNK, RateLimiter
from .transport import Body, SendCounter

__all__ = ["BufferBody", "start_sending"]


class BufferBody:
    """A seekable, read-only file over a part buffer, as botocore's request body.

    botocore copies a bytes-like body whenever a stream is wanted (its CRT signer wraps it
    in ``BytesIO``, a full copy of every part in flight); a file object is read in place,
    and ``readinto`` lets the signer hash it without allocating. ``seek`` makes retries
    re-send the same bytes.

    With a ``limiter`` (``rate_limit``), the reads that send the body take its tokens, a
    CHUNK at most each. Those are the reads after botocore's ``before-send`` event
    (:func:`start_sending`); a ``seek`` ends them, so that the signer hashing the payload
    (which reads, then seeks back) is not counted, and a retry, which seeks to the start
    and sends again, is. ``stop`` set (the writer aborts): the next such read raises
    SendingStopped, and so does one waiting for tokens.

    With a ``counter``, the same reads add their length to ``counter.sent`` (progress:
    bytes handed to the connection before the store acknowledged them), and a ``seek``
    sets it back to 0: a retry takes back what its failed attempt had counted.
    """

    def __init__(
        self,
        data: Body,
        limiter: RateLimiter | None = None,
        stop: threading.Event | None = None,
        counter: SendCounter | None = None,
    ) -> None:
        self._view = memoryview(data).cast("B")
        self._pos = 0
        self._limiter = limiter
        self._stop = stop
        self._counter = counter
        if counter is not None:
            counter.sent = 0  # a new request for the same part (sent again): counted anew
        self.sending = False

    def __len__(self) -> int:
        return self._view.nbytes

    def read(self, size: int = -1) -> memoryview:
        # A view, not bytes: the HTTP layer only sends it, so a copy of every block would
        # be pure cost (~0.1 CPU s/GiB, measured 2026-11-26, 224649c). The HTTP layer drops
        # each block once sent. A view that lingered (in a traceback, say) would keep the
        # buffer exported: the pool would hand it out again and new bytes would show through
        # the old view, and the writer's in-place shrink of a last part in that buffer would
        # raise BufferError.
        end = self._view.nbytes if size is None or size < 0 else self._pos + size
        if not self.sending:  # the signer hashing the payload: neither paced nor counted
            chunk = self._view[self._pos : end]
            self._pos += len(chunk)
            return chunk
        limiter = self._limiter
        if limiter is not None:
            end = min(end, self._pos + CHUNK)
            if min(end, self._view.nbytes) > self._pos:
                limiter.take(min(end, self._view.nbytes) - self._pos, self._stop)
        chunk = self._view[self._pos : end]
        n = len(chunk)
        self._pos += n
        if self._counter is not None:
            self._counter.sent += n
        return chunk

    def readinto(self, buffer: memoryview) -> int:
        with memoryview(buffer).cast("B") as target:
            n = min(target.nbytes, self._view.nbytes - self._pos)
            target[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        self.sending = False
        if self._counter is not None:
            self._counter.sent = 0  # what was sent before is sent again, if at all
        base = (0, self._pos, self._view.nbytes)[whence]
        self._pos = max(0, min(self._view.nbytes, base + offset))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Release the view so the part buffer can be resized or reused."""
        self._view.release()


def start_sending(request: Any = None, **_: Any) -> None:
    """botocore's ``before-send`` handler: the body's next reads go to the socket (paced
    and counted)."""
    body = getattr(request, "body", None)
    if isinstance(body, BufferBody):
        body.sending = True
