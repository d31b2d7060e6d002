"""The resume journal: what a kept multipart upload needs to be found and resumed.

One JSON-lines file per upload, in ``$XDG_STATE_HOME/s3sink/uploads/`` (by default
``~/.local/state/s3sink/uploads/``): a header line (endpoint, bucket, key, upload id, the
part-size schedule, the checksum algorithm, the object's settings, when it started), then a
line per part the store accepted (number, size, checksum, ETag), appended as each part
completes. Every line is written with one ``write`` as soon as it is known, so even
``kill -9`` leaves all lines written so far; a torn last line (a crash inside that write) is
ignored when reading.

The endpoint is recorded without the ``user:password@`` an endpoint URL may carry: a
journal never holds a credential, and the resume command printed with the credentials
redacted (``http://***@host``) names the same journal. The command records that resume
command too (:class:`ResumeCommand`, redacted the same way), so that ``uploads list`` can
print it after a run that could print nothing (``kill -9``). Journals of earlier versions that
hold them are still found (their endpoint is compared without them) and are rewritten
without them when resumed.

The store stays the source of truth for the parts (ListParts, at resume): the journal makes
the upload findable without ListMultipartUploads, keeps the schedule the parts were cut by,
and lets ``uploads list`` show progress.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._store.redact import strip_userinfo
from .._store.transport import CompletedPart
from .policy import PartSchedule

__all__ = [
    "Journal",
    "JournalBusy",
    "JournalHeader",
    "JournalPart",
    "JournalRecord",
    "ResumeCommand",
    "find_journals",
    "journal_dir",
    "read_journal",
]

log = logging.getLogger("s3sink")

FORMAT = 1


def journal_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/s3sink/uploads`` (``~/.local/state`` when unset or relative, as
    the XDG base directory specification says)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "s3sink" / "uploads"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class JournalPart:
    """A part the store accepted, as the journal records it."""

    number: int
    size: int
    etag: str
    checksum: str | None

    def line(self) -> bytes:
        entry = {"part": self.number, "size": self.size, "etag": self.etag}
        return (json.dumps({**entry, "checksum": self.checksum}) + "\n").encode()


@dataclass(frozen=True)
class ResumeCommand:
    """The command line that resumes a kept upload, as the command that started it would
    print it (credentials in URLs redacted: a journal never holds them), and what it must
    be given again: ``feed`` is ``"stdin"`` (the same stream on stdin), ``"fifo"`` (the
    same stream written into its FIFO), or None (it runs or reads its input itself).
    ``cwd``: the directory it ran in, where its relative paths (``--file ./db.dump``, a
    COMMAND's arguments) mean what they meant (None: unknown, or a journal of an earlier
    version)."""

    argv: tuple[str, ...]
    feed: str | None = None
    cwd: str | None = None

    def entry(self) -> dict[str, Any]:
        return {"argv": list(self.argv), "feed": self.feed, "cwd": self.cwd}


def _resume_command(value: object) -> ResumeCommand | None:
    """The journal's ``resume_command`` entry, or None (absent, or not one of ours)."""
    if not isinstance(value, dict):
        return None
    argv, feed, cwd = value.get("argv"), value.get("feed"), value.get("cwd")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return None
    return ResumeCommand(
        tuple(argv), feed if isinstance(feed, str) else None, cwd if isinstance(cwd, str) else None
    )


@dataclass(frozen=True)
class JournalHeader:
    """The first line of a journal: which upload, and how its parts are cut."""

    endpoint: str  # never with credentials: see the module docstring
    bucket: str
    key: str
    upload_id: str
    schedule: PartSchedule
    checksum_algorithm: str | None
    # The object's settings (``settings.recorded_settings``); None when not known (an
    # upload found by listing, or a journal of an earlier version).
    settings: Mapping[str, Any] | None = None
    started: str = field(default_factory=_now)
    command: ResumeCommand | None = None  # how to resume it, when a command started it

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoint", strip_userinfo(self.endpoint))

    @property
    def filename(self) -> str:
        """The file's name: by endpoint, bucket and key, then upload id."""
        prefix = _digest(f"{self.endpoint}\n{self.bucket}\n{self.key}")
        return f"{prefix}-{_digest(self.upload_id)}.jsonl"

    def line(self) -> bytes:
        header = {
            "s3sink_journal": FORMAT,
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "schedule": asdict(self.schedule),
            "checksum_algorithm": self.checksum_algorithm,
            "settings": self.settings,
            "started": self.started,
            "resume_command": self.command.entry() if self.command is not None else None,
        }
        return (json.dumps(header) + "\n").encode()


@dataclass
class JournalRecord:
    """A journal as read back: its header and the parts recorded so far."""

    path: Path
    endpoint: str  # without credentials, even when an earlier version recorded them
    bucket: str
    key: str
    upload_id: str
    schedule: PartSchedule
    checksum_algorithm: str | None
    started: str
    settings: Mapping[str, Any] | None = None  # see JournalHeader
    command: ResumeCommand | None = None  # see JournalHeader
    parts: dict[int, JournalPart] = field(default_factory=dict)
    # Written by an earlier version with the endpoint's credentials in it: rewrite it.
    credentials: bool = False

    @property
    def bytes_recorded(self) -> int:
        """Bytes in the parts recorded (a part re-sent is counted once)."""
        return sum(p.size for p in self.parts.values())


