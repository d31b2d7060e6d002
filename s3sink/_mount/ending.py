"""How a mounted file ends: committed (its writer closes, a renamed file's object is moved
to its new name), or failed or aborted (its writer aborts; an upload that could not be
aborted is tried again at unmount). Each ending leaves a :class:`FileRecord`."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable

from .._sizes import format_size
from .._writer.writer import S3MultipartWriter
from ..errors import AbortFailedError, S3SinkError, UploadCancelled
from .files import FileRecord, FileState, OpenFile
from .mover import ObjectMover
from .retention import FileRetention
from .staging import Staging, Stopped
from .table import FileTable

__all__ = ["Endings"]

log = logging.getLogger("s3sink")


class Endings:
    """Commits and failures of the files in ``table``; ``on_failure`` is called at each
    failed or aborted file (``--exit-on-error`` unmounts there)."""

    def __init__(
        self,
        table: FileTable,
        staging: Staging,
        mover: ObjectMover,
        key_of: Callable[[str], str],
        *,
        bucket: str,
        on_failure: Callable[[], None] | None,
        retention: FileRetention | None = None,
    ) -> None:
        self._table = table
        self._retention = retention
        self._staging = staging
        self._mover = mover
        self.key_of = key_of
        self.bucket = bucket
        self._on_failure = on_failure
        self._stopped: str | None = None  # why, once every open file is aborted at once

    def commit(self, file: OpenFile) -> None:
        with file.lock:
            if file.state != "writing":
                if file.state == "committed":
                    return
                raise OSError(errno.EIO, f"{file.path} was {file.state}")
            key = self.key_of(file.path)
            try:
                for chunk in file.seq.finish():  # zeros held back, holes
                    self._staging.append(file, chunk)
                self._staging.pass_gathered(file)
                writer = file.writer or self._staging.hand_over(file)  # none yet: one PutObject
                writer.close()
            except S3SinkError as exc:
                self.failed(file, f"{file.path}: {exc}", cause=exc)
                raise OSError(errno.EIO, str(exc)) from exc
            if self._retention is not None:
                self._retention.extend(writer, self._mover)
            result = writer.result
            written = result.size if result.source_size is None else result.source_size
            record = FileRecord(
                file.path, result.key, "committed", written, result.checksum, None, result.size
            )
            if file.moved_from is not None and result.key != key:
                try:
                    self._mover.move(result.key, key, record)
                except OSError as exc:
                    message = f"{file.path}: committed as {result.key}, but {exc}"
                    self.failed(file, message, key=result.key)  # the object is there
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
            with self._table.lock:
                self._table.open.pop(file.path, None)
                self._table.done[file.path] = record
                self._table.records.append(record)

    def failed(
        self,
        file: OpenFile,
        message: str,
        state: FileState = "failed",
        cause: BaseException | None = None,
        key: str | None = None,
    ) -> None:
        """End ``file`` without publishing (its writer aborts), and record why (``key``: where
        its object is, if it was published before the failure). An upload the abort could
        not remove (the store was gone) is tried again at unmount. A file cancelled by
        :meth:`stop_open` is recorded as aborted, with its reason."""
        if self._stopped is not None and isinstance(cause, (UploadCancelled, Stopped)):
            state, message = "aborted", self._open_at(file, self._stopped)
        log.error("%s", message)
        file.state = state
        staged, file.staging = file.staging, None
        if staged:
            self._staging.uncharge(len(staged))
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
            with self._table.lock:
                self._table.orphans.append((orphan.key, orphan.upload_id))
        with self._table.lock:
            self._table.open.pop(file.path, None)
            self._table.records.append(
                FileRecord(
                    file.path, key or self.key_of(file.path), state, file.seq.size, None, message
                )
            )
        if self._on_failure is not None:
            self._on_failure()

    def refused(self, path: str, error: OSError) -> None:
        """A file the mount refused to create (it could not have been stored): recorded as
        failed, as a file whose commit failed."""
        with self._table.lock:
            record = FileRecord(path, self.key_of(path), "failed", 0, None, error.strerror)
            self._table.records.append(record)
        if self._on_failure is not None:
            self._on_failure()

    def abort(self, file: OpenFile, message: str) -> None:
        self.failed(file, message, state="aborted")

    @staticmethod
    def _open_at(file: OpenFile, reason: str) -> str:
        return (
            f"{file.path} was still open at {reason}; its upload was aborted and nothing "
            "was published"
        )

    def abort_open(self, reason: str) -> None:
        """Unmounting (or a signal): every file still being written is aborted."""
        with self._table.lock:
            files = list(self._table.open.values())
        for file in files:
            with file.lock:
                if file.state == "writing":
                    self.abort(file, self._open_at(file, reason))

    def stop_open(self, reason: str) -> None:
        """Stop at once (a second signal): every file still open is aborted now, even one
        whose write waits for memory or whose commit still sends its parts: its writer is
        cancelled, which wakes that request; it fails (EIO) and records the file as aborted.
        A commit whose final request (Complete or PutObject) was sent is let finish: that
        object is whole. No file gets memory or a writer after this."""
        self._stopped = reason
        self._staging.stop(reason)
        with self._table.lock:
            files = list(self._table.open.values())
        busy: list[S3MultipartWriter] = []
        for file in files:
            if file.lock.acquire(blocking=False):
                try:
                    if file.state == "writing":
                        self.abort(file, self._open_at(file, reason))
                finally:
                    file.lock.release()
            elif file.writer is not None:  # a request holds the file: cancel under it
                busy.append(file.writer)
        # Each abort waits for its writer's request: all at once, not one after another.
        threads = [threading.Thread(target=self._cancel, args=(w,)) for w in busy]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @staticmethod
    def _cancel(writer: S3MultipartWriter) -> None:
        try:
            writer.abort()  # the request under way records the file (failed() above)
        except S3SinkError as exc:
            log.error("aborting s3://%s/%s: %s", writer.bucket, writer.key, exc)  # noqa: TRY400

    def abort_orphans(self) -> list[tuple[str, str]]:
        """Try once more to abort the uploads whose abort failed; returns those still left."""
        with self._table.lock:
            orphans, self._table.orphans = self._table.orphans, []
        left = [(k, u) for k, u in orphans if not self._mover.abort_upload(k, u)]
        for key, upload_id in orphans:
            if (key, upload_id) not in left:
                log.warning("upload %s of s3://%s/%s is aborted now", upload_id, self.bucket, key)
        return left
