"""What a writer reports: the published object, and progress snapshots."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress", "UploadResult"]


@dataclass(frozen=True)
class UploadResult:
    """What was published. ``upload_id`` is None when the stream fit in one PutObject."""

    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int
    parts: int
    upload_id: str | None
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class Progress:
    """A snapshot passed to ``on_progress`` (from a worker thread: keep callbacks quick)."""

    bytes_written: int
    bytes_uploaded: int
    parts_done: int
    parts_in_flight: int
    part_size: int
