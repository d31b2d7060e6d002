"""botocore's event hooks for the doctor's SigV4 probe: a PutObject whose payload is signed
(whatever the client would do) and, optionally, changed after signing. Here because it is
botocore's machinery; the probe only asks what the store made of it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .client import S3Client

__all__ = ["signed_payload"]


@contextlib.contextmanager
def signed_payload(client: S3Client, match: str, *, corrupt: bool) -> Iterator[dict[str, str]]:
    """While the block runs, a PutObject whose URL contains ``match`` has its payload signed
    and no checksum header; ``corrupt`` flips its first byte after signing (same length).
    Yields a dict that receives ``hash``: the X-Amz-Content-SHA256 botocore sent."""
    from botocore.config import Config  # noqa: PLC0415 - botocore only once probing

    sent: dict[str, str] = {}

    def before_sign(request: Any, **_: Any) -> None:
        if match in request.url:
            # Sign the payload even if the client would not, and send no checksum header:
            # a store that checks one must not pass for one that checks the hash.
            config = request.context["client_config"]
            s3 = {**(config.s3 or {}), "payload_signing_enabled": True}
            request.context["client_config"] = config.merge(Config(s3=s3))
            for header in list(request.headers):
                if header.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum-")):
                    del request.headers[header]

    def before_send(request: Any, **_: Any) -> None:
        if match in request.url:
            sent["hash"] = request.headers.get("X-Amz-Content-SHA256", "")
            if corrupt:  # one byte flipped; the length stays right
                body = request.body
                raw = body.getvalue() if hasattr(body, "getvalue") else bytes(body)
                request.body = bytes([raw[0] ^ 1]) + raw[1:]

    events = client.meta.events
    with contextlib.ExitStack() as stack:
        for event, handler in (("before-sign", before_sign), ("before-send", before_send)):
            uid = f"s3sink-doctor-{event}"
            events.register(f"{event}.s3.PutObject", handler, unique_id=uid)
            stack.callback(events.unregister, f"{event}.s3.PutObject", unique_id=uid)
        yield sent
