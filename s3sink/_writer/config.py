"""A writer's keyword arguments, checked and resolved once into a frozen
:class:`WriterConfig`: the upload's target (an :class:`UploadSpec`), the memory plan and part
schedule, compression, the resume policy. The writer builds its parts from this value and
never looks at its raw arguments again."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._location import check_bucket_and_key
from .._results import Progress
from .._store.checksums import Checksummer, resolve_mode
from .._store.ratelimit import RateLimiter, resolve_rate_limit
from .._store.ssec import customer_key, sse_c_args
from .._upload.journal import ResumeCommand
from .._upload.journal import journal_dir as default_journal_dir
from .._upload.policy import MemoryPlan, plan_memory
from .._upload.resume import Resumption
from .._upload.spec import UploadSpec
from ..errors import UsageError
from .checks import check_writer_options
from .compress import Codec, resolve_codec
from .encrypt import resolve_recipients, stored_size_hint

if TYPE_CHECKING:
    from .._crypt import Recipient

__all__ = ["WriterConfig"]

log = logging.getLogger("s3sink")


@dataclass(frozen=True)
class WriterConfig:
    """What one writer is: its target and how its parts are cut, checked and sent."""

    spec: UploadSpec
    plan: MemoryPlan
    concurrency: int
    checksum: str | None  # the ``checksum=`` mode, which a client built for the writer follows
    codec: Codec | None
    on_progress: Callable[[Progress], None] | None
    abort_timeout: float
    resumption: Resumption  # its ``endpoint`` is the transport's, filled in by the writer
    rate_limiter: RateLimiter | None
    recipients: tuple[Recipient, ...] = ()  # ``encrypt_to``: the stored object is an age file

    @classmethod
    def from_options(  # the writer's keyword arguments, one by one
        cls,
        bucket: str,
        key: str,
        *,
        part_size: int,
        concurrency: int,
        max_memory: int | None,
        expected_size: int | None,
        extra_args: Mapping[str, Any] | None,
        on_progress: Callable[[Progress], None] | None,
        checksum: str | None,
        fixed_part_size: bool,
        if_none_match: str | None,
        if_match: str | None,
        abort_timeout: float,
        resumable: bool,
        resume: bool,
        upload_id: str | None,
        journal_dir: str | os.PathLike[str] | None,
        resume_command: ResumeCommand | None,
        compress: str | Codec | None,
        rate_limit: float | RateLimiter | None,
        sse_c_key: object = None,
        encrypt_to: object = None,
    ) -> WriterConfig:
        """Check every argument (UsageError or TypeError, before anything is built) and
        resolve it; a memory plan that caps the stream's length is logged here, at
        construction, not at part 10,001 after hours of streaming."""
        check_bucket_and_key(bucket, key)
        check_writer_options(
            part_size=part_size,
            concurrency=concurrency,
            max_memory=max_memory,
            expected_size=expected_size,
            extra_args=extra_args,
            on_progress=on_progress,
            checksum=checksum,
            if_none_match=if_none_match,
            if_match=if_match,
            abort_timeout=abort_timeout,
        )
        codec = resolve_codec(compress)
        recipients = resolve_recipients(encrypt_to)
        if recipients and (resumable or resume or upload_id is not None):
            raise UsageError(
                "encrypt_to cannot be combined with resumable, resume or upload_id: each "
                "upload encrypts with a new file key, which s3sink does not keep"
            )
        if recipients and expected_size is not None:
            expected_size = stored_size_hint(expected_size)  # the parts hold the ciphertext
        if codec is not None and (resumable or resume or upload_id is not None):
            # A re-run must rebuild byte-identical parts to skip any, and multi-threaded
            # zstd does not promise the same output twice.
            raise UsageError("compress cannot be combined with resumable, resume or upload_id")
        extra = dict(extra_args or {})
        if sse_c_key is not None:
            extra.update(_sse_c(extra, sse_c_key))
        if codec is not None:
            extra.setdefault("ContentType", codec.content_type)
        plan = plan_memory(
            part_size=part_size,
            max_memory=max_memory,
            expected_size=expected_size,
            fixed=fixed_part_size,
        )
        if plan.warning is not None:
            log.warning("%s", plan.warning)
        algorithm, content_md5 = resolve_mode(checksum)
        spec = UploadSpec(
            bucket,
            key,
            extra=extra,
            checksummer=Checksummer(algorithm) if algorithm is not None else None,
            content_md5=content_md5,
            if_none_match=if_none_match,
            if_match=if_match,
        )
        return cls(
            spec=spec,
            plan=plan,
            concurrency=concurrency,
            checksum=checksum,
            codec=codec,
            on_progress=on_progress,
            abort_timeout=abort_timeout,
            resumption=_resumption(resumable, resume, upload_id, journal_dir, resume_command),
            rate_limiter=resolve_rate_limit(rate_limit),
            recipients=recipients,
        )


def _sse_c(extra: Mapping[str, Any], key: object) -> dict[str, Any]:
    """``sse_c_key``'s request parameters; refused beside another encryption setting (the
    store would refuse them together, after the stream)."""
    clash = sorted(
        name
        for name in ("SSECustomerKey", "SSECustomerAlgorithm", "ServerSideEncryption")
        if extra.get(name) is not None
    )
    if clash:
        raise UsageError(f"sse_c_key cannot be combined with extra_args {', '.join(clash)}")
    return sse_c_args(customer_key(key))


def _resumption(
    resumable: bool,
    resume: bool,
    upload_id: str | None,
    journal_dir: str | os.PathLike[str] | None,
    command: ResumeCommand | None,
) -> Resumption:
    """Keep the upload on failure (resumable), resume a pending one (``resume`` or an
    ``upload_id``), journals in ``journal_dir`` or, when either applies, the default one,
    recording the ``command`` that resumes it."""
    resuming = resumable or resume or upload_id is not None
    folder = Path(journal_dir) if journal_dir is not None else None
    return Resumption(
        keep=resumable,
        resume=resume or upload_id is not None,
        upload_id=upload_id,
        journal_dir=folder if folder is not None or not resuming else default_journal_dir(),
        command=command,
    )