class JournalBusy(Exception):  # an outcome the caller words, not a programming error
    """Another process holds the journal: it is writing or resuming that upload now."""


def _write_locked(path: Path, lines: Iterable[bytes]) -> int:
    """``path`` with ``lines``, atomically (a temporary file, synced, renamed over it: a
    half-written header would make the upload unfindable); returns the file's descriptor,
    open for appending and already locked, so that it is never seen unlocked."""
    temporary = path.with_suffix(".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"".join(lines))
        os.fsync(fd)
        os.replace(temporary, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Journal:
    """An open journal: appends a line per completed part (thread-safe).

    While a run writes or resumes an upload it holds an exclusive ``flock`` on its journal,
    so that a second run on this machine cannot resume the same upload at the same time
    (both would send parts into it, and the one that completes first would list the other's
    replaced parts by stale ETags). A ``Journal(path)`` without a descriptor only removes.
    """

    def __init__(self, path: Path, fd: int | None = None) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def create(cls, directory: Path, header: JournalHeader) -> Journal:
        """Write the header of a new journal and return it open (and locked)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / header.filename
        return cls(path, _write_locked(path, [header.line()]))

    @classmethod
    def take(cls, path: Path) -> Journal:
        """The existing journal at ``path``, locked for this run; JournalBusy when another
        process holds it (or replaced or removed it meanwhile, which only its holder does)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise JournalBusy(path) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            current = os.fstat(fd).st_ino == os.stat(path).st_ino
        except (BlockingIOError, FileNotFoundError) as exc:
            os.close(fd)
            raise JournalBusy(path) from exc
        except BaseException:
            os.close(fd)
            raise
        if not current:
            os.close(fd)
            raise JournalBusy(path)
        return cls(path, fd)

    def rewrite(self, header: JournalHeader, parts: Iterable[JournalPart]) -> None:
        """Replace the journal (atomically, staying locked) by ``header`` and ``parts``,
        under the name the header gives: a journal an earlier version named by an endpoint
        with credentials moves to the name the redacted resume command finds."""
        path = self.path.with_name(header.filename)
        with self._lock:
            fd = _write_locked(path, [header.line(), *(p.line() for p in parts)])
            if path != self.path:
                self.path.unlink(missing_ok=True)
            self._close()
            self.path, self._fd = path, fd

    def record(self, part: CompletedPart) -> None:
        """Append ``part``: one write, so a crash leaves the line whole or torn, never
        interleaved with another."""
        checksum = part.checksum.value if part.checksum else None
        data = JournalPart(part.number, part.size, part.etag, checksum).line()
        with self._lock:
            try:
                # Released (the upload kept while a part was still in flight): not recorded.
                if self._fd is not None:
                    os.write(self._fd, data)
            except OSError as exc:
                # The store holds the part either way; the journal only helps to find it.
                log.warning("could not record part %d in %s: %s", part.number, self.path, exc)

    def release(self) -> None:
        """The upload is kept: let another run take the journal up (the lock goes)."""
        with self._lock:
            self._close()

    def remove(self) -> None:
        """The upload is published or aborted: nothing is left to resume. Removed before
        the lock goes, so that nobody takes it up in between."""
        with self._lock:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove the journal %s: %s", self.path, exc)
            self._close()

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def read_journal(path: Path) -> JournalRecord | None:
    """The journal at ``path``, or None when it is no journal of ours (or unreadable)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    try:
        header = json.loads(lines[0])
        if header.get("s3sink_journal") != FORMAT:
            return None
        written = str(header["endpoint"])
        record = JournalRecord(
            path=path,
            endpoint=strip_userinfo(written),
            bucket=str(header["bucket"]),
            key=str(header["key"]),
            upload_id=str(header["upload_id"]),
            schedule=PartSchedule(**header["schedule"]),
            checksum_algorithm=header.get("checksum_algorithm"),
            started=str(header.get("started", "")),
            settings=_settings(header.get("settings")),
            command=_resume_command(header.get("resume_command")),
        )
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    record.credentials = record.endpoint != written
    for line in lines[1:]:
        try:
            entry: dict[str, Any] = json.loads(line)
            part = JournalPart(
                int(entry["part"]), int(entry["size"]), str(entry["etag"]), entry.get("checksum")
            )
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line
        record.parts[part.number] = part
    return record


def _settings(value: object) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("settings")
    return value


def _journals(directory: Path) -> Iterator[JournalRecord]:
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.jsonl")):
        record = read_journal(path)
        if record is not None:
            yield record


def find_journals(
    directory: Path, *, endpoint: str | None = None, bucket: str, key: str | None = None
) -> list[JournalRecord]:
    """Journals for ``bucket`` (and ``key``, and ``endpoint``, when given). Endpoints are
    compared without credentials; every file is read, since an earlier version named them
    by an endpoint with credentials."""
    store = strip_userinfo(endpoint) if endpoint is not None else None
    return [
        r
        for r in _journals(directory)
        if r.bucket == bucket
        and (key is None or r.key == key)
        and (store is None or r.endpoint == store)
    ]
