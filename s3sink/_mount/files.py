"""What the mount knows of a file: an open file being written (:class:`OpenFile`), a handle
on it, and the record each file leaves in the status file (:class:`FileRecord`)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

from .._writer.writer import S3MultipartWriter
from .sequencer import Sequencer

__all__ = ["FileRecord", "FileState", "Handle", "OpenFile", "committed_message", "fail"]

log = logging.getLogger("s3sink")

FileState = Literal["writing", "committed", "failed", "aborted"]


@dataclass
class FileRecord:
    """One file's line in the status file. ``size`` is what the program wrote (and what
    ``stat`` shows); ``stored_size`` is the object's size once committed, smaller with
    ``--compress`` (None until then)."""

    path: str
    key: str
    state: FileState
    size: int = 0
    checksum: str | None = None
    error: str | None = None
    stored_size: int | None = None

    @property
    def object_size(self) -> int:
        """The bytes the object holds (a copy's limit is about these)."""
        return self.size if self.stored_size is None else self.stored_size


def committed_message(path: str) -> str:
    return (
        f"{path} is committed: it cannot be changed or appended to (open it with O_TRUNC "
        "to replace it)"
    )


def fail(code: int, message: str) -> OSError:
    log.error("%s", message)
    return OSError(code, message)


@dataclass
class OpenFile:
    """A file being written."""

    path: str
    writable_handles: int = 0
    seq: Sequencer = field(default_factory=Sequencer)  # its writes in order
    staging: bytearray | None = field(default_factory=bytearray)
    gathered: bytearray = field(default_factory=bytearray)  # written, not yet passed on
    writer: S3MultipartWriter | None = None
    state: FileState = "writing"
    moved_from: str | None = None  # renamed after its upload began: copy at commit
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Handle:
    file: OpenFile | None  # None: the status file or a committed file (read-only handles)
    writable: bool
