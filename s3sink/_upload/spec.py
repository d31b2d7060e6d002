"""What one upload targets and how its requests are made, as one frozen value handed to the
multipart upload, the part sender and the committer (instead of the same seven values
threaded through three constructors)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._store.checksums import Checksummer
from .._store.transport import per_request

__all__ = ["UploadSpec"]


@dataclass(frozen=True)
class UploadSpec:
    """The object ``s3://bucket/key``: the arguments it is created with (``extra``: content
    type, metadata, SSE, Object Lock...), the part checksum (``checksummer``, None for none),
    Content-MD5 on every part, and the conditions on its publication."""

    bucket: str
    key: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    checksummer: Checksummer | None = None
    content_md5: bool = False
    if_none_match: str | None = None
    if_match: str | None = None

    @property
    def part_extra(self) -> dict[str, Any]:
        """The arguments every part and the completion repeat (SSE-C's key, the expected
        bucket owner, requester pays)."""
        return per_request(self.extra)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
