"""UploadPart and PutObject with the checksum in an aws-chunked trailer, over HTTP or HTTPS,
signed by the client's own SigV4 signer as ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``.

botocore puts a checksum in a trailer only over https (it will not leave a payload unsigned
on plain HTTP) and then frames the body with ``Transfer-Encoding: chunked`` around its own
``AwsChunkedWrapper``. Here the body is framed by :mod:`s3sink._store.awschunked` and sent
with a ``Content-Length``, on either scheme, through two botocore event hooks:

- ``before-call``: the body becomes its aws-chunked framing (``Content-Encoding:
  aws-chunked``, ``x-amz-decoded-content-length``, ``x-amz-trailer``), any checksum header or
  Content-MD5 is dropped, and botocore's own checksum resolution is cleared (it would wrap
  the body again);
- ``before-sign`` (every attempt): the request's checksum context says "trailer", so the
  signer's ``payload()`` answers ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (botocore/auth.py).

The hooks act only on the calls made inside :func:`sending_trailer` in the same thread (a
thread-local), so the client's other requests, in other threads too, are left as they were.
They are registered once per client, under a lock, and stay (inert outside a block): parts
sent from many threads must not register and unregister on one client's event emitter while
another thread's request runs through it, and a hook registered twice would frame twice.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .awschunked import (
    DEFAULT_CHUNK_SIZE,
    ChunkEncoder,
    TrailerAlgorithm,
    frame_chunks,
    trailer_header,
)
from .checksums import Digest, encode
from .client import S3Client

__all__ = [
    "STREAMING_UNSIGNED_PAYLOAD_TRAILER",
    "TrailerSent",
    "install_trailer_hooks",
    "put_object_with_trailer",
    "sending_trailer",
    "upload_part_with_trailer",
    "wrong_checksum",
]

STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
OPERATIONS = ("UploadPart", "PutObject")
_local = threading.local()
_install_lock = threading.Lock()


@dataclass
class TrailerSent:
    """What the last request sent inside a :func:`sending_trailer` block carried."""

    algorithm: TrailerAlgorithm
    chunk_size: int
    wrong: bool
    checksum: str = ""  # the body's checksum, base64
    value: str = ""  # the trailer's value: ``checksum``, or a wrong one
    headers: dict[str, str] = field(default_factory=dict)  # as sent, names in lower case


def wrong_checksum(algorithm: TrailerAlgorithm, data: bytes) -> str:
    """A checksum of the right length that is not ``data``'s: its first byte inverted."""
    digest = Digest(algorithm)
    digest.update(data)
    return _inverted(encode(digest.digest()))


def _inverted(value: str) -> str:
    raw = base64.b64decode(value)
    return encode(bytes([raw[0] ^ 0xFF]) + raw[1:])


def _frame(data: bytes, sent: TrailerSent) -> bytes:
    """``data`` aws-chunked, one pass: the checksum folded in as the chunks are framed."""
    encoder = ChunkEncoder(sent.algorithm)
    pieces = list(frame_chunks(encoder, data, sent.chunk_size))
    sent.checksum = encoder.checksum()
    sent.value = _inverted(sent.checksum) if sent.wrong else sent.checksum
    return b"".join([*pieces, encoder.finish(sent.value)])


