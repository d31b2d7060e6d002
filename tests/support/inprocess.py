"""The s3sink command run in this process through typer's CliRunner (the ``aws_env`` fixture
gives it a safe environment): its apps, and the error lines of a result."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from s3sink import cli


def invoke(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
    """Run the sink command in-process; exceptions other than SystemExit propagate."""
    return CliRunner().invoke(cli.app, list(args), input=stdin, env=env, catch_exceptions=False)


def invoke_uploads(*args: str) -> Result:
    """Run ``s3sink uploads ...`` in-process."""
    return CliRunner().invoke(cli.uploads_app, list(args), catch_exceptions=False)


def invoke_lifecycle(endpoint: str, *args: str) -> Result:
    """Run ``s3sink uploads lifecycle ARGS --endpoint-url ENDPOINT`` in-process."""
    return CliRunner().invoke(
        cli.uploads_app,
        ["lifecycle", *args, "--endpoint-url", endpoint],
        catch_exceptions=False,
    )


def error_lines(result: Result) -> list[str]:
    """The ``s3sink: error:`` lines on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("s3sink: error: ")]
