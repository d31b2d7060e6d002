"""The mount's table of files: those being written and those committed (by path), every
file's record in the order it ended, and the uploads whose abort failed. One lock guards it
(the tree's lock; a file's own lock is always taken before it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .files import FileRecord, OpenFile

__all__ = ["FileTable"]


@dataclass
class FileTable:
    """Files by path, and what became of them."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    open: dict[str, OpenFile] = field(default_factory=dict)  # being written
    done: dict[str, FileRecord] = field(default_factory=dict)  # committed files, by path
    records: list[FileRecord] = field(default_factory=list)  # every file that ended, in order
    orphans: list[tuple[str, str]] = field(default_factory=list)  # (key, upload id) not aborted
    arriving: set[str] = field(default_factory=set)  # paths a committed file is moving to

    def status_text(self, key_of: Callable[[str], str]) -> str:
        """One JSON line per file: those that ended, then those being written."""
        lines = [json.dumps(asdict(r)) for r in self.records]
        with self.lock:
            writing = list(self.open.values())
        lines += [
            json.dumps(asdict(FileRecord(f.path, key_of(f.path), "writing", f.seq.size)))
            for f in writing
        ]
        return "".join(line + "\n" for line in lines)

    def holder(self, key: str) -> OpenFile | None:
        """The file, renamed while being written, whose upload still targets ``key`` (it is
        committed there, then moved): no other file may be published under ``key`` until
        then (call with the lock held)."""
        for file in self.open.values():
            if file.moved_from == key:
                return file
        return None

    def busy(self, path: str, key: str, file: OpenFile | None = None) -> str | None:
        """Why no file but ``file`` may be published at ``path`` (object ``key``) now, or None
        (call with the lock held)."""
        holder = self.holder(key)
        if holder is not None and holder is not file:
            return (
                f"{holder.path} was renamed from it while being written; its upload is "
                f"committed under {key} before it moves, so the name is free once "
                f"{holder.path} is closed"
            )
        if path in self.arriving:
            return "a committed file is being renamed to it"
        return None

    def replace(self, old: FileRecord, new: FileRecord) -> None:
        """``old``'s line in the status file becomes ``new`` (a committed file renamed: the
        old key is gone from the bucket; call with the lock held)."""
        for i, record in enumerate(self.records):
            if record is old:
                self.records[i] = new
                return
        self.records.append(new)

    def committed(self) -> list[FileRecord]:
        """The files committed (under their current names)."""
        with self.lock:
            return list(self.done.values())

    def failures(self) -> list[FileRecord]:
        """The files that failed or were aborted."""
        return [r for r in self.records if r.state in ("failed", "aborted")]
