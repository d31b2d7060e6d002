"""The doctor's session with the store: requests that record what they create, answers in
one shape, verdict helpers, and the cleanup that removes everything a probe made."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._store.checksums import Algorithm, etag_md5, md5_digest
from .._store.errors import describe, error_code, http_status
from ..errors import S3SinkError

if TYPE_CHECKING:
    from .._store.client import S3Client

# "validated" only where a deliberately wrong value was refused; "supported" for what was only
# found to work (an operation, an echo, a property of the answers).
Verdict = Literal["validated", "supported", "ignored", "unsupported", "error"]
VERDICTS: tuple[Verdict, ...] = ("validated", "supported", "ignored", "unsupported", "error")
MIB = 1024 * 1024
SMALL = 1024  # the body of every request that needs no full part
# The trailer probe's part: three aws-chunked chunks (8, 8 and 4 KiB; 8 KiB is the least S3
# takes for a chunk but the last one), so a store's decoder meets more than one.
TRAILER_BODY, TRAILER_CHUNK = 20 * 1024, 8 * 1024
#: The trailer probe's capability: whether a checksum in an aws-chunked trailer is checked.
TRAILER = "upload_part.trailer"
ALGORITHMS: tuple[Algorithm, ...] = ("crc64nvme", "crc32c", "crc32", "sha256")
UNSUPPORTED = frozenset({"NotImplemented", "InvalidArgument", "InvalidRequest"})
WRONG_ETAG = '"0123456789abcdef0123456789abcdef"'
CRC = "x-amz-checksum-crc64nvme"


@dataclass(frozen=True)
class Finding:
    """One capability: its name, the verdict, and what the store answered."""

    name: str
    verdict: Verdict
    detail: str


class ProbeFailed(S3SinkError):
    """The probe could not run at all: missing bucket, access denied, no endpoint."""


class Answer:
    """What one request got, response or exception, in one shape."""

    def __init__(self, response: Mapping[str, Any] | None = None, exc: Exception | None = None):
        self.response: Mapping[str, Any] = response or {}
        self.exc, self.ok = exc, exc is None
        self.code = None if exc is None else error_code(exc)
        meta = self.response.get("ResponseMetadata", {})
        self.status: int | None = meta.get("HTTPStatusCode") if exc is None else http_status(exc)
        self.headers: Mapping[str, str] = meta.get("HTTPHeaders", {})
        self.refused = self.status is not None and 400 <= self.status < 500  # understood; no

    def __str__(self) -> str:
        if self.exc is None:
            return f"HTTP {self.status}"
        if self.code is not None:
            return f"{self.code} (HTTP {self.status})" if self.status else self.code
        return describe(self.exc)


def is_md5(etag: object, body: bytes) -> bool:
    """Whether ``etag`` is the MD5 of ``body`` (the check the writer makes of every part)."""
    return etag_md5(str(etag)) == md5_digest(body)


def refused(answer: Answer, what: str) -> tuple[Verdict, str]:
    """The verdict when the store refuses a request that is right: the form is unsupported?"""
    unsupported = answer.status in (405, 501) or answer.code in UNSUPPORTED
    return ("unsupported" if unsupported else "error"), f"{what}: {answer}"


def check(correct: Answer | None, wrong: Answer, extra: str = "") -> tuple[Verdict, str]:
    """The verdict of "does the store check X" from a correct and a wrong request
    (``correct=None``: not sent, because the wrong one went first and got through)."""
    if correct is not None and not correct.ok:
        return refused(correct, "refused a correct value")
    if wrong.ok:
        return "ignored", f"accepted a wrong value ({wrong}){extra}"
    return ("validated" if wrong.refused else "error"), str(wrong)


def operation(answer: Answer, works: bool, why: str) -> tuple[Verdict, str]:
    """The verdict of an operation that should simply work."""
    if answer.ok:
        return ("supported", str(answer)) if works else ("error", f"{answer}, but {why}")
    unsupported = answer.status in (405, 501) or answer.code == "NotImplemented"
    return ("unsupported" if unsupported else "error"), str(answer)


Step = Callable[[Any], None]  # a method of _doctor_probes.Probe
STEPS: list[tuple[str, tuple[str, ...], Step]] = []  # in the order they run


def step(title: str, *names: str) -> Callable[[Step], Step]:
    """Make a method a probe step: its title (for on_step) and the capabilities it decides."""

    def register(method: Step) -> Step:
        STEPS.append((title, names, method))
        return method

    return register


class Skip(Exception):
    """A prerequisite request failed: the step's undecided capabilities become ``error``."""


