"""The exit-code table (docs/semantics.md#exit-codes): s3sink's own outcomes and a command's
outcome never share a code, so a cron wrapper can tell "pg_dump exited 3" from "the abort
failed" (3) without ``--json`` — xargs(1)'s convention for the command's side."""

from __future__ import annotations

import signal
from typing import Any, cast

import pytest

from s3sink._exec.producer import Command, CommandError, ProducerFailed
from s3sink._exec.signals import Interrupted
from s3sink.cli._report import NothingToUpload, classify
from s3sink.errors import AbortFailedError, PreconditionFailed, UploadError, UsageError

COMMAND_CODES = {123, 125, 126, 127}


def _command() -> Command:
    return Command(cast("Any", None), ["pg_dump", "-Fc", "mydb"])


def _code(exc: BaseException, **kwargs: Any) -> tuple[int, str]:
    return classify(exc, None, precondition="the key exists", **kwargs)


@pytest.mark.parametrize("status", [1, 2, 3, 4, 5, 123, 125, 126, 127, 130, 255])
def test_a_failed_command_is_123_whatever_its_status(status: int) -> None:
    """Its own status (3 reads as "the abort failed", 130 as "interrupted") never passes
    through; it is in the message instead."""
    code, message = _code(ProducerFailed(_command(), status))
    assert code == 123
    assert f"pg_dump exited with status {status}" in message


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV, signal.SIGTERM])
def test_a_command_killed_by_a_signal_is_125(signum: int) -> None:
    code, message = _code(ProducerFailed(_command(), -signum))
    assert code == 125
    assert f"pg_dump was killed by {signal.Signals(signum).name}" in message


def test_a_command_that_cannot_run_is_126_or_127() -> None:
    assert _code(CommandError("command not found: x", 127))[0] == 127
    assert _code(CommandError("command not executable: x", 126))[0] == 126


@pytest.mark.parametrize("killed", [False, True])
def test_interrupted_is_128_plus_n_even_when_the_command_failed_of_it(killed: bool) -> None:
    """Ctrl-C: the command (which got the signal too) may exit 1 or die of it; the outcome is
    s3sink's own, 130."""
    code, message = _code(Interrupted(signal.SIGINT), killed=killed)
    assert code == 130
    assert message.startswith("interrupted by SIGINT")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UploadError("a part failed", bucket="b", key="k"), 1),
        (NothingToUpload("nothing"), 1),
        (UsageError("bad"), 2),
        (AbortFailedError("abort failed", bucket="b", key="k", upload_id="u"), 3),
        (PreconditionFailed("exists", bucket="b", key="k"), 4),
        (Interrupted(signal.SIGTERM), 143),
        (Interrupted(signal.SIGHUP), 129),
        (OSError(5, "Input/output error"), 1),
    ],
)
def test_s3sinks_own_outcomes_never_use_a_command_code(exc: BaseException, code: int) -> None:
    assert _code(exc)[0] == code
    assert code not in COMMAND_CODES
