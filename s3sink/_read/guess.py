"""A multipart ETag checked on a store that will not say where the parts begin.

Ceph RGW 16 keeps no checksum, so a multipart object's ETag (the MD5 of its parts' MD5s,
``-N``) is all there is to check it against, and it answers HeadObject and GetObject with a
part number as if there were none (the whole object, no PartsCount: measured 2026-12-04);
GetObjectAttributes fails (500). The boundaries the ETag depends on are then guessed from
the object's size S and parts count N, the way uploaders cut objects:

- equal parts of a whole number of MiB (every tool's habit: the AWS CLI's 8 MiB, s3sink's
  ``--part-size`` and its ``--file`` parts, rclone's and restic's chunks), the sizes tools
  use first (5, 8, 16 MiB ...), then the other MiB multiples that fit (N-1 parts below S, N
  parts at or above it);
- s3sink's own growing schedule for streams past its 2,048 flat parts.

At most :data:`MAX_GUESSES` layouts are checked, each with its own MD5s fed in order on the
consumer's thread (MD5s do not combine; about 600 MB/s per layout here). The object is
verified when one layout gives the ETag. When none does, the bytes do not match any layout a
known uploader makes: that is reported as a mismatch, naming the layouts tried (an object
cut into unequal parts by some other tool would need a store that answers part numbers).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from .._store.checksums import Digest, bare_etag, digest_of
from .._upload.policy import FLAT_PARTS, MIN_PART_SIZE, make_schedule
from .plan import Range
from .verify import Check, Verdict

__all__ = ["MAX_GUESSES", "GuessingVerifier", "likely_layouts"]

MiB = 1024 * 1024
MAX_GUESSES = 4
_COMMON_MIB = (5, 8, 16, 10, 15, 6, 32, 64, 100, 128, 256, 512, 1024)


def _uniform(size: int, parts: int) -> Iterator[int]:
    """Part sizes P (whole MiB) with N-1 parts of P below ``size`` and N at or above it."""
    low, high = -(-size // parts), (size - 1) // (parts - 1)
    common = [m * MiB for m in _COMMON_MIB if low <= m * MiB <= high]
    yield from common
    first = max(-(-low // MiB), MIN_PART_SIZE // MiB)
    for mib in itertools.count(first):
        if mib * MiB > high:
            return
        if mib * MiB not in common:
            yield mib * MiB


def _s3sink_schedules(size: int, parts: int) -> Iterator[tuple[int, ...]]:
    """s3sink's growing schedule (past its flat parts), for the usual first part sizes."""
    for mib in (16, 5, 8, 32, 64):
        schedule = make_schedule(part_size=mib * MiB)
        sizes = [schedule.size_of(n) for n in range(1, parts)]
        head = sum(sizes)
        if head < size <= head + schedule.size_of(parts):
            yield (*sizes, size - head)


def likely_layouts(size: int, parts: int) -> list[tuple[int, ...]]:
    """The part layouts (their sizes) worth checking for an object of ``size`` bytes in
    ``parts`` parts, likeliest first, at most :data:`MAX_GUESSES`."""
    if parts <= 1:
        return [(size,)]
    layouts = [
        (*([p] * (parts - 1)), size - p * (parts - 1))
        for p in itertools.islice(_uniform(size, parts), MAX_GUESSES)
    ]
    if parts > FLAT_PARTS:
        layouts += [layout for layout in _s3sink_schedules(size, parts) if layout not in layouts]
    return layouts[:MAX_GUESSES]


class _Layout:
    """One guessed layout's running MD5s."""

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = sizes
        self.part = 0
        self.left = sizes[0]
        self.md5 = Digest("md5")
        self.digests: list[bytes] = []

    def feed(self, data: memoryview) -> None:
        while data:
            if self.left == 0:
                if self.part == len(self.sizes) - 1:  # more bytes than the layout holds
                    self.md5.update(data)
                    return
                self._next_part()
                continue
            take = min(self.left, len(data))
            self.md5.update(data[:take])
            self.left -= take
            data = data[take:]

    def _next_part(self) -> None:
        self.digests.append(self.md5.digest())
        self.md5 = Digest("md5")
        self.part += 1
        self.left = self.sizes[self.part]

    def etag(self) -> str:
        while self.part < len(self.sizes) - 1:
            self._next_part()
        digests = [*self.digests, self.md5.digest()]
        return f"{digest_of('md5', b''.join(digests)).hex()}-{len(digests)}"


class GuessingVerifier:
    """The Verifier for a multipart ETag whose parts the store will not show: every guessed
    layout fed in order (no digest on the workers); verified when one gives the ETag."""

    def __init__(self, check: Check, layouts: Sequence[Sequence[int]]) -> None:
        self.check = check
        self._layouts = [_Layout(sizes) for sizes in layouts]

    def worker_algorithm(self, rng: Range) -> None:
        return None

    def deliver(self, rng: Range, data: memoryview, digest: Digest | None) -> None:
        for layout in self._layouts:
            layout.feed(data)

    def verdict(self) -> Verdict:
        stored = bare_etag(self.check.stored or "").lower()
        tried = [layout.etag() for layout in self._layouts]
        for computed in tried:
            if computed == stored:
                return Verdict(True, self.check, computed)
        return Verdict(False, self.check, tried[0] if tried else None)

    @property
    def tried(self) -> list[int]:
        """The first part size of each layout checked."""
        return [layout.sizes[0] for layout in self._layouts]