class Session:
    """One probe run's requests, what they created, and what they taught us."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client, self.bucket = client, bucket
        # PREFIX/.s3sink-doctor-<random>/: unique per run; the marker is URL-safe.
        self.marker = f".s3sink-doctor-{uuid.uuid4().hex[:12]}"
        self.root = f"{prefix}{'/' if prefix and not prefix.endswith('/') else ''}{self.marker}/"
        self.objects: set[str] = set()  # keys we may have written (added before sending)
        self.uploads: dict[str, str] = {}  # open upload id -> key
        self.findings: dict[str, Finding] = {}
        self.facts: dict[str, Any] = {"temporary_prefix": self.root, "echoes": {}}
        self.facts["etag_is_md5"] = {}
        self.data = os.urandom(6 * MIB)  # every body is a slice of these bytes
        self.small = self.data[:SMALL]
        self.etag = ""  # the base object's current ETag
        self.versioned = False

    # -- requests -----------------------------------------------------------------------------
    def call(self, operation: str, **kwargs: Any) -> Answer:
        try:
            return Answer(getattr(self.client, operation)(Bucket=self.bucket, **kwargs))
        except Exception as exc:  # noqa: BLE001 - every failure is an answer worth recording
            return Answer(exc=exc)

    def put(self, name: str, body: bytes, **kwargs: Any) -> Answer:
        self.objects.add(self.root + name)  # before sending: it may land though we hear nothing
        return self.call("put_object", Key=self.root + name, Body=body, **kwargs)

    def create(self, name: str, **kwargs: Any) -> tuple[str, Answer]:
        self.objects.add(self.root + name)
        answer = self.call("create_multipart_upload", Key=self.root + name, **kwargs)
        upload_id = str(answer.response.get("UploadId", ""))
        if answer.ok:
            self.uploads[upload_id] = self.root + name
        return upload_id, answer

    def part(self, upload_id: str, number: int, body: bytes, **kwargs: Any) -> Answer:
        key = self.uploads[upload_id]
        return self.call(
            "upload_part", Key=key, UploadId=upload_id, PartNumber=number, Body=body, **kwargs
        )

    def upload(self, name: str, bodies: list[bytes]) -> tuple[str, list[dict[str, Any]]]:
        """Create an upload and send ``bodies`` as its parts; raise Skip when that fails."""
        upload_id, answer = self.create(name)
        if not answer.ok:
            raise Skip(f"CreateMultipartUpload failed: {answer}")
        parts = []
        for number, body in enumerate(bodies, 1):
            sent = self.part(upload_id, number, body)
            if not sent.ok:
                raise Skip(f"UploadPart failed: {sent}")
            parts.append({"PartNumber": number, "ETag": sent.response["ETag"]})
        return upload_id, parts

    def complete(self, upload_id: str, parts: list[dict[str, Any]], **kwargs: Any) -> Answer:
        key, listed = self.uploads[upload_id], {"Parts": parts}
        answer = self.call(
            "complete_multipart_upload",
            **{"Key": key, "UploadId": upload_id, "MultipartUpload": listed, **kwargs},
        )
        if answer.ok:
            del self.uploads[upload_id]
        return answer

    def find(self, name: str, verdict: tuple[Verdict, str]) -> None:
        self.findings[name] = Finding(name, *verdict)

    # -- cleanup ------------------------------------------------------------------------------
    def remaining(self) -> tuple[list[tuple[str, str, Any]], list[str]]:
        """What is still below the prefix, as (kind, key, id); and the listings that failed."""
        listings = [("list_multipart_uploads", "Uploads", "upload", "UploadId")]
        listings.append(("list_objects_v2", "Contents", "object", ""))
        if self.versioned:  # a deleted object hides behind a delete marker: remove versions
            for field in ("Versions", "DeleteMarkers"):
                listings.append(("list_object_versions", field, "version", "VersionId"))
        found, failed = [], []
        for operation, field, kind, ident in listings:
            answer = self.call(operation, Prefix=self.root)
            if not answer.ok:
                failed.append(f"could not look for leftovers ({operation}): {answer}")
            found += [(kind, e["Key"], e.get(ident)) for e in answer.response.get(field, [])]
        return found, failed

    def cleanup(self) -> list[str]:
        """Abort and delete what we made, then what the listings still show; report the rest."""
        errors: list[str] = []
        targets: list[tuple[str, str, Any]] = [("upload", k, u) for u, k in self.uploads.items()]
        targets += [("object", key, None) for key in sorted(self.objects)]
        for _ in range(2):
            for kind, key, ident in targets:
                if kind == "upload":
                    answer = self.call("abort_multipart_upload", Key=key, UploadId=ident)
                else:
                    version = {"VersionId": ident} if kind == "version" else {}
                    answer = self.call("delete_object", Key=key, **version)
                if not answer.ok and answer.code not in ("NoSuchUpload", "NoSuchKey"):
                    errors.append(f"could not remove {kind} {key} ({ident}): {answer}")
            targets, failed = self.remaining()
        errors += failed + [f"left behind: {kind} {key} ({ident})" for kind, key, ident in targets]
        self.uploads.clear()
        return list(dict.fromkeys(errors))
