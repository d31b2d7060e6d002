"""Reading objects over a botocore client: HeadObject with its checksums and parts, and ranged
GETs whose bodies go straight into the reader's buffers.

``BotoReads`` is the read half of :class:`~s3sink._store.boto.BotoTransport` (a mixin over
its ``client``). A GET's body is read with ``readinto`` on the HTTP response under botocore's
``StreamingBody`` (``http.client.HTTPResponse``, whose buffered socket file ``recv_into``-s
large reads into the caller's memory): the bytes land once, in the reader's buffer, instead
of being returned as a new ``bytes`` by urllib3's ``read`` and copied (urllib3's own
``readinto`` is ``read`` plus a copy). These are the raw stored bytes, never decoded, which
is what a checksum is computed over. A response without that object underneath (another
HTTP stack) is read with ``read`` and copied. Once the body was read to its end the
connection goes back to urllib3's pool, as urllib3 itself does after a full read; a body left
half read is closed with its connection.

Every failure of the request becomes a :class:`~s3sink.errors.ReadError` (botocore has
already retried it); a break while the body is read is :class:`RangeBroken`, which the
reader resumes from the bytes it has.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ReadError
from .client import DEFAULT_MAX_ATTEMPTS
from .errors import translate_read
from .transport import ObjectHead, RangeBroken

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["BotoRange", "BotoReads", "etag_is_md5", "is_checksum_field", "max_attempts_of"]

# botocore's totals when the configuration names none: its standard mode tries a request 3
# times, its legacy mode 5.
_MODE_ATTEMPTS = {"standard": 3, "legacy": 5, "adaptive": 3}


def is_checksum_field(name: str) -> bool:
    """A response field that carries a checksum value (``ChecksumCRC64NVME``, ...)."""
    return name.startswith("Checksum") and name != "ChecksumType"


def etag_is_md5(response: Mapping[str, Any]) -> bool:
    """Under SSE-KMS and SSE-C the ETag is not the MD5 of the bytes (S3's documented rule;
    the response names the encryption even when a bucket default chose it)."""
    kms = response.get("ServerSideEncryption") in ("aws:kms", "aws:kms:dsse")
    return not kms and not response.get("SSECustomerAlgorithm")


def max_attempts_of(client: BaseClient) -> int:
    """How many times the client tries a request: what a range whose connection breaks gets
    too (``--max-attempts``, AWS_MAX_ATTEMPTS, the config file, else botocore's default)."""
    retries = getattr(client.meta.config, "retries", None) or {}
    total = retries.get("total_max_attempts")
    if total is None and retries.get("max_attempts") is not None:
        total = int(retries["max_attempts"]) + 1  # botocore's legacy spelling: retries only
    if total is None:
        total = _MODE_ATTEMPTS.get(str(retries.get("mode")), DEFAULT_MAX_ATTEMPTS)
    return max(1, int(total))


class BotoRange:
    """The body of one ranged GET (see the module docstring)."""

    def __init__(self, body: Any, length: int) -> None:
        self._body = body
        self._raw = getattr(body, "_raw_stream", None)  # urllib3's HTTPResponse
        fp = getattr(self._raw, "_fp", None)  # http.client's, under it
        self._fp = fp if isinstance(fp, http.client.HTTPResponse) else None
        self.left = length
        self._closed = False

    def readinto(self, buffer: memoryview, /) -> int:
        want = min(len(buffer), self.left)
        if want == 0:
            return 0
        view = buffer[:want]
        try:
            if self._fp is not None:
                got = self._fp.readinto(view) or 0
            else:
                got = _copy_into(self._body.read(want), view)
        except Exception as exc:
            if _is_broken_body(exc):
                raise RangeBroken(_why(exc)) from exc
            raise
        if got == 0:
            raise RangeBroken(f"the connection closed {self.left} bytes before the range's end")
        self.left -= got
        return got

    def abort(self) -> None:
        # shutdown(), unlike close(), wakes a recv blocked in another thread.
        sock = getattr(getattr(self._raw, "_connection", None), "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        raw = self._raw
        if raw is None:
            self._body.close()
            return
        if self.left == 0 and (self._fp is None or self._fp.isclosed()):
            raw.release_conn()  # read to its end: the connection serves the next request
            return
        raw.close()  # half read: the connection goes with it
        raw.release_conn()  # its slot back to the pool, as urllib3 does after a broken read


def _copy_into(data: bytes, view: memoryview) -> int:
    view[: len(data)] = data
    return len(data)


def _is_broken_body(exc: BaseException) -> bool:
    """A connection that broke while a body was read (a reset, a timeout, a close, a TLS
    error), as the socket, http.client, urllib3 or botocore say it."""
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return True
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415  # loaded with the client
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    return isinstance(exc, (BotoCoreError, HTTPError))


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class BotoReads:
    """The :class:`~s3sink._store.transport.ReadTransport` half of ``BotoTransport``."""

    client: BaseClient

    @property
    def max_attempts(self) -> int:
        return max_attempts_of(self.client)

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
        kwargs: dict[str, Any] = dict(extra or {})
        if version_id:
            kwargs["VersionId"] = version_id
        if part_number is not None:
            kwargs["PartNumber"] = part_number
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            response = self.client.head_object(
                Bucket=bucket, Key=key, ChecksumMode="ENABLED", **kwargs
            )
        except Exception as exc:
            raise translate_read(
                exc,
                "HeadObject",
                bucket=bucket,
                key=key,
                version_id=version_id,
                started=if_match is not None,
                sse_c=kwargs.get("SSECustomerKey") is not None,
            ) from exc
        parts = response.get("PartsCount")
        return ObjectHead(
            etag=str(response.get("ETag", "")),
            size=int(response.get("ContentLength", 0)),
            version_id=response.get("VersionId"),
            checksums={k: str(v) for k, v in response.items() if is_checksum_field(k)},
            checksum_type=response.get("ChecksumType"),
            content_type=response.get("ContentType"),
            etag_is_md5=etag_is_md5(response),
            parts_count=int(parts) if parts is not None else None,
            part_size=int(response.get("ContentLength", 0)) if part_number is not None else None,
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
    ) -> BotoRange:
        kwargs: dict[str, Any] = dict(extra or {})
        if version_id:
            kwargs["VersionId"] = version_id
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            response = self.client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", **kwargs
            )
        except Exception as exc:
            raise translate_read(
                exc, "GetObject", bucket=bucket, key=key, version_id=version_id, started=True
            ) from exc
        stream = BotoRange(response["Body"], end - start)
        length = int(response.get("ContentLength", -1))
        answered = str(response.get("ContentRange") or "")
        if length != end - start or (answered and not answered.startswith(f"bytes {start}-")):
            stream.close()
            raise ReadError(
                f"GetObject of bytes {start}-{end - 1} was answered with {length} bytes "
                f"({answered or 'no Content-Range'}): this store does not serve ranges as S3 "
                "does",
                bucket=bucket,
                key=key,
                version_id=version_id,
            )
        return stream
