"""The write-only filesystem behind ``s3sink mount``: every file created in it streams, as it
is written, into the object ``PREFIX/relative/path`` through an S3MultipartWriter.

The operations are mfusepy's (``raw_fi``: each takes the ``fuse_file_info``), called on
libfuse's threads; they raise ``OSError(errno)``, which mfusepy returns to the kernel. This
module never imports mfusepy, so it is tested without a mount too. Its rules (the table in
docs/mount.md is written from them):

* writes are sequential: a write at any other offset aborts the file's upload (EINVAL); zeros
  at the end of a file may be written over (``_sequence`` has the rules);
* a file is committed when its last writable handle is closed (flush; an empty file at
  release, so that a shell's dup2-and-close of a redirect does not commit it), or at fsync;
  after that, writes fail (EIO). A commit that fails makes that close or fsync return EIO, and
  publishes nothing;
* a file that is still open at unmount is aborted, never published;
* memory: every file's bytes go to a staging buffer, charged byte by byte, until they fill a
  part; only then does the file get a writer and part buffers. Staging buffers and all part
  buffers share one budget (``SharedBudget``), so the total stays within ``--max-memory``
  however many files are open; a write waits while the budget is spent. A file past its
  first part also gathers up to ``COALESCE`` bytes of small writes before its writer takes
  them (outside the budget: 256 KiB per such file).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from ._checksum import etag_md5
from ._commit import bare_etag
from ._pool import BudgetExhausted, SharedBudget
from ._sequence import NonSequential, Sequencer
from ._sizes import format_size
from ._transport import ObjectInfo, Transport
from ._writer import S3MultipartWriter
from .errors import AbortFailedError, PreconditionFailed, S3SinkError

__all__ = ["STATUS_NAME", "FileRecord", "ObjectMover", "StoreMover", "UploadFS", "marker_options"]

log = logging.getLogger("s3sink")

STATUS_NAME = ".s3sink-status"
STATUS_PATH = "/" + STATUS_NAME
MAX_COPY = 5 * 1024**3  # CopyObject's limit: larger committed files are not renamed
WAIT_WARNING = 10.0  # seconds a write waits for memory before s3sink says so
COALESCE = 256 * 1024  # bytes of small writes gathered before the writer takes them

State = Literal["writing", "committed", "failed", "aborted"]


@dataclass
class FileRecord:
    """One file's line in the status file."""

    path: str
    key: str
    state: State
    size: int = 0
    checksum: str | None = None
    error: str | None = None


class ObjectMover(Protocol):
    """What the mount asks of the store besides writers: a server-side rename of a committed
    object (a verified copy, then a delete), and aborting an upload a writer could not."""

    def move(self, source_key: str, target_key: str, record: FileRecord) -> None:
        """Raise OSError (with an errno) when it cannot be done safely."""

    def abort_upload(self, key: str, upload_id: str) -> bool:
        """Abort ``upload_id`` of ``key``; False (logged) when it still cannot be done."""

    def remove(self, key: str) -> None:
        """Delete an object this mount made and no longer stands for (a directory's marker);
        raise OSError (with an errno) when it cannot."""


