"""Command lines the commands print for the user to run: the options that reach a store,
the command that creates a bucket, and the one that resumes a kept upload (printed by the
run that kept it, recorded in its journal, and printed again by ``uploads list``). Every
value is redacted before it is quoted, so that an endpoint's ``***`` reaches the shell
quoted (not as a glob); botocore never sends an endpoint URL's credentials, so the redacted
URL names the same store, and the same journal."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from .._upload.journal import ResumeCommand
from ._report import scrub

__all__ = [
    "connection_options",
    "feed_phrase",
    "make_bucket_command",
    "resume_argv",
    "resume_command_line",
    "working_directory",
]

_CONNECTION_FLAGS = ("--endpoint-url", "--region", "--profile")


def connection_options(
    *, endpoint_url: str | None, region: str | None, profile: str | None
) -> list[str]:
    """``--endpoint-url URL --region R --profile P``, for those given (redacted, unquoted)."""
    given = dict(zip(_CONNECTION_FLAGS, (endpoint_url, region, profile), strict=True))
    return [part for flag, value in given.items() if value for part in (flag, scrub(value))]


def make_bucket_command(bucket: str, connection: Sequence[str]) -> str:
    """The AWS CLI's command that creates ``bucket`` on the same store (it takes the same
    connection options); s3sink itself does not create buckets."""
    return shlex.join(["aws", "s3", "mb", f"s3://{bucket}", *connection])


def resume_argv(argv: Sequence[str], uri: str) -> list[str]:
    """The command line ``argv`` (as given, without the program) with ``--resume``: run
    again with the same input, it resumes the upload this one kept."""
    args = list(argv) or [uri]
    end = _options_end(args)
    if "--resume" not in args[:end]:
        args.insert(end, "--resume")
    return ["s3sink", *map(scrub, args)]


def resume_command_line(
    command: ResumeCommand, upload_id: str, connection: Sequence[str], *, here: str | None
) -> str:
    """A recorded resume command as ``uploads list`` prints it: with ``--upload-id`` (other
    uploads of the key may be pending), and the options of ``connection`` (the listing's,
    which reached the store) that it does not give itself: the run that kept the upload may
    have had its endpoint from the environment. Run elsewhere than ``here`` (the listing's
    directory), it starts with ``cd DIR &&``: its relative paths are DIR's."""
    args = list(command.argv)
    end = _options_end(args)
    given = args[:end]
    extra = [] if _has(given, "--upload-id") else ["--upload-id", upload_id]
    pairs = zip(connection[::2], connection[1::2], strict=True)
    extra += [part for flag, value in pairs if not _has(given, flag) for part in (flag, value)]
    line = shlex.join([*args[:end], *extra, *args[end:]])
    if command.cwd is not None and command.cwd != here:
        return f"cd {shlex.quote(scrub(command.cwd))} && {line}"
    return line


def working_directory() -> str | None:
    """The current directory (None when it was removed under us)."""
    try:
        return os.getcwd()
    except OSError:
        return None


def feed_phrase(feed: str | None) -> str:
    """What a resume command must be given again, as the text around it says it."""
    if feed == "stdin":
        return " with the same stream on stdin"
    if feed == "fifo":
        return " and write the same stream into the FIFO"
    return ""


def _options_end(args: Sequence[str]) -> int:
    """Where s3sink's own arguments end: at exec mode's ``--``."""
    return args.index("--") if "--" in args else len(args)


def _has(args: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(f"{flag}=") for a in args)
