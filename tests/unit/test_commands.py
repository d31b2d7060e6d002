"""Command lines printed for the user to run (cli._commands): the resume command as the run
that kept an upload prints it and as ``uploads list`` prints it from the journal."""

from __future__ import annotations

import shlex

import pytest

from s3sink._upload.journal import ResumeCommand
from s3sink.cli._commands import connection_options, resume_argv, resume_command_line

UPLOAD = "2abc"


def test_resume_argv_adds_resume_before_the_command_and_redacts() -> None:
    argv = ["s3://b/k", "--endpoint-url", "http://u:pw@h:9", "--resumable", "--", "cat", "f"]
    assert resume_argv(argv, "s3://b/k") == [
        "s3sink", "s3://b/k", "--endpoint-url", "http://***@h:9", "--resumable", "--resume",
        "--", "cat", "f",
    ]  # fmt: skip
    assert resume_argv(["s3://b/k", "--resume"], "s3://b/k").count("--resume") == 1


@pytest.mark.parametrize(
    ("recorded", "connection", "printed"),
    [
        (  # the listing's endpoint is added, and the upload id, before exec mode's --
            ["s3sink", "s3://b/k", "--resumable", "--resume", "--", "pg_dump", "--resume"],
            ["--endpoint-url", "http://h:9"],
            "s3sink s3://b/k --resumable --resume --upload-id 2abc --endpoint-url http://h:9"
            " -- pg_dump --resume",
        ),
        (  # the run's own endpoint wins (spelled either way); its upload id too
            ["s3sink", "s3://b/k", "--endpoint-url=http://a:1", "--upload-id", "2abc"],
            ["--endpoint-url", "http://h:9", "--profile", "p"],
            "s3sink s3://b/k --endpoint-url=http://a:1 --upload-id 2abc --profile p",
        ),
        (  # redacted values reach the shell quoted
            ["s3sink", "s3://b/k", "--resume"],
            connection_options(endpoint_url="http://u:pw@h:9", region=None, profile=None),
            "s3sink s3://b/k --resume --upload-id 2abc --endpoint-url 'http://***@h:9'",
        ),
    ],
)
def test_uploads_list_prints_the_recorded_command_with_what_it_needs(
    recorded: list[str], connection: list[str], printed: str
) -> None:
    line = resume_command_line(ResumeCommand(tuple(recorded)), UPLOAD, connection, here="/x")
    assert line == printed
    assert shlex.split(line)[0] == "s3sink"


@pytest.mark.parametrize(
    ("here", "printed"),
    [
        ("/srv/backups", "s3sink s3://b/k --file ./db.dump --resume --upload-id 2abc"),
        ("/root", "cd /srv/backups && s3sink s3://b/k --file ./db.dump --resume --upload-id 2abc"),
        (None, "cd /srv/backups && s3sink s3://b/k --file ./db.dump --resume --upload-id 2abc"),
    ],
)
def test_a_command_listed_from_another_directory_goes_back_to_its_own(
    here: str | None, printed: str
) -> None:
    """``--file ./db.dump`` means the file in the directory the upload ran in: listed from
    anywhere else, the command starts with ``cd`` there."""
    recorded = ResumeCommand(
        ("s3sink", "s3://b/k", "--file", "./db.dump", "--resume"), None, "/srv/backups"
    )
    assert resume_command_line(recorded, UPLOAD, [], here=here) == printed


def test_a_directory_is_quoted_and_an_old_journal_has_none() -> None:
    recorded = ResumeCommand(("s3sink", "s3://b/k", "--resume"), "stdin", "/srv/my backups")
    line = resume_command_line(recorded, UPLOAD, [], here="/")
    assert line.startswith("cd '/srv/my backups' && s3sink ")
    old = ResumeCommand(("s3sink", "s3://b/k", "--resume"), "stdin")  # no cwd recorded
    assert resume_command_line(old, UPLOAD, [], here="/").startswith("s3sink ")