class StoreMover:
    """:class:`ObjectMover` over a Transport: CopyObject, then check the copy against the
    source (size, and the full-object checksum or a plain-MD5 ETag when the store shows
    them), then delete the source. A copy that does not match is deleted and the source
    kept (EIO)."""

    def __init__(self, transport: Transport, bucket: str) -> None:
        self._transport = transport
        self._bucket = bucket

    def move(self, source_key: str, target_key: str, record: FileRecord) -> None:
        t, bucket = self._transport, self._bucket
        try:
            source = t.head_object(bucket, source_key)
            if source is None:
                raise OSError(errno.ENOENT, f"s3://{bucket}/{source_key} is gone")
            t.copy_object(bucket, source_key, target_key)
            copy = t.head_object(bucket, target_key)
            problem = _copy_problem(source, copy)
            if problem is not None:
                if copy is not None:
                    t.delete_object(bucket, target_key, copy.version_id)
                raise OSError(errno.EIO, f"the copy to {target_key} {problem}; kept {source_key}")
            t.delete_object(bucket, source_key, source.version_id)
        except S3SinkError as exc:
            raise _fail(errno.EIO, f"renaming {source_key} to {target_key}: {exc}") from exc
        log.info(
            "renamed s3://%s/%s to %s (copied, verified, deleted)", bucket, source_key, target_key
        )

    def remove(self, key: str) -> None:
        try:
            self._transport.delete_object(self._bucket, key, None)
        except S3SinkError as exc:
            raise _fail(errno.EIO, f"removing s3://{self._bucket}/{key}: {exc}") from exc

    def abort_upload(self, key: str, upload_id: str) -> bool:
        t, bucket = self._transport, self._bucket
        try:
            t.abort_multipart_upload(bucket, key, upload_id)
            gone = t.list_parts(bucket, key, upload_id) is None
        except S3SinkError as exc:
            log.error(  # noqa: TRY400  # the error says it all
                "upload %s of s3://%s/%s still cannot be aborted: %s", upload_id, bucket, key, exc
            )
            return False
        return gone


def _copy_problem(source: ObjectInfo, copy: ObjectInfo | None) -> str | None:
    if copy is None:
        return "is missing"
    if copy.size != source.size:
        return f"has {copy.size:,} bytes, not {source.size:,}"
    shared = set(source.checksums) & set(copy.checksums)
    full = [k for k in shared if "-" not in source.checksums[k]]  # not a composite
    if full:
        return (
            None
            if all(source.checksums[k] == copy.checksums[k] for k in full)
            else ("has another checksum")
        )
    if etag_md5(source.etag) is not None:
        return None if bare_etag(source.etag) == bare_etag(copy.etag) else "has another ETag"
    log.warning(
        "the copy of a multipart object could be checked by its size only (the store "
        "shows no full-object checksum)"
    )
    return None


def _committed(path: str) -> str:
    return (
        f"{path} is committed: it cannot be changed or appended to (open it with O_TRUNC "
        "to replace it)"
    )


def _fail(code: int, message: str) -> OSError:
    log.error("%s", message)
    return OSError(code, message)


@dataclass
class _File:
    """A file being written."""

    path: str
    writable_handles: int = 0
    seq: Sequencer = field(default_factory=Sequencer)  # its writes in order
    staging: bytearray | None = field(default_factory=bytearray)
    gathered: bytearray = field(default_factory=bytearray)  # written, not yet passed on
    writer: S3MultipartWriter | None = None
    state: State = "writing"
    moved_from: str | None = None  # renamed after its upload began: copy at commit
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Handle:
    file: _File | None  # None: the status file or a committed file (read-only handles)
    writable: bool


