"""The probe engine behind ``s3sink doctor``: what does this store check, and what not?

:func:`probe` sends about 80 requests (16 MiB in all; 1 KiB bodies where no full part is
needed) below a temporary prefix ``PREFIX/.s3sink-doctor-<random>/``, most of them a correct
value and then a deliberately wrong one. Whatever happens (KeyboardInterrupt included), it
then aborts the uploads and deletes the keys it made, and lists the prefix for leftovers (an
interrupted request can create what we never heard of). What could not be removed is in
``cleanup_errors``, or in the exception's notes. Nothing is printed: the CLI renders the
:class:`Report`.

Verdicts. "Does the store check X": ``validated`` = a 4xx for the wrong value and a 2xx for
the correct one (the only verdict a wrong value proved); ``ignored`` = a 2xx for the wrong
value; ``unsupported`` = the correct value refused too, with
405/501/NotImplemented/InvalidArgument/InvalidRequest; ``error`` = anything else. Operations,
echoes and properties of the answers (unequal part sizes, MD5 ETags): ``supported`` = works as
AWS documents, ``unsupported`` = 405/501/NotImplemented, or not there.

Recommended flags follow what s3sink verifies: every part carries its checksum (crc64nvme by
default); a part whose checksum the store echoes counts as confirmed, any other part's ETag is
compared with the MD5 of its bytes. The first rule that applies wins:

1. part CRC64NVME ``validated``: the defaults are right;
2. Content-MD5 ``validated``: ``--checksum md5`` (the store then checks each part on receipt);
3. the part checksum header ``unsupported``: ``--checksum off`` (ETags, signed payload);
4. a wrong part checksum echoed with 2xx (the echo would confirm a corrupt part):
   ``--checksum off`` (Content-MD5 is not validated there, or rule 2 would apply: each part's
   ETag is compared with its MD5, and payloads are signed);

and ``--fixed-part-size`` when ``unequal_part_sizes`` is ``unsupported``.

Parts may stream with their checksum in an aws-chunked trailer (``Report.trailers``) only where
``upload_part.trailer`` is ``validated``: the part with a correct trailer taken, the same bytes
with a wrong one refused. A store that takes the wrong one (``ignored``: moto) or does not take
trailers (``unsupported``: Ceph RGW 16.2, which reads the ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``
literal as a SHA-256 of the payload) keeps today's parts, checksum in a header.

``facts["warnings"]`` says when nothing verifies a part (no check validated on receipt, part
ETags not MD5s).

Build the client as s3sink does (``s3sink._store.client.build_client``), with
``max_attempts=2``: a probe answered with 500 would otherwise be retried with backoff, for a
minute. The probe registers botocore event hooks on it for the SigV4 probe (and removes
them) and for the trailer probe (``install_trailer_hooks``: they stay, inert outside a
``sending_trailer`` block); it is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._store.redact import redact
from .probes import Probe
from .session import STEPS, TRAILER, Finding, ProbeFailed, Skip, Verdict

if TYPE_CHECKING:
    from .._store.client import S3Client

__all__ = [
    "CAPABILITIES",
    "TRAILER",
    "Finding",
    "ProbeFailed",
    "Report",
    "Verdict",
    "probe",
    "recommend",
]


@dataclass(frozen=True)
class Report:
    """What the probe learned about one bucket of one store."""

    endpoint: str | None
    bucket: str
    prefix: str
    findings: tuple[Finding, ...]
    recommended: tuple[str, ...]
    facts: Mapping[str, Any]
    cleanup_errors: tuple[str, ...]

    def capabilities(self) -> dict[str, Verdict]:
        """Capability name -> verdict."""
        return {f.name: f.verdict for f in self.findings}

    @property
    def trailers(self) -> bool:
        """Whether s3sink may stream parts with their checksum in an aws-chunked trailer
        here: only where a correct trailer was taken and a wrong one refused."""
        return self.capabilities().get(TRAILER) == "validated"


def recommend(
    capabilities: Mapping[str, Verdict], facts: Mapping[str, Any]
) -> tuple[tuple[str, ...], list[str]]:
    """The CLI flags for this store, and warnings, by the rules in the module docstring."""
    part, md5 = capabilities.get("upload_part.checksum.crc64nvme"), capabilities.get("content_md5")
    echoes = facts.get("echoes", {})
    flags: list[str] = []
    if part == "validated":
        pass
    elif md5 == "validated":
        flags += ["--checksum", "md5"]
    elif (
        part == "unsupported"
        or echoes.get("upload_part_wrong")
        or echoes.get("upload_part_wrong_without_sdk_header")
    ):
        flags += ["--checksum", "off"]
    if capabilities.get("unequal_part_sizes") == "unsupported":
        flags.append("--fixed-part-size")
    signed = "off" in flags and capabilities.get("sigv4_payload_hash") == "validated"
    on_receipt = part == "validated" or md5 == "validated" or signed
    warnings = []
    if not on_receipt and not facts.get("etag_is_md5", {}).get("upload_part"):
        warnings.append(
            "verification impossible: the store checks no checksum of a part, and part ETags "
            "are not the MD5 of their bytes"
        )
    return tuple(flags), warnings


CAPABILITIES = tuple(name for _, names, _ in STEPS for name in names)


def probe(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    endpoint: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Report:
    """Probe what the store behind ``client`` checks; ``on_step`` hears each step's title.

    Raises :class:`ProbeFailed` when the bucket cannot be probed at all. Whatever happens
    (KeyboardInterrupt too), everything the probe created is removed before it returns or
    raises; what could not be is in ``cleanup_errors``, or in the exception's notes.
    """
    run = Probe(client, bucket, prefix)
    notify = on_step or (lambda _title: None)
    failure: BaseException | None = None
    try:
        notify("bucket access")
        run.preflight()
        for title, names, step in STEPS:
            notify(title)
            try:
                step(run)
            except Skip as exc:
                for name in names:
                    run.findings.setdefault(name, Finding(name, "error", str(exc)))
    except BaseException as exc:
        failure = exc
        raise
    finally:
        # Also on KeyboardInterrupt; a cleanup failure must reach the user either way.
        cleanup_errors = tuple(run.cleanup())
        if failure is not None:
            for error in cleanup_errors:
                failure.add_note(f"s3sink doctor cleanup: {error}")
    findings = tuple(run.findings[name] for name in CAPABILITIES)
    flags, run.facts["warnings"] = recommend({f.name: f.verdict for f in findings}, run.facts)
    endpoint = endpoint or getattr(client.meta, "endpoint_url", None)
    if endpoint is not None:
        endpoint = redact(endpoint)  # the report is printed: never an endpoint's password
    return Report(endpoint, bucket, prefix, findings, flags, run.facts, cleanup_errors)
