"""The storage options of ``s3sink://`` (:class:`StorageOptions`): checked once, when the
filesystem is made, so a bad ``part_size`` in a configuration file fails on the client that
builds the job, not in the last partition's first write on a worker.

Every keyword of :class:`~s3sink.S3MultipartWriter` is a storage option except those about
one file or one process (:data:`PER_FILE`): the list is read from the writer's signature, so
an option the writer gains is a storage option the day it lands. Sizes may be strings, as in
the command (``"16MiB"``); ``no_overwrite`` is the command's ``--no-overwrite``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._read.config import DEFAULT_READ_CONCURRENCY, ReadConfig
from .._sizes import parse_size
from .._store.checksums import DEFAULT_ALGORITHM
from .._writer.checks import check_connection_options
from .._writer.config import WriterConfig
from .._writer.writer import DEFAULT_CONCURRENCY, S3MultipartWriter
from ..errors import UsageError

__all__ = ["PER_FILE", "StorageOptions", "writer_keywords"]

#: Writer keywords that name one file, one upload or one process's objects: never shared by
#: every file of a filesystem (the filesystem passes its own client).
PER_FILE = frozenset(
    {"client", "transport", "memory_budget", "upload_id", "resume", "expected_size"}
)
#: Options that take sizes (bytes, or strings such as "16MiB"); rate_limit is bytes/s.
SIZES = frozenset({"part_size", "max_memory", "rate_limit"})
CONNECTION = ("endpoint_url", "region", "profile")
#: Of ReadConfig's fields, those a filesystem's reads share (not one read's version).
READ_FIELDS = frozenset(
    {"part_size", "concurrency", "max_memory", "require_checksum", "max_attempts"}
)


def writer_keywords() -> dict[str, inspect.Parameter]:
    """The writer's keyword arguments that are storage options."""
    parameters = inspect.signature(S3MultipartWriter.__init__).parameters
    return {
        name: p
        for name, p in parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in PER_FILE
    }


def _sizes(options: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for name in SIZES & out.keys():
        if isinstance(out[name], str):
            out[name] = parse_size(out[name])
    return out


def _check_writer(options: Mapping[str, Any]) -> None:
    """What the writer would refuse at its construction, refused now: the options through
    WriterConfig's checks (with the writer's defaults for the rest) on a stand-in object."""
    accepted = inspect.signature(WriterConfig.from_options).parameters
    writer = inspect.signature(S3MultipartWriter.__init__).parameters
    defaults = {
        n: p.default
        for n, p in writer.items()
        if n in accepted and p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    given = {n: v for n, v in options.items() if n in accepted}
    WriterConfig.from_options("s3sink-options-check", "check", **{**defaults, **given})


@dataclass(frozen=True)
class StorageOptions:
    """The storage options, checked and resolved: the connection, the writer's keyword
    arguments (sizes in bytes, ``no_overwrite`` as ``if_none_match="*"``) and the reads'."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    writer: Mapping[str, Any] = field(default_factory=dict)
    read_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> StorageOptions:
        """Check ``options`` (UsageError or TypeError, naming the option) and resolve them."""
        rest = dict(options)
        connection = {name: rest.pop(name, None) for name in CONNECTION}
        for name, value in connection.items():
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        check_connection_options(
            endpoint_url=connection["endpoint_url"],
            region=connection["region"],
            profile=connection["profile"],
            names=CONNECTION,
        )
        read_options = _read_options(rest.pop("read_options", None))
        no_overwrite = rest.pop("no_overwrite", False)
        if not isinstance(no_overwrite, bool):
            raise TypeError(f"no_overwrite must be a bool, not {type(no_overwrite).__name__}")
        writer = cls._writer_options(rest)
        if no_overwrite:
            if writer.get("if_none_match") not in (None, "*"):
                raise UsageError("no_overwrite cannot be combined with if_none_match")
            writer["if_none_match"] = "*"
        _check_writer(writer)
        return cls(
            endpoint_url=connection["endpoint_url"],
            region=connection["region"],
            profile=connection["profile"],
            writer=writer,
            read_options=read_options,
        )

    @staticmethod
    def _writer_options(options: Mapping[str, Any]) -> dict[str, Any]:
        known = writer_keywords()
        unknown = sorted(options.keys() - known.keys())
        if unknown:
            per_file = [n for n in unknown if n in PER_FILE]
            why = f" ({', '.join(per_file)}: one file's, not a filesystem's)" if per_file else ""
            raise UsageError(
                f"unknown storage option(s) for s3sink://: {', '.join(unknown)}{why}; "
                f"it takes {', '.join((*CONNECTION, 'no_overwrite', 'read_options', *known))}"
            )
        return _sizes(options)

    def writer_for(self, *, exclusive: bool = False, **overrides: Any) -> dict[str, Any]:
        """The keyword arguments of one file's writer: the storage options, then what this
        call gives (``fs.open(path, "wb", part_size=...)``); ``exclusive``: If-None-Match."""
        options = {**self.writer, **self._writer_options(overrides)}
        if exclusive:
            options["if_none_match"] = "*"
        return options

    @property
    def checksum(self) -> str | None:
        """The writer's checksum mode, which the write client follows."""
        value = self.writer.get("checksum", DEFAULT_ALGORITHM)
        return value if isinstance(value, str) else None

    def client_concurrency(self, purpose: str) -> int:
        """Connections the client keeps: a writer's parts in flight, or a reader's ranges."""
        if purpose == "write":
            return int(self.writer.get("concurrency", DEFAULT_CONCURRENCY))
        return int(self.read_options.get("concurrency", DEFAULT_READ_CONCURRENCY))


def _read_options(given: object) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise TypeError(f"read_options must be a mapping, not {type(given).__name__}")
    unknown = sorted(set(given) - READ_FIELDS)
    if unknown:
        raise UsageError(
            f"unknown read_options: {', '.join(unknown)}; they are {', '.join(sorted(READ_FIELDS))}"
        )
    options = _sizes(given)
    ReadConfig(**options)  # its own checks, now
    return options