def marker_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Writer options for a directory's marker: the same object settings (encryption, ACL,
    storage class...), but no compression (a marker is empty, not an empty zstd frame) and
    no Object Lock (``rmdir`` may delete it)."""
    extra = {k: v for k, v in (options.get("extra_args") or {}).items() if "ObjectLock" not in k}
    return {**options, "compress": None, "extra_args": extra}


class UploadFS:
    """The mount's operations over ``bucket``/``prefix``; ``make_writer(key, marker)`` makes
    each file's writer (on ``budget``), and with ``marker`` a directory marker's (see
    :func:`marker_options`); ``mover`` renames committed objects, ``on_failure`` is called at
    each failed or aborted file (``--exit-on-error`` unmounts there)."""

    use_ns = True  # mfusepy: times in nanoseconds

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        make_writer: Callable[[str, bool], S3MultipartWriter],
        budget: SharedBudget,
        part_size: int,
        mover: ObjectMover,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._make_writer = make_writer
        self._budget = budget
        self._part_size = part_size
        self._mover = mover
        self._on_failure = on_failure
        self._lock = threading.RLock()
        self._dirs: set[str] = {"/"}
        self._markers: set[str] = set()  # directories whose marker object this mount made
        self._files: dict[str, _File] = {}
        self._done: dict[str, FileRecord] = {}  # committed files, by path
        self.records: list[FileRecord] = []  # every file that ended, in order
        self._handles: dict[int, _Handle] = {}
        self._orphans: list[tuple[str, str]] = []  # (key, upload id) whose abort failed
        self._next_handle = 1
        self._started = time.time_ns()

    # -- names ------------------------------------------------------------------------
    def key_of(self, path: str) -> str:
        """The object key a path in the mount stands for."""
        return self.prefix + path.lstrip("/")

    def _parent_exists(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self._dirs:
            raise OSError(errno.ENOENT, f"no directory {parent}")

    def _exists(self, path: str) -> bool:
        return (
            path in self._dirs or path in self._files or path in self._done or path == STATUS_PATH
        )

    # -- metadata ---------------------------------------------------------------------
    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        now = time.time_ns()
        base = {"st_uid": 0, "st_gid": 0, "st_atime": now, "st_mtime": now, "st_ctime": now}
        with self._lock:
            if path in self._dirs:
                return {**base, "st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
            if path == STATUS_PATH:
                size = len(self.status_text().encode())
                return {**base, "st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": size}
            file = self._files.get(path)
            if file is not None:
                return {
                    **base,
                    "st_mode": stat.S_IFREG | 0o644,
                    "st_nlink": 1,
                    "st_size": file.seq.size,
                }
            record = self._done.get(path)
            if record is not None:
                return {
                    **base,
                    "st_mode": stat.S_IFREG | 0o644,
                    "st_nlink": 1,
                    "st_size": record.size,
                }
        raise OSError(errno.ENOENT, path)

    def readdir(self, path: str, fh: Any = None) -> list[str]:
        with self._lock:
            if path not in self._dirs:
                raise OSError(errno.ENOENT, path)
            names = {".", ".."}
            if path == "/":
                names.add(STATUS_NAME)
            base = path.rstrip("/") + "/"
            for entry in (*self._dirs, *self._files, *self._done):
                if entry != path and entry.startswith(base) and "/" not in entry[len(base) :]:
                    names.add(entry[len(base) :])
        return sorted(names)

    def mkdir(self, path: str, mode: int) -> int:
        with self._lock:
            self._parent_exists(path)
            if self._exists(path):
                raise OSError(errno.EEXIST, path)
        ours = self._mark(path)  # outside the tree's lock: a request to the store
        with self._lock:
            if self._exists(path):
                raise OSError(errno.EEXIST, path)
            self._dirs.add(path)
            if ours:
                self._markers.add(path)
        return 0

    def _mark(self, path: str) -> bool:
        """Publish the directory's marker (an empty object ``key/``), so that an empty
        directory, which a restore needs (pg_basebackup's pg_notify, pg_tblspc, ...), is in
        the bucket too. False if a marker was there already (then it is not ours to remove)."""
        key = self.key_of(path) + "/"
        try:
            writer = self._make_writer(key, True)
            writer.close()
        except PreconditionFailed:
            return False  # --no-overwrite and an earlier run's marker: the same empty object
        except S3SinkError as exc:
            raise _fail(errno.EIO, f"{path}: its directory marker {key}: {exc}") from exc
        return True

    def _unmark(self, path: str) -> None:
        if path in self._markers:
            self._mover.remove(self.key_of(path) + "/")
            self._markers.discard(path)

    def rmdir(self, path: str) -> int:
        with self._lock:
            if path not in self._dirs or path == "/":
                raise OSError(errno.ENOENT if path not in self._dirs else errno.EBUSY, path)
            if len(self.readdir(path)) > 2:
                raise OSError(errno.ENOTEMPTY, path)
            self._unmark(path)
            self._dirs.discard(path)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        blocks = 1 << 40
        return {
            "f_bsize": 1 << 20,
            "f_frsize": 1 << 20,
            "f_blocks": blocks,
            "f_bfree": blocks,
            "f_bavail": blocks,
            "f_files": 1 << 30,
            "f_ffree": 1 << 30,
            "f_namemax": 1024,
        }

    def chmod(self, path: str, mode: int) -> int:
        self.getattr(path)  # accepted and ignored: S3 keeps no modes (cp -p, tar do this)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self.getattr(path)
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        self.getattr(path)
        return 0

    # -- opening ----------------------------------------------------------------------
    def _handle(self, fi: Any, file: _File | None, writable: bool) -> int:
        number = self._next_handle
        self._next_handle += 1
        self._handles[number] = _Handle(file, writable)
        fi.fh = number
        if writable:
            # Never cached: every write reaches write() below with its offset, and fails
            # there if out of order. Not nonseekable: a pwrite() elsewhere would then fail
            # in the kernel with ESPIPE, and the program's close would commit what it wrote
            # so far; here it aborts the file.
            fi.direct_io = 1
        return 0

    def create(self, path: str, mode: int, fi: Any) -> int:
        with self._lock:
            self._parent_exists(path)
            if path in self._dirs or path == STATUS_PATH or path in self._files:
                raise _fail(errno.EEXIST, f"{path} exists and is being written or is special")
            self._done.pop(path, None)  # a committed file replaced (O_CREAT|O_TRUNC)
            file = self._new_file(path)
            return self._handle(fi, file, writable=True)

    def _new_file(self, path: str) -> _File:
        file = _File(path, writable_handles=1)
        self._files[path] = file
        return file

    def open(self, path: str, fi: Any) -> int:
        access = fi.flags & 0o3  # O_ACCMODE
        writable = access != 0  # O_WRONLY or O_RDWR
        truncate = bool(fi.flags & 0o1000)  # O_TRUNC
        with self._lock:
            if path == STATUS_PATH or path in self._dirs:
                if writable:
                    raise OSError(errno.EACCES, path)
                return self._handle(fi, None, writable=False)
            file = self._files.get(path)
            if not writable:
                if file is None and path not in self._done:
                    raise OSError(errno.ENOENT, path)
                return self._handle(fi, file, writable=False)  # for fsync (pg_dump does)
            if file is not None:
                file.writable_handles += 1  # another handle on the same upload
                return self._handle(fi, file, writable=True)
            if path in self._done and not truncate:
                if fi.flags & os.O_APPEND:
                    raise _fail(errno.EPERM, _committed(path))
                # Opened for writing only to fsync it: PostgreSQL's tools open every file
                # O_RDWR to fsync it. A write through this handle fails (EPERM).
                return self._handle(fi, None, writable=False)
            self._done.pop(path, None)
            self._parent_exists(path)
            return self._handle(fi, self._new_file(path), writable=True)

    # -- data -------------------------------------------------------------------------
    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        if path == STATUS_PATH:
            return self.status_text().encode()[offset : offset + size]
        raise _fail(errno.EACCES, f"{path}: s3sink mount is write-only; read the object from S3")

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        file = handle.file if handle is not None and handle.writable else None
        if file is None:
            if handle is not None and path in self._done:
                raise _fail(errno.EPERM, _committed(path))
            raise OSError(errno.EBADF, path)
        with file.lock:
            if file.state != "writing":
                raise _fail(errno.EIO, f"{file.path}: write after the file was {file.state}")
            try:
                for chunk in file.seq.accept(offset, data):
                    self._append(file, chunk)
            except NonSequential as exc:
                self._abort(file, f"{file.path}: {exc}; its upload was aborted")
                raise OSError(errno.EINVAL, f"{file.path}: {exc}") from None
            except S3SinkError as exc:
                self._failed(file, str(exc), cause=exc)
                raise OSError(errno.EIO, str(exc)) from exc
        return len(data)

    def _append(self, file: _File, data: bytes | memoryview) -> None:
        if file.writer is not None:
            # Small writes (tar's 10 KiB records) are gathered first: one writer.write() per
            # COALESCE bytes costs less than one per request (~10 us each, measured).
            file.gathered += data
            if len(file.gathered) >= COALESCE:
                self._pass_gathered(file)
            return
        assert file.staging is not None  # noqa: S101  # no writer yet: staging
        take = min(len(data), self._part_size - len(file.staging))
        self._charge(file, take)
        file.staging += data[:take]
        if len(file.staging) == self._part_size:
            # A part's worth: the file gets a writer, and the staging buffer becomes its
            # first part buffer as it is (its charge with it).
            writer = self._hand_over(file)
            if take < len(data):
                writer.write(data[take:])

    def _pass_gathered(self, file: _File) -> None:
        if file.writer is not None and file.gathered:
            try:
                file.writer.write(file.gathered)
            finally:
                file.gathered = bytearray()

    def _hand_over(self, file: _File) -> S3MultipartWriter:
        """Give the file's staging buffer to a new writer: as its first part buffer, or, when
        the writer compresses (the staged bytes are not what is stored), through write();
        then the writer's own buffers hold the charge. Uncharged if that fails."""
        staged, file.staging = file.staging or bytearray(), None
        charged = True  # the staged bytes' charge is still the file's
        try:
            file.writer = writer = self._make_writer(self.key_of(file.path), False)
            if writer.compression is None:
                writer.adopt_first_part(staged)
                charged = False
            else:
                # Released first: write() may wait for budget that this charge would hold.
                self._uncharge(len(staged))
                charged = False
                writer.write(staged)
        finally:
            if charged:
                self._uncharge(len(staged))
        return writer

    def _charge(self, file: _File, n: int) -> None:
        budget = self._budget
        with budget.cond:
            waited = 0.0
            while not budget.fits(n):
                if n > budget.limit:
                    raise BudgetExhausted("a write larger than --max-memory")
                if budget.max_wait is not None and waited >= budget.max_wait:
                    raise BudgetExhausted(
                        f"no memory for {file.path} after {waited:.0f} s: --max-memory "
                        f"{format_size(budget.limit)} is held by the other files open now"
                    )
                budget.cond.wait(1.0)
                waited += 1.0
                if waited == WAIT_WARNING:
                    log.warning(
                        "%s: a write has waited %.0f s for memory (--max-memory %s is spent by "
                        "the files open now); it goes on once other files' parts are sent",
                        file.path,
                        waited,
                        format_size(budget.limit),
                    )
            budget.charge(n)

    def _uncharge(self, n: int) -> None:
        with self._budget.cond:
            self._budget.release(n)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        with self._lock:
            file = self._files.get(path)
            if length == 0 and file is not None and file.seq.size == 0:
                return 0  # O_TRUNC at create
            if length == 0 and path in self._done:
                del self._done[path]  # replaced by the open that follows (O_TRUNC)
                return 0
        raise _fail(errno.EPERM, f"{path}: s3sink mount cannot truncate (only to 0 at create)")

    # -- committing -------------------------------------------------------------------
    def flush(self, path: str, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        if handle is None or handle.file is None or not handle.writable:
            return 0
        file = handle.file
        # close(2) returns what this raises. Not for a file still empty: a shell redirect
        # opens, dup2()s to fd 1 and closes the first descriptor before anything is written
        # (that flush must not commit an empty object); an empty file commits at release.
        if file.writable_handles == 1 and file.state == "writing" and file.seq.size:
            self._commit(file)
        return 0

    def fsync(self, path: str, datasync: int, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        file = handle.file if handle is not None else None
        if file is None:
            record = self._done.get(path)
            if record is None and path not in self._dirs and path != STATUS_PATH:
                raise OSError(errno.EIO, f"{path} was not committed")
            return 0
        if file.state == "writing":
            self._commit(file)
        elif file.state != "committed":
            raise OSError(errno.EIO, f"{file.path} was {file.state}")
        return 0

    def release(self, path: str, fi: Any) -> int:
        with self._lock:
            handle = self._handles.pop(fi.fh, None)
            if handle is None or handle.file is None or not handle.writable:
                return 0
            file = handle.file
            file.writable_handles -= 1
            last = file.writable_handles == 0
        if last and file.state == "writing":
            # No flush came (it always does on close(2)); commit rather than lose it.
            # Logged and recorded; release cannot return an error to anyone.
            with contextlib.suppress(OSError):
                self._commit(file)
        return 0

    def _commit(self, file: _File) -> None:
        with file.lock:
            if file.state != "writing":
                if file.state == "committed":
                    return
                raise OSError(errno.EIO, f"{file.path} was {file.state}")
            key = self.key_of(file.path)
            try:
                for chunk in file.seq.finish():  # zeros held back, holes
                    self._append(file, chunk)
                self._pass_gathered(file)
                writer = file.writer or self._hand_over(file)  # none yet: one PutObject
                writer.close()
            except S3SinkError as exc:
                self._failed(file, f"{file.path}: {exc}", cause=exc)
                raise OSError(errno.EIO, str(exc)) from exc
            result = writer.result
            record = FileRecord(file.path, result.key, "committed", result.size, result.checksum)
            if file.moved_from is not None and result.key != key:
                try:
                    self._mover.move(result.key, key, record)
                except OSError as exc:
                    self._failed(file, f"{file.path}: committed as {result.key}, but {exc}")
                    raise
                record.key = key
            file.state = "committed"
            log.info(
                "committed %s (%s) to s3://%s/%s",
                file.path,
                format_size(record.size),
                self.bucket,
                record.key,
            )
            with self._lock:
                self._files.pop(file.path, None)
                self._done[file.path] = record
                self.records.append(record)

    def _failed(
        self,
        file: _File,
        message: str,
        state: State = "failed",
        cause: BaseException | None = None,
    ) -> None:
        """End ``file`` without publishing (its writer aborts), and record why. An upload the
        abort could not remove (the store was gone) is tried again at unmount."""
        log.error("%s", message)
        file.state = state
        staged, file.staging = file.staging, None
        if staged:
            self._uncharge(len(staged))
        file.gathered = bytearray()
        orphan = cause if isinstance(cause, AbortFailedError) else None
        if file.writer is not None:
            try:
                file.writer.abort()
            except AbortFailedError as exc:
                orphan = exc
            except S3SinkError as exc:
                message = f"{message}; {exc}"
                log.error("%s", message)  # noqa: TRY400  # the error says it all
        if orphan is not None and orphan.upload_id:
            with self._lock:
                self._orphans.append((orphan.key, orphan.upload_id))
        with self._lock:
            self._files.pop(file.path, None)
            self.records.append(
                FileRecord(file.path, self.key_of(file.path), state, file.seq.size, None, message)
            )
        if self._on_failure is not None:
            self._on_failure()

    def _abort(self, file: _File, message: str) -> None:
        self._failed(file, message, state="aborted")

    # -- names changing ---------------------------------------------------------------
    def rename(self, old: str, new: str) -> int:
        with self._lock:
            self._parent_exists(new)
            if new in self._dirs or new in self._files or STATUS_PATH in (old, new):
                raise _fail(
                    errno.EEXIST if new in self._files else errno.EPERM,
                    f"cannot rename {old} to {new}",
                )
            if old in self._dirs:
                if len(self.readdir(old)) > 2:
                    raise _fail(
                        errno.EXDEV,
                        f"{old}: s3sink mount renames empty directories "
                        "only (keys are not moved in bulk)",
                    )
                ours = self._mark(new)
                self._unmark(old)
                self._dirs.discard(old)
                self._dirs.add(new)
                if ours:
                    self._markers.add(new)
                return 0
            file = self._files.get(old)
        if file is not None:
            # Lock order: a file's lock before the tree's (as write and commit take them).
            with file.lock, self._lock:
                if self._files.get(old) is not file or new in self._files:
                    raise OSError(errno.EBUSY, f"{old} changed while being renamed")
                if file.writer is not None and file.moved_from is None:
                    file.moved_from = file.writer.key  # its upload has that key
                file.path = new
                self._files[new] = self._files.pop(old)
                return 0
        with self._lock:
            record = self._done.get(old)
        if record is None:
            raise OSError(errno.ENOENT, old)
        if record.size > MAX_COPY:
            raise _fail(
                errno.EXDEV,
                f"{old} is {format_size(record.size)}: a committed file "
                "above 5 GiB cannot be renamed by a single verified copy",
            )
        target = self.key_of(new)
        self._mover.move(record.key, target, record)  # raises OSError; nothing changed then
        with self._lock:
            self._done.pop(old, None)
            moved = FileRecord(new, target, "committed", record.size, record.checksum)
            self._done[new] = moved
            self.records.append(moved)
        return 0

    def unlink(self, path: str) -> int:
        with self._lock:
            file = self._files.get(path)
        if file is not None:
            with file.lock:
                self._abort(file, f"{path} was removed while being written; its upload was aborted")
            return 0
        if path in self._done:
            raise _fail(errno.EPERM, f"{path}: s3sink mount never deletes objects")
        raise OSError(errno.ENOENT, path)

    def link(self, target: str, source: str) -> int:
        raise _fail(errno.EPERM, f"{target}: s3sink mount has no hard links")

    def symlink(self, target: str, source: str) -> int:
        raise _fail(errno.EPERM, f"{target}: s3sink mount has no symbolic links")

    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise _fail(errno.EPERM, f"{path}: s3sink mount holds regular files only")

    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
        raise OSError(errno.ENOTSUP, path)

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        raise OSError(errno.ENOTSUP, path)

    def listxattr(self, path: str) -> list[str]:
        return []

    def removexattr(self, path: str, name: str) -> int:
        raise OSError(errno.ENOTSUP, path)

    # -- the end ----------------------------------------------------------------------
    def abort_open_files(self, reason: str) -> None:
        """Unmounting (or a signal): every file still being written is aborted."""
        with self._lock:
            files = list(self._files.values())
        for file in files:
            with file.lock:
                if file.state == "writing":
                    self._abort(
                        file,
                        f"{file.path} was still open at {reason}; its upload "
                        "was aborted and nothing was published",
                    )

    def destroy(self, path: str) -> None:
        self.abort_open_files("unmount")

    def abort_orphans(self) -> list[tuple[str, str]]:
        """Try once more to abort the uploads whose abort failed; returns those still left."""
        with self._lock:
            orphans, self._orphans = self._orphans, []
        left = [(k, u) for k, u in orphans if not self._mover.abort_upload(k, u)]
        for key, upload_id in orphans:
            if (key, upload_id) not in left:
                log.warning("upload %s of s3://%s/%s is aborted now", upload_id, self.bucket, key)
        return left

    def status_text(self) -> str:
        """One JSON line per file: those that ended, then those being written."""
        lines = [json.dumps(asdict(r)) for r in self.records]
        with self._lock:
            writing = list(self._files.values())
        lines += [
            json.dumps(asdict(FileRecord(f.path, self.key_of(f.path), "writing", f.seq.size)))
            for f in writing
        ]
        return "".join(line + "\n" for line in lines)

    def committed(self) -> list[FileRecord]:
        """The files committed (under their current names)."""
        with self._lock:
            return list(self._done.values())

    def failures(self) -> list[FileRecord]:
        """The files that failed or were aborted."""
        return [r for r in self.records if r.state in ("failed", "aborted")]
