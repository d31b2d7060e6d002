"""``s3sink doctor s3://BUCKET[/PREFIX]``: what this store checks, and the settings for it.

The probe (``s3sink._doctor.probe``) writes below a temporary prefix and removes everything it made,
also on Ctrl-C or SIGTERM (signals become an exception here, so its cleanup runs). stdout gets
the table, or with ``--json`` one object; progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .._doctor.probe import TRAILER, ProbeFailed, Report, probe
from .._exec.signals import Interrupted, SignalGuard
from ._app import DoctorCommand
from ._bucket import run_on_bucket
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    EndpointOption,
    JsonOption,
    ProfileOption,
    RegionOption,
)
from ._report import EXIT_FAILED, EXIT_OK, error_line

if TYPE_CHECKING:
    from .._location import S3Location
    from .._store.client import S3Client

__all__ = ["doctor_app", "render"]

# One try and one retry: a probe the store answers with 500 must not back off for a minute.
PROBE_ATTEMPTS = 2


doctor_app = typer.Typer(
    name="doctor",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)


def render(report: Report) -> str:
    """The report as a table, then the recommended settings and any warnings."""
    rows = [("CAPABILITY", "VERDICT", "WHAT THE STORE DID")]
    rows += [(f.name, f.verdict, f.detail) for f in report.findings]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}".rstrip() for a, b, c in rows]
    flags = " ".join(report.recommended) or "the defaults"
    lines.append("")
    lines.append(f"recommended for this store: {flags}")
    lines.append(f"checksums in aws-chunked trailers: {trailer_line(report)}")
    lines += [f"warning: {w}" for w in report.facts.get("warnings", [])]
    lines += [f"cleanup failed: {e}" for e in report.cleanup_errors]
    return "\n".join(lines) + "\n"


def trailer_line(report: Report) -> str:
    """Whether the store checks a checksum sent in an aws-chunked trailer (boto3's and the AWS
    CLI's default over HTTPS; parts streamed while read would need it), and why."""
    if report.trailers:
        return "validated (the store refused a wrong trailing checksum)"
    verdict = report.capabilities().get(TRAILER)
    why = {
        "ignored": "the store accepted a wrong trailing checksum: "
        "clients that send one (boto3 over HTTPS) are not protected here",
        "unsupported": "the store does not take aws-chunked trailers",
    }.get(str(verdict), "the probe could not tell")
    return f"not validated ({why})"


def as_json(report: Report) -> str:
    """The report as one JSON object (the documented fields first)."""
    return json.dumps(
        {
            "endpoint": report.endpoint,
            "bucket": report.bucket,
            "capabilities": report.capabilities(),
            "recommended": list(report.recommended),
            "stream_parts_with_trailers": report.trailers,
            "prefix": report.prefix,
            "details": {f.name: f.detail for f in report.findings},
            "facts": report.facts,
            "cleanup_errors": list(report.cleanup_errors),
        }
    )


def _run(location: S3Location, client: S3Client, *, json_output: bool, quiet: bool) -> int:
    def step(title: str) -> None:
        if not quiet:
            sys.stderr.write(f"s3sink doctor: {title}\n")
            sys.stderr.flush()

    with SignalGuard():
        try:
            report = probe(client, location.bucket, location.key, on_step=step)
        except ProbeFailed as exc:
            error_line(f"the probe could not run: {exc}")
            return EXIT_FAILED
        except (Interrupted, KeyboardInterrupt) as exc:
            code = exc.exit_code if isinstance(exc, Interrupted) else 130
            notes = getattr(exc, "__notes__", [])
            error_line(
                "interrupted; " + ("; ".join(notes) or "everything the probe made was removed")
            )
            return code
    sys.stdout.write(as_json(report) + "\n" if json_output else render(report))
    sys.stdout.flush()
    return EXIT_FAILED if report.cleanup_errors else EXIT_OK


@doctor_app.command(cls=DoctorCommand)
def doctor(  # noqa: PLR0917  # typer maps parameters to options
    uri: Annotated[
        str,
        typer.Argument(
            metavar="s3://BUCKET[/PREFIX]",
            show_default=False,
            help="Where the probe may write (below a temporary prefix it removes).",
        ),
    ],
    json_output: JsonOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")
    ] = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Probe what the store checks (checksums, Content-MD5, signatures, conditions, part
    rules, listings) with a few small requests, and print the settings s3sink needs there.

    Exit 0 when the probe ran, 1 when it could not (the reason is printed)."""
    run_on_bucket(
        uri,
        lambda location, client: _run(location, client, json_output=json_output, quiet=quiet),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        debug=debug,
        max_attempts=PROBE_ATTEMPTS,
    )
