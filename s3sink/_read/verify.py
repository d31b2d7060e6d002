"""What an object's bytes are checked against, and the check itself as the ranges go by.

:func:`choose_check` reads HeadObject's answer (ChecksumMode=ENABLED) and picks, in order:

1. A checksum without parts: a FULL_OBJECT CRC64NVME, CRC32C or CRC32 (what s3sink uploads
   carry), or the checksum of a single PutObject (SHA-256, SHA-1 too). ``checksum-full-object``:
   a CRC is computed per range on the worker that read it, as each chunk lands (still in
   cache), and the range CRCs are combined in order (awscrt's combination, no byte read twice);
   a SHA is fed in order on the consumer's thread, or on the worker when the object is one
   range.
2. A COMPOSITE checksum (``...-N``, or ChecksumType COMPOSITE: SHA-256, SHA-1, CRC32C, CRC32
   of multipart uploads): ``checksum-composite``, the digest of each part (the ranges follow
   the part boundaries HeadObject gives with ``PartNumber``), then the digest of the parts'
   digests, compared with the stored value.
3. No checksum (Ceph RGW, s3rver, ``--checksum off``): the ETag, when it is an MD5: the MD5
   of the bytes for a single PutObject, the MD5 of the parts' MD5s and ``-N`` for a multipart
   upload (``etag-md5``). Under SSE-KMS or SSE-C the ETag is no MD5, and another store's ETag
   format is not either.
4. Nothing: ``verified_by`` None, and the reason, which the reader says (or, with
   ``require_checksum``, refuses the object for).

A part that fits in one range is digested whole on its worker (for any algorithm); a part
cut into ranges is combined from the range CRCs, or (SHA, MD5) fed in order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .._store.checksums import (
    STORED_CHECKSUMS,
    Digest,
    ReadAlgorithm,
    bare_etag,
    combine_crc,
    crc_bytes,
    digest_of,
    encode,
    is_crc,
)
from .._store.transport import ObjectHead
from .plan import Range

__all__ = ["Check", "Verdict", "Verifier", "choose_check", "parts_in"]

VerifiedBy = Literal["checksum-full-object", "checksum-composite", "etag-md5"]
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_MULTIPART_MD5 = re.compile(r"([0-9a-fA-F]{32})-(\d+)")
_SUFFIX = re.compile(r"(.*)-(\d+)")


@dataclass(frozen=True)
class Check:
    """What the bytes are checked against: ``by`` (None: nothing, for the reason ``why_not``),
    the ``algorithm``, the ``stored`` value as the store reports it (a checksum's base64, an
    ETag without quotes) and, for a per-part check, the parts count ``-N`` says."""

    by: VerifiedBy | None
    algorithm: ReadAlgorithm | None = None
    stored: str | None = None
    parts: int | None = None
    why_not: str | None = None

    @property
    def per_part(self) -> bool:
        """Part boundaries are needed (a composite checksum, a multipart ETag)."""
        return self.by == "checksum-composite" or (self.by == "etag-md5" and self.parts is not None)


@dataclass(frozen=True)
class Verdict:
    """The outcome: ``ok`` (the bytes match), and the values compared."""

    ok: bool
    check: Check
    computed: str | None


def parts_in(value: str) -> int | None:
    """N of a ``...-N`` ETag or checksum, else None."""
    match = _SUFFIX.fullmatch(bare_etag(value))
    return int(match.group(2)) if match else None


def choose_check(head: ObjectHead) -> Check:
    """What to check the object's bytes against (see the module docstring)."""
    for param, algorithm in STORED_CHECKSUMS.items():
        value = head.checksums.get(param)
        if not value:
            continue
        count = parts_in(value)
        if count is not None or head.checksum_type == "COMPOSITE":
            return Check("checksum-composite", algorithm, value, count)
        return Check("checksum-full-object", algorithm, value)
    etag = bare_etag(head.etag)
    if not head.etag_is_md5:
        return Check(
            None,
            why_not="no checksum is stored, and under SSE-KMS or SSE-C the ETag is no MD5",
        )
    if _MD5.fullmatch(etag):
        return Check("etag-md5", "md5", etag)
    multipart = _MULTIPART_MD5.fullmatch(etag)
    if multipart:
        return Check("etag-md5", "md5", etag, int(multipart.group(2)))
    return Check(None, why_not=f"no checksum is stored, and the ETag {etag!r} is no MD5")


