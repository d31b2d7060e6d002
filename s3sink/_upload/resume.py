"""Resuming an upload: which pending upload to take up (a journal here, locked for this run,
or ListMultipartUploads), whether this run can resume it (its checksum, its object settings,
its part sizes in this run's memory budget), the journal of a resumable upload, and the
checksums a journal recorded for stored parts. :meth:`MultipartUpload.prepare_resume` asks
:func:`take_up`; everything that cannot work is refused there, before anything is read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .._sizes import format_size
from .._store.checksums import bare_etag
from .._store.transport import ListedPart, Transport
from ..errors import UsageError
from .abort import cleanup_command
from .journal import (
    Journal,
    JournalBusy,
    JournalHeader,
    JournalPart,
    JournalRecord,
    ResumeCommand,
    find_journals,
)
from .policy import MiB, PartSchedule, fit_schedule
from .settings import check_settings, recorded_settings
from .spec import UploadSpec

__all__ = [
    "Resumption",
    "TakenUp",
    "adopt_schedule",
    "check_algorithm",
    "check_resumable",
    "continue_journal",
    "find_pending",
    "new_journal",
    "take_up",
    "with_journal_checksum",
]

log = logging.getLogger("s3sink")


@dataclass(frozen=True)
class Resumption:
    """How a writer deals with failures and earlier runs: ``keep`` the upload instead of
    aborting it (resumable), ``resume`` the pending one for the key (or ``upload_id``),
    with journals in ``journal_dir`` under the name ``endpoint``."""

    keep: bool = False
    resume: bool = False
    upload_id: str | None = None
    journal_dir: Path | None = None
    endpoint: str = ""
    command: ResumeCommand | None = None  # recorded in the journal, for ``uploads list``


def find_pending(
    transport: Transport, spec: UploadSpec, resumption: Resumption
) -> tuple[str | None, JournalRecord | None]:
    """The pending upload to resume and its journal here, if any: ``resumption.upload_id``,
    else the one live journal for the key, else the one upload ListMultipartUploads names.
    Several: UsageError, naming them."""
    wanted = resumption.upload_id
    records = _live_journals(transport, spec, resumption)
    if wanted is not None:
        return wanted, next((r for r in records if r.upload_id == wanted), None)
    if len(records) == 1:
        return records[0].upload_id, records[0]
    ids = [r.upload_id for r in records]
    started = {r.upload_id: r.started for r in records}
    if not records:
        for upload in transport.list_uploads(spec.bucket, spec.key):
            if upload.key == spec.key:
                ids.append(upload.upload_id)
                started[upload.upload_id] = upload.initiated.isoformat(timespec="seconds")
    if len(ids) == 1:
        return ids[0], None
    if not ids:
        return None, None
    listing = ", ".join(f"{i} (started {started[i]})" for i in ids)
    raise UsageError(
        f"{len(ids)} uploads are pending for s3://{spec.bucket}/{spec.key}: {listing}; "
        "pick one with --upload-id ID (library: upload_id=), or remove the others with "
        f"s3sink uploads abort s3://{spec.bucket}/{spec.key} --upload-id ID"
    )


@dataclass(frozen=True)
class TakenUp:
    """A pending upload this run resumes."""

    upload_id: str
    stored: dict[int, ListedPart]  # what the store holds, with the checksums journaled
    schedule: PartSchedule  # what this run cuts its parts by
    journal: Journal | None  # rewritten for this run and locked by it; or a new one


def take_up(
    transport: Transport,
    spec: UploadSpec,
    resumption: Resumption,
    schedule: PartSchedule,
    fits: Callable[[int], bool],
) -> TakenUp | None:
    """The pending upload to resume (``find_pending``), its journal here locked for this
    run, checked (``check_resumable``); None when there is none. UsageError when it cannot
    be resumed, with the upload and its journal left as they were."""
    upload_id, record = find_pending(transport, spec, resumption)
    if upload_id is None:
        return None
    journal = _take(record) if record is not None else None
    try:
        listed = _list_parts(transport, spec, upload_id, journal)
        schedule = check_resumable(spec, upload_id, record, listed, schedule=schedule, fits=fits)
    except BaseException:
        if journal is not None:
            journal.release()
        raise
    if record is not None:
        listed = [with_journal_checksum(p, record) for p in listed]
    stored = {p.number: p for p in listed}
    if journal is not None and record is not None:
        param = spec.checksummer.param if spec.checksummer else None
        command = resumption.command or record.command
        journal = continue_journal(journal, record, schedule, stored, param, command=command)
    else:
        journal = new_journal(spec, resumption, upload_id, schedule, created=False)
    return TakenUp(upload_id, stored, schedule, journal)


def _list_parts(
    transport: Transport, spec: UploadSpec, upload_id: str, journal: Journal | None
) -> list[ListedPart]:
    listed = transport.list_parts(spec.bucket, spec.key, upload_id)
    if listed is None:  # the store says it is gone: so is its journal
        if journal is not None:
            journal.remove()
        raise UsageError(
            f"upload {upload_id} of {spec.uri} no longer exists (completed or aborted); "
            "nothing to resume"
        )
    return listed


def _take(record: JournalRecord) -> Journal:
    try:
        return Journal.take(record.path)
    except JournalBusy as exc:
        raise UsageError(
            f"upload {record.upload_id} of s3://{record.bucket}/{record.key} is being written "
            f"or resumed by another s3sink on this machine (its journal {record.path} is "
            "locked): two runs sending parts into one upload would spoil each other's; let "
            "that run end, then resume"
        ) from exc


def _live_journals(
    transport: Transport, spec: UploadSpec, resumption: Resumption
) -> list[JournalRecord]:
    """Journals here for this endpoint and key whose upload still exists; a journal whose
    upload is gone (completed or aborted elsewhere) is removed."""
    directory = resumption.journal_dir
    if directory is None:
        return []
    live = []
    for record in find_journals(
        directory, endpoint=resumption.endpoint, bucket=spec.bucket, key=spec.key
    ):
        if transport.list_parts(spec.bucket, spec.key, record.upload_id) is None:
            Journal(record.path).remove()
            continue
        live.append(record)
    return live


def check_algorithm(
    spec: UploadSpec, upload_id: str, record: JournalRecord | None, listed: list[ListedPart]
) -> None:
    """The parts and the Complete must use the checksum the upload was created with."""
    ours = spec.checksummer.algorithm if spec.checksummer else None
    theirs = record.checksum_algorithm if record is not None else None
    if record is None:
        params = {k for p in listed for k in p.checksums}
        if not params:
            return  # the store lists none: it cannot tell, and the ETags will
        theirs = next(iter(params)).removeprefix("Checksum").lower()
    if theirs != ours:
        raise UsageError(
            f"upload {upload_id} was started with checksum {theirs or 'none'}; resume it "
            f"with --checksum {theirs or 'md5'} (library: checksum=), not {ours or 'none'}"
        )


def check_resumable(
    spec: UploadSpec,
    upload_id: str,
    record: JournalRecord | None,
    listed: list[ListedPart],
    *,
    schedule: PartSchedule,
    fits: Callable[[int], bool],
) -> PartSchedule:
    """Whether this run can resume ``upload_id`` (its checksum, its object settings, its
    part sizes in this run's memory budget), before anything is read: UsageError when not.
    Returns the schedule to cut this run's parts by (see adopt_schedule)."""
    check_algorithm(spec, upload_id, record, listed)
    check_settings(
        spec.extra,
        upload_id,
        record.settings if record is not None else None,
        bucket=spec.bucket,
        key=spec.key,
    )
    return adopt_schedule(record, schedule, fits) if record is not None else schedule


def adopt_schedule(
    record: JournalRecord, own: PartSchedule, fits: Callable[[int], bool]
) -> PartSchedule:
    """The schedule to cut a resumed upload's parts by: its journal's, which cut the stored
    parts, capped to what ``fits`` this run's memory budget, when it carries at least as
    much as this run's ``own``. A journal whose first part does not fit at all is refused
    up front (its parts would fail one by one, and the upload be kept again forever)."""
    fitted = fit_schedule(record.schedule, fits)
    if fitted is None:
        base = record.schedule.base
        mib, rest = divmod(base, MiB)
        needed = f"{mib}MiB" if not rest else str(base)  # as the option takes it
        raise UsageError(
            f"upload {record.upload_id} of s3://{record.bucket}/{record.key} is cut in parts "
            f"of {format_size(base)} (its journal {record.path}), and this run's memory "
            f"budget cannot hold one: resume it with --max-memory {needed} or more "
            "(library: max_memory=), or remove it: "
            f"{cleanup_command(record.bucket, record.key, record.upload_id)}"
        )
    return fitted if fitted.capacity >= own.capacity else own


def new_journal(
    spec: UploadSpec,
    resumption: Resumption,
    upload_id: str,
    schedule: PartSchedule,
    *,
    created: bool,
) -> Journal | None:
    """A new journal for a resumable upload: one this run ``created`` (its settings are
    recorded), or one it takes up without a journal here (its settings are unknown). None
    when not resumable, or when it cannot be written (said in a warning)."""
    directory = resumption.journal_dir
    if not resumption.keep or directory is None:
        return None
    header = JournalHeader(
        endpoint=resumption.endpoint,
        bucket=spec.bucket,
        key=spec.key,
        upload_id=upload_id,
        schedule=schedule,
        checksum_algorithm=spec.checksummer.algorithm if spec.checksummer else None,
        settings=recorded_settings(spec.extra, upload_id) if created else None,
        command=resumption.command,
    )
    try:
        return Journal.create(directory, header)
    except OSError as exc:
        log.warning(
            "could not write the resume journal in %s (%s): the upload can still be "
            "resumed, found through ListMultipartUploads",
            directory,
            exc,
        )
        return None


def continue_journal(
    journal: Journal,
    record: JournalRecord,
    schedule: PartSchedule,
    stored: Mapping[int, ListedPart],
    checksum_param: str | None,
    *,
    command: ResumeCommand | None = None,
) -> Journal:
    """A resumed upload's journal, rewritten for this run (whether or not it is resumable:
    the journal goes once the upload is published or aborted): the schedule this run cuts
    parts by, so that the next resume cuts them the same way, the parts the store holds
    (with the checksums the journal knew for them), the endpoint without credentials
    (journals of earlier versions held them), and the ``command`` that resumes it."""
    header = JournalHeader(
        endpoint=record.endpoint,
        bucket=record.bucket,
        key=record.key,
        upload_id=record.upload_id,
        schedule=schedule,
        checksum_algorithm=record.checksum_algorithm,
        settings=record.settings,
        started=record.started,
        command=command,
    )
    parts = [
        JournalPart(
            p.number,
            p.size,
            p.etag,
            p.journal_checksum or (p.checksums.get(checksum_param) if checksum_param else None),
        )
        for _, p in sorted(stored.items())
    ]
    try:
        journal.rewrite(header, parts)
    except OSError as exc:
        log.warning("could not rewrite the resume journal %s: %s", journal.path, exc)
    return journal


def with_journal_checksum(part: ListedPart, record: JournalRecord) -> ListedPart:
    """``part`` with the checksum the journal recorded for it, when the journal's entry is
    this very stored part (same size and ETag): stores that list no part checksums (moto,
    SeaweedFS and Ceph RGW here) then need no MD5 of this run's part to compare."""
    entry = record.parts.get(part.number)
    if entry is None or entry.checksum is None or part.checksums:
        return part
    if entry.size != part.size or bare_etag(entry.etag) != bare_etag(part.etag):
        return part
    return replace(part, journal_checksum=entry.checksum)