def _body_bytes(body: object) -> bytes:
    """The request's body as bytes: botocore turns a bytes Body into a BytesIO."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    read = getattr(body, "read", None)
    if read is None:
        raise TypeError(f"a trailer body must be bytes or readable, not {type(body).__name__}")
    return bytes(read())


def _before_call(params: dict[str, Any], **_: Any) -> None:
    sent: TrailerSent | None = getattr(_local, "sent", None)
    if sent is None:
        return
    data = _body_bytes(params.get("body"))
    framed = _frame(data, sent)
    headers = params["headers"]
    for name in list(headers):
        if name.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum-")) or (
            name.lower() in ("content-md5", "content-length", "transfer-encoding")
        ):
            del headers[name]
    encoding = headers.get("Content-Encoding")
    headers["Content-Encoding"] = f"{encoding},aws-chunked" if encoding else "aws-chunked"
    headers["X-Amz-Decoded-Content-Length"] = str(len(data))
    headers["X-Amz-Trailer"] = trailer_header(sent.algorithm)
    headers["Content-Length"] = str(len(framed))
    params["body"] = framed
    # Else apply_request_checksum would add a header, or wrap the body in a second framing.
    params["context"].get("checksum", {}).pop("request_algorithm", None)


def _before_sign(request: Any, **_: Any) -> None:
    sent: TrailerSent | None = getattr(_local, "sent", None)
    if sent is None:
        return
    name = trailer_header(sent.algorithm)
    # botocore/auth.py: the payload hash of a request whose checksum is "in": "trailer".
    algorithm = {"algorithm": sent.algorithm, "in": "trailer", "name": name}
    request.context.setdefault("checksum", {})["request_algorithm"] = algorithm


def _before_send(request: Any, **_: Any) -> None:
    sent: TrailerSent | None = getattr(_local, "sent", None)
    if sent is not None:
        sent.headers = {
            str(k).lower(): v.decode() if isinstance(v, bytes) else str(v)
            for k, v in request.headers.items()
        }


_HOOKS = (
    ("before-call", _before_call),
    ("before-sign", _before_sign),
    ("before-send", _before_send),
)


@contextlib.contextmanager
def sending_trailer(
    client: S3Client,
    algorithm: TrailerAlgorithm = "crc64nvme",
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    wrong: bool = False,
) -> Iterator[TrailerSent]:
    """While the block runs, this thread's UploadPart and PutObject calls on ``client`` send
    their bytes body aws-chunked in ``chunk_size`` chunks with the checksum in a trailer
    (``wrong``: a wrong value, the body unchanged). Yields what was sent, filled in as the
    request goes out."""
    if getattr(_local, "sent", None) is not None:
        raise RuntimeError("sending_trailer blocks do not nest")
    trailer_header(algorithm)  # an unknown algorithm fails before anything is registered
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    install_trailer_hooks(client)
    sent = TrailerSent(algorithm, chunk_size, wrong)
    _local.sent = sent
    try:
        yield sent
    finally:
        _local.sent = None


def install_trailer_hooks(client: S3Client) -> None:
    """Register the hooks on ``client`` once (later calls do nothing); inert outside a
    :func:`sending_trailer` block. :func:`sending_trailer` calls it; a sender may call it
    first, before its threads start."""
    events = client.meta.events
    with _install_lock:
        for operation in OPERATIONS:
            for event, handler in _HOOKS:
                # unique_id: one registration per client and event name, however often asked.
                uid = f"s3sink-trailer-{event}-{operation}"
                events.register(f"{event}.s3.{operation}", handler, unique_id=uid)


def upload_part_with_trailer(
    client: S3Client,
    algorithm: TrailerAlgorithm = "crc64nvme",
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    wrong: bool = False,
    **params: Any,
) -> Mapping[str, Any]:
    """``client.upload_part(**params)`` (Bucket, Key, UploadId, PartNumber, Body as bytes)
    with the checksum in a trailer; botocore's answer, or its exception."""
    with sending_trailer(client, algorithm, chunk_size=chunk_size, wrong=wrong):
        response: Mapping[str, Any] = client.upload_part(**params)
    return response


def put_object_with_trailer(
    client: S3Client,
    algorithm: TrailerAlgorithm = "crc64nvme",
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    wrong: bool = False,
    **params: Any,
) -> Mapping[str, Any]:
    """``client.put_object(**params)`` with the checksum in a trailer (see above)."""
    with sending_trailer(client, algorithm, chunk_size=chunk_size, wrong=wrong):
        response: Mapping[str, Any] = client.put_object(**params)
    return response
