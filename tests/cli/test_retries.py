"""Retries that show: each one is one stderr line as it happens, and a store that went away
after it answered is still retried. (An endpoint that was never reached fails at once instead
of after ten silent tries: tests/wire/test_wire.py.)"""

from __future__ import annotations

from typing import Any

from tests.support.clirun import error_lines, pattern, run_cli
from tests.support.faultproxy import FaultProxy


def test_every_retry_is_one_line_as_it_happens(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A part answered 503 twice: two "retrying UploadPart 2 (attempt N of 10)" lines
    naming the reason, then success."""
    fault_proxy.respond(503, "SlowDown", method="PUT", path=r"partNumber=2(&|$)", times=2)
    data = pattern(12 * 1024 * 1024)
    args = [f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "5MiB"]
    result = run_cli(args, env, data=data)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.decode().splitlines() if "retrying" in line]
    assert lines == [
        "s3sink: warning: retrying UploadPart 2 (attempt 2 of 10): SlowDown 503",
        "s3sink: warning: retrying UploadPart 2 (attempt 3 of 10): SlowDown 503",
    ]
    assert s3_client.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_a_store_that_goes_away_is_still_retried(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """Once the store has answered, a refused connection is a store gone away: retried
    (and each retry said), as before."""
    args = [f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url,
            "--part-size", "5MiB", "--max-attempts", "3"]  # fmt: skip
    fault_proxy.reset_after(0, method="PUT", path=r"partNumber=1(&|$)", times=2)
    result = run_cli(args, env, data=pattern(12 * 1024 * 1024))
    assert result.returncode == 0, result.stderr
    retried = [line for line in result.stderr.decode().splitlines() if "retrying" in line]
    assert len(retried) == 2
    assert all("UploadPart 1" in line for line in retried)
    assert error_lines(result.stderr) == []
