"""What the subcommands that work on a bucket (``uploads``, ``doctor``) share: the client,
and errors as one line and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import typer

from .._location import S3Location, parse_location
from .._writer.checks import check_connection_options
from ..errors import S3SinkError, UploadError, UsageError
from ._report import (
    EXIT_FAILED,
    EXIT_USAGE,
    command_logging,
    describe_upload_error,
    report_failure,
)

if TYPE_CHECKING:
    from .._store.client import S3Client

__all__ = ["run_on_bucket"]


def run_on_bucket(
    uri: str,
    work: Callable[[S3Location, S3Client], int],
    *,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    debug: bool,
    max_attempts: int | None = None,
    concurrency: int = 1,
) -> NoReturn:
    """Parse ``s3://BUCKET[/PREFIX]``, build the client, run ``work``; exit with its code, or
    with 2 (usage) or 1 (failed) and one error line. ``concurrency``: the requests ``work``
    may have in flight at once (the client's connection pool)."""
    with command_logging(debug):
        try:
            location = parse_location(uri, allow_empty_key=True)
            check_connection_options(endpoint_url=endpoint_url, region=region, profile=profile)
            from .._store.client import build_client  # noqa: PLC0415  # botocore: slow import

            client = build_client(
                concurrency=concurrency,
                endpoint_url=endpoint_url,
                region=region,
                profile=profile,
                max_attempts=max_attempts,
            )
            code = work(location, client)
        except UsageError as exc:
            report_failure(exc, str(exc), debug=debug)
            code = EXIT_USAGE
        except UploadError as exc:
            report_failure(exc, describe_upload_error(exc), debug=debug)
            code = EXIT_FAILED
        except S3SinkError as exc:
            report_failure(exc, str(exc), debug=debug)
            code = EXIT_FAILED
    raise typer.Exit(code)
