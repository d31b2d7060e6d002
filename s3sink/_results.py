"""What a writer reports (the published object, progress snapshots) and what a reader
reports (the object read and how it was verified)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress", "ReadProgress", "ReadResult", "UploadResult"]


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
    # How s3sink knows the store holds exactly the bytes written: "store-checksum" (the store
    # confirmed every part's checksum, and the whole object's where it echoes it), "etag-md5"
    # (s3sink compared each ETag with the MD5 of what it sent), or "unverified" (neither was
    # possible for some part, e.g. SSE-KMS on a store that confirms no checksums).
    integrity: str = "unverified"
    # A resumed upload: parts (and their bytes) the store already held with this run's
    # bytes, so they were not sent again.
    parts_skipped: int = 0
    bytes_skipped: int = 0
    # Bytes read from the source: ``size`` is what was stored, compressed with
    # ``compression`` (a spec such as "zstd:3") when one was asked for.
    source_size: int | None = None
    compression: str | None = None
    # With ``encrypt_to``: "age" (the stored bytes are an age file) and how many recipients
    # can open it; None without encryption. No key is ever part of a result.
    encryption: str | None = None
    recipients: int | None = None
    # With Object Lock asked for: "kept" (the store shows it), "applied" (the store dropped
    # it, s3sink set it after the commit: RGW does so for multipart uploads), or "missing"
    # (the object is published but NOT locked; logged as an error).
    object_lock: str | None = None


@dataclass(frozen=True)
class Progress:
    """A snapshot passed to ``on_progress`` (from a worker thread: keep callbacks quick)."""

    bytes_written: int
    bytes_uploaded: int  # bytes of parts the store acknowledged
    parts_done: int
    parts_in_flight: int
    part_size: int
    # Bytes read from the source when compressing (``bytes_written`` is then the
    # compressed bytes in part buffers); None without compression: the same bytes.
    source_bytes: int | None = None
    # Bytes of the requests under way (parts in flight, or the one PutObject) already
    # handed to the connection, not yet acknowledged; a retry takes back what its failed
    # attempt had sent.
    bytes_sending: int = 0

    @property
    def bytes_read(self) -> int:
        """Bytes read from the source, compressed or not."""
        return self.bytes_written if self.source_bytes is None else self.source_bytes

    @property
    def bytes_sent(self) -> int:
        """Bytes acknowledged plus those on their way: what a progress line and its rate
        show, moving as the bytes go out rather than a part at a time."""
        return self.bytes_uploaded + self.bytes_sending

    @property
    def source_uploaded(self) -> int:
        """Source bytes whose stored bytes are uploaded (compressing: in the proportion of
        what was stored so far): what a bar against the source's size shows as done."""
        return self._in_source(self.bytes_uploaded)

    @property
    def source_sent(self) -> int:
        """``bytes_sent`` in source bytes (compressing: in the proportion of what was
        stored so far), as ``source_uploaded`` is for ``bytes_uploaded``."""
        return self._in_source(self.bytes_sent)

    def _in_source(self, stored: int) -> int:
        if self.source_bytes is None:
            return stored
        if self.bytes_written <= 0:
            return 0
        return min(self.source_bytes, stored * self.source_bytes // self.bytes_written)


@dataclass(frozen=True)
class ReadProgress:
    """A snapshot of an object being read (``s3sink cat``'s progress display): bytes handed
    to the output in order, and the ranges (GETs) done, under way and in all."""

    bytes_delivered: int
    size: int
    ranges_done: int
    ranges_in_flight: int
    ranges: int


@dataclass(frozen=True)
class ReadResult:
    """An object read back, and how its bytes were checked: ``verified`` is True only when
    they matched what the store recorded at upload; ``verified_by`` says against what
    ("checksum-full-object", "checksum-composite", "etag-md5", or None: nothing to check
    against), ``algorithm`` the checksum's ("md5" for an ETag), ``stored`` the value the
    store reports and ``computed`` the value of the bytes read. ``parts`` is the object's
    parts (1 for a single PutObject), ``ranges`` the GETs it was read in."""

    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    parts: int
    ranges: int
    verified: bool
    verified_by: str | None
    algorithm: str | None
    stored: str | None
    computed: str | None
    seconds: float
    content_type: str | None = None
    encryption: str | None = None  # "age": the object was decrypted (identity=, --identity)

    @property
    def mib_per_second(self) -> float:
        """The read's rate, in MiB/s."""
        return self.size / 1048576 / self.seconds if self.seconds > 0 else 0.0
