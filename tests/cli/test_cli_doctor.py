"""``s3sink doctor`` as a real process against moto: the table, ``--json``, exit codes, and
nothing left behind, also when it is interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import Any

from tests.support.clirun import S3SINK, TIMEOUT, error_lines, run_cli


def leftovers(client: Any, bucket: str) -> tuple[list[str], list[str]]:
    """Every object key and every pending upload's key in ``bucket``."""
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return objects, uploads


def test_doctor_json_reports_moto_and_cleans_up(
    env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    """--json prints one object with the documented fields; exit 0; nothing left behind."""
    endpoint = s3_client.meta.endpoint_url
    result = run_cli(
        ["doctor", f"s3://{bucket}/some/prefix", "--json", "--endpoint-url", endpoint], env
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"endpoint", "bucket", "capabilities", "recommended"} <= report.keys()
    assert report["bucket"] == bucket
    assert report["endpoint"] == endpoint
    caps = report["capabilities"]
    assert caps["upload_part.checksum.crc64nvme"] == "ignored"  # moto never checks
    assert caps["complete.if_none_match"] == "validated"
    assert caps["complete.if_match"] == "ignored"
    assert caps["min_part_size"] == "validated"
    assert set(caps.values()) <= {"validated", "supported", "ignored", "unsupported", "error"}
    # "validated" only where a wrong value was refused; operations are "supported".
    assert caps["list_parts"] == "supported"
    assert report["recommended"] == ["--checksum", "off"]
    assert caps["upload_part.trailer"] == "ignored"  # moto takes a wrong trailing checksum
    assert report["stream_parts_with_trailers"] is False
    assert leftovers(s3_client, bucket) == ([], [])


def test_doctor_table_names_every_capability_and_the_settings(
    env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    """Without --json: one row per capability, then the recommended settings."""
    endpoint = s3_client.meta.endpoint_url
    result = run_cli(["doctor", f"s3://{bucket}", "-q", "--endpoint-url", endpoint], env)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert text.splitlines()[0].split() == ["CAPABILITY", "VERDICT", "WHAT", "THE", "STORE", "DID"]
    assert "sigv4_payload_hash" in text
    assert "recommended for this store: --checksum off" in text
    assert (
        "checksums in aws-chunked trailers: not validated "
        "(the store accepted a wrong trailing checksum: "
        "clients that send one (boto3 over HTTPS) are not protected here)\n"
    ) in text
    assert result.stderr == b""  # -q: no progress lines


def test_doctor_on_a_missing_bucket_exits_1_with_the_reason(
    env: dict[str, str], s3_client: Any
) -> None:
    """A probe that cannot run exits 1 with one error line saying why."""
    endpoint = s3_client.meta.endpoint_url
    result = run_cli(["doctor", "s3://no-such-bucket-here", "--endpoint-url", endpoint], env)
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1
    assert "does not exist" in lines[0]
    assert result.stdout == b""


def test_doctor_sigterm_mid_probe_removes_what_it_made(
    env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    """SIGTERM while probing: the cleanup still runs, exit 143, nothing left behind."""
    endpoint = s3_client.meta.endpoint_url
    process = subprocess.Popen(
        [*S3SINK, "doctor", f"s3://{bucket}", "--endpoint-url", endpoint],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until the probe has written something
        if b"Content-MD5" in line:
            break
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 143, stderr
    assert "interrupted" in stderr.decode()
    assert leftovers(s3_client, bucket) == ([], [])


def test_doctor_usage_error_is_one_line(env: dict[str, str]) -> None:
    """A bad URI is a usage error: exit 2, one line."""
    result = run_cli(["doctor", "not-a-uri"], env)
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1
