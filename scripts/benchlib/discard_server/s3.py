"""The discard server's S3 vocabulary: error answers, what it keeps of uploads, parts and
objects (sizes, ETags, checksums: never payloads), the fault switch, the state behind one lock,
and the ETag, Content-MD5, checksum and XML helpers the operations share."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import threading
import zlib
from dataclasses import dataclass, field

from .wire import MiB, Request

MAX_SMALL_BODY = 16 * MiB
S3_MIN_PART_SIZE = 5 * MiB
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
CHECKSUM_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}


class S3Error(Exception):
    """An S3 error answer: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class PartRecord:
    """One uploaded part of a multipart upload."""

    size: int
    etag: str
    checksums: dict[str, str]


@dataclass
class UploadRecord:
    """An in-progress multipart upload."""

    upload_id: str
    bucket: str
    key: str
    initiated: float
    checksum_algorithm: str = ""
    checksum_type: str = ""
    parts: dict[int, PartRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class Synthetic:
    """How a synthetic object (``POST /__synthetic``, see ``reads.py``) is served: its parts'
    size (0: a single PUT's object) and the offset of a byte it flips on the way out (-1:
    none), so a reader's verification can be put to the test."""

    part_size: int = 0
    corrupt_at: int = -1

    def as_json(self) -> dict[str, object]:
        """Return the settings as JSON-ready data."""
        return {"part_size": self.part_size, "corrupt_at": self.corrupt_at}


@dataclass
class ObjectRecord:
    """What is known of a stored object: its bytes are discarded, except a synthetic
    object's, which the server makes up as they are read."""

    size: int
    etag: str
    kind: str
    parts: int
    completed: float
    checksums: dict[str, str]
    synthetic: Synthetic | None = None

    def as_json(self) -> dict[str, object]:
        """Return the record as JSON-ready data."""
        return {
            "size": self.size,
            "etag": self.etag,
            "kind": self.kind,
            "parts": self.parts,
            "completed": self.completed,
            "checksums": self.checksums,
            "synthetic": None if self.synthetic is None else self.synthetic.as_json(),
        }


@dataclass(frozen=True)
class PartFault:
    """A fault switch: UploadPart with a part number above ``above``, for an object whose
    "bucket/key" starts with ``prefix``, is answered ``status`` (its body dropped, not
    counted) instead of being stored. For benchmarks of resumed uploads."""

    above: int
    status: int = 503
    prefix: str = ""

    def matches(self, bucket: str, key: str, number: int) -> bool:
        """Whether this fault answers UploadPart ``number`` of bucket/key."""
        return number > self.above and f"{bucket}/{key}".startswith(self.prefix)

    def as_json(self) -> dict[str, object]:
        """Return the switch as JSON-ready data."""
        return {"upload_part_above": self.above, "status": self.status, "prefix": self.prefix}


class State:
    """Objects, uploads, counters and the fault switch, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: set[str] = set()
        self.objects: dict[tuple[str, str], ObjectRecord] = {}
        self.uploads: dict[str, UploadRecord] = {}
        self.counters: dict[str, int] = {}
        self.operations: dict[str, int] = {}
        self.part_fault: PartFault | None = None

    def bump(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to a counter (caller need not hold the lock)."""
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + amount

    def reset(self) -> None:
        """Forget all objects, uploads and counters."""
        with self.lock:
            self.buckets.clear()
            self.objects.clear()
            self.uploads.clear()
            self.counters.clear()
            self.operations.clear()
            self.part_fault = None


def fake_md5(*parts: object) -> str:
    """Return a deterministic hex digest that looks like an MD5 ETag (for a payload whose
    MD5 was not computed, see ``connection.Connection._wants_md5``)."""
    text = "\x00".join(str(p) for p in parts).encode()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def multipart_etag(part_etags: list[str]) -> str:
    """S3's multipart ETag: the MD5 of the parts' binary MD5s, then "-<number of parts>"."""
    joined = b"".join(bytes.fromhex(etag) for etag in part_etags)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_etags)}"


def content_md5(request: Request) -> bytes | None:
    """The digest a Content-MD5 header carries, None without one; InvalidDigest if malformed."""
    text = request.header("content-md5")
    if not text:
        return None
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
    return digest


def check_content_md5(expected: bytes | None, received: bytes) -> None:
    """BadDigest, as S3 answers, when a Content-MD5 was sent and the bytes do not match it."""
    if expected is not None and expected != received:
        raise S3Error(
            400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        )


def declares_checksum(request: Request) -> bool:
    """Whether the request carries an x-amz-checksum-* value, as a header or a trailer."""
    if checksum_fields(request.headers):
        return True
    trailer = request.header("x-amz-trailer").lower()
    names = (name.strip() for name in trailer.split(","))
    return any(
        name.removeprefix("x-amz-checksum-") in CHECKSUM_SIZES
        for name in names
        if name.startswith("x-amz-checksum-")
    )


def checksum_fields(headers: dict[str, str]) -> dict[str, str]:
    """Pick ``x-amz-checksum-<algorithm>: value`` entries (not -algorithm/-type/-mode)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith("x-amz-checksum-"):
            algorithm = name.removeprefix("x-amz-checksum-")
            if algorithm in CHECKSUM_SIZES:
                out[algorithm] = value
    return out


def composite_checksum(algorithm: str, values: list[str]) -> str:
    """Return a well-formed (not S3-exact) composite checksum of part checksums: "b64-N"."""
    raw = b"".join(base64.b64decode(v + "==", validate=False) for v in values)
    digest = zlib.crc32(raw).to_bytes(4, "big")
    width = CHECKSUM_SIZES.get(algorithm, 4)
    body = (digest * (width // 4 + 1))[:width]
    return f"{base64.b64encode(body).decode()}-{len(values)}"


def payload_hash_kind(value: str) -> str:
    """Classify x-amz-content-sha256: sha256 (payload hashed), UNSIGNED-PAYLOAD, STREAMING-…"""
    if re.fullmatch(r"[0-9A-F]{64}", value):
        return "sha256"
    return value or "absent"


def xml_checksum_name(algorithm: str) -> str:
    """Map "crc32c" to the XML element name "ChecksumCRC32C"."""
    return "Checksum" + algorithm.upper()


def iso_time(ts: float) -> str:
    """Format a timestamp the way S3 XML does."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


_PART_RE = re.compile(r"<Part>(.*?)</Part>", re.S)
_TAG_RE = re.compile(r"<(PartNumber|ETag|Checksum[A-Z0-9]+)>(.*?)</\1>", re.S)
OBJECT_KEY_RE = re.compile(r"<Object>.*?<Key>(.*?)</Key>.*?</Object>", re.S)


def parse_complete_body(body: bytes) -> list[dict[str, str]]:
    """Parse a CompleteMultipartUpload body into a list of {PartNumber, ETag, Checksum*}."""
    text = body.decode("utf-8", errors="replace")
    return [dict(_TAG_RE.findall(chunk)) for chunk in _PART_RE.findall(text)]
