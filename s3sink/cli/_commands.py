"""Command lines the commands print for the user to run: the options that reach a store,
and the command that creates a bucket. Every value is redacted before it is quoted, so that
an endpoint's ``***`` reaches the shell quoted (not as a glob); botocore never sends an
endpoint URL's credentials, so the redacted URL names the same store."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ._report import scrub

__all__ = ["connection_options", "make_bucket_command"]


def connection_options(
    *, endpoint_url: str | None, region: str | None, profile: str | None
) -> list[str]:
    """``--endpoint-url URL --region R --profile P``, for those given (redacted, unquoted)."""
    given = {"--endpoint-url": endpoint_url, "--region": region, "--profile": profile}
    return [part for flag, value in given.items() if value for part in (flag, scrub(value))]


def make_bucket_command(bucket: str, connection: Sequence[str]) -> str:
    """The AWS CLI's command that creates ``bucket`` on the same store (it takes the same
    connection options); s3sink itself does not create buckets."""
    return shlex.join(["aws", "s3", "mb", f"s3://{bucket}", *connection])