class Verifier:
    """Checks one object's bytes as its ranges are handed over, in order (one thread: the
    consumer's). A worker computes the digest :meth:`worker_algorithm` names for its range;
    :meth:`deliver` folds it (or the bytes) in; :meth:`verdict` compares. ``parts`` is the
    number of parts the ranges were planned over (per-part checks)."""

    def __init__(self, check: Check, *, parts: int = 1) -> None:
        self.check = check
        self._parts = parts
        algorithm = check.algorithm
        self._crc = algorithm is not None and is_crc(algorithm)
        self._total = 0  # full object, CRC: the combination so far
        self._whole: Digest | None = None  # full object, SHA/MD5: fed in order
        self._done: bytes | None = None  # full object in one range: the worker's digest
        self._part: Digest | None = None  # per part: the current part, fed in order
        self._part_crc = 0
        self._digests: list[bytes] = []  # per part: each part's raw digest

    def worker_algorithm(self, rng: Range) -> ReadAlgorithm | None:
        """The digest a worker computes of ``rng`` as it lands (None: none)."""
        algorithm = self.check.algorithm
        if self.check.by is None or algorithm is None:
            return None
        if self._crc:
            return algorithm
        if self.check.per_part:
            return algorithm if rng.whole_part else None
        return algorithm if rng.index == 0 and rng.last else None

    def deliver(self, rng: Range, data: memoryview, digest: Digest | None) -> None:
        """Fold in range ``rng`` (its bytes ``data``, the worker's ``digest``), in order."""
        algorithm = self.check.algorithm
        if self.check.by is None or algorithm is None:
            return
        if not self.check.per_part:
            if self._crc and digest is not None:
                self._total = combine_crc(algorithm, self._total, digest.value, digest.length)
            elif digest is not None:
                self._done = digest.digest()
            else:
                self._whole = self._whole or Digest(algorithm)
                self._whole.update(data)
            return
        self._pad_to(rng.part, algorithm)
        if rng.whole_part and digest is not None:
            self._digests.append(digest.digest())
            return
        if self._crc and digest is not None:
            self._part_crc = combine_crc(algorithm, self._part_crc, digest.value, digest.length)
            if rng.part_end:
                self._digests.append(crc_bytes(algorithm, self._part_crc))
                self._part_crc = 0
            return
        self._part = self._part or Digest(algorithm)
        self._part.update(data)
        if rng.part_end:
            self._digests.append(self._part.digest())
            self._part = None

    def _pad_to(self, part: int, algorithm: ReadAlgorithm) -> None:
        """Parts before ``part`` that had no range (empty parts) have the empty digest."""
        while len(self._digests) < part:
            self._digests.append(digest_of(algorithm, b""))

    def verdict(self) -> Verdict:
        """Compare what was computed with what the store recorded (after the last range)."""
        check, algorithm = self.check, self.check.algorithm
        if check.by is None or algorithm is None or check.stored is None:
            return Verdict(False, check, None)
        if check.per_part:
            self._pad_to(self._parts, algorithm)
            computed = _combined(check, algorithm, self._digests)
            return Verdict(_same(check, computed), check, computed)
        if self._crc:
            raw = crc_bytes(algorithm, self._total)
        elif self._done is not None:
            raw = self._done
        else:
            raw = (self._whole or Digest(algorithm)).digest()
        computed = raw.hex() if check.by == "etag-md5" else encode(raw)
        return Verdict(_same(check, computed), check, computed)


def _combined(check: Check, algorithm: ReadAlgorithm, digests: Sequence[bytes]) -> str:
    """A per-part value in the stored value's shape: the MD5 of the MD5s ``hex-N`` for an
    ETag; for a checksum the digest of the digests, ``-N`` if the store writes it so."""
    raw = digest_of(algorithm, b"".join(digests))
    if check.by == "etag-md5":
        return f"{raw.hex()}-{len(digests)}"
    suffix = f"-{len(digests)}" if parts_in(check.stored or "") is not None else ""
    return encode(raw) + suffix


def _same(check: Check, computed: str) -> bool:
    stored = check.stored or ""
    if check.by == "etag-md5":
        return bare_etag(stored).lower() == computed.lower()
    return stored == computed
