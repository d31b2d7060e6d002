"""``s3sink mount`` checks the bucket before it comes up (#24 item 6): on a missing bucket or
an endpoint out of reach it exits 1 with nothing mounted, instead of mounting and failing
every file at its commit."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, run_cli
from tests.support.faultproxy import FaultProxy
from tests.support.localserver import free_port
from tests.support.mounted import mounted

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: the mount tests need /dev/fuse and root")
        pytest.skip("needs /dev/fuse and root")


def mount_once(target: str, directory: Path, env: dict[str, str], *args: str) -> Any:
    """``s3sink mount`` run to its end (it must not come up)."""
    directory.mkdir()
    return run_cli(["mount", target, str(directory), *args], env)


def test_a_missing_bucket_is_not_mounted(
    s3_endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Exit 1, nothing mounted, the error names the bucket and gives the command that
    creates it alone on the next line; --json: one object."""
    where = tmp_path / "mnt"
    result = mount_once(
        "s3://no-such-bucket/backups", where, env, "--endpoint-url", s3_endpoint, "--json"
    )
    assert result.returncode == 1, result.stderr
    assert not os.path.ismount(where)
    lines = result.stderr.decode().splitlines()
    assert lines[0].startswith("s3sink: error: bucket 'no-such-bucket' does not exist at ")
    assert f"nothing was mounted at {where}" in lines[0]
    assert lines[1:] == [
        "s3sink: check the bucket name and the endpoint (--endpoint-url, AWS_ENDPOINT_URL), "
        "or create the bucket:",
        f"  aws s3 mb s3://no-such-bucket --endpoint-url {s3_endpoint}",
    ]
    record = json.loads(result.stdout)
    assert (record["ok"], record["committed"], record["failed"]) == (False, [], [])


def test_an_endpoint_out_of_reach_is_not_mounted(env: dict[str, str], tmp_path: Path) -> None:
    where = tmp_path / "mnt"
    closed = f"http://127.0.0.1:{free_port()}"
    result = mount_once("s3://bucket", where, env, "--endpoint-url", closed)
    assert result.returncode == 1, result.stderr
    assert not os.path.ismount(where)
    assert result.stderr.startswith(
        f"s3sink: error: cannot reach the S3 endpoint {closed} for bucket 'bucket'".encode()
    )


def test_credentials_that_may_not_list_still_mount_and_write(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """AccessDenied on the check (write-only credentials): the mount comes up and a file
    written into it is committed."""
    rule = fault_proxy.respond(403, "AccessDenied", method="GET", path=r"[?&]list-type=2(&|$)")
    args = ["--endpoint-url", fault_proxy.endpoint_url]
    with mounted(f"s3://{bucket}/backups", tmp_path / "mnt", env, *args) as mount:
        (mount.path / "a").write_bytes(b"x\n")
        assert mount.unmount() == 0, mount.stderr
    assert rule.applied == 1
    assert body(s3_client, bucket, "backups/a") == b"x\n"


def test_a_mount_point_in_use_is_a_usage_error_with_its_json(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Refused before anything starts (exit 2): --json still prints its one object, for the
    script that reads it."""
    where = tmp_path / "mnt"
    where.mkdir()
    (where / "already-here").write_bytes(b"x")
    args = ["mount", f"s3://{bucket}/b", str(where), "--endpoint-url", s3_endpoint, "--json"]
    result = run_cli(args, env)
    assert result.returncode == 2, result.stderr
    record = json.loads(result.stdout)
    assert (record["ok"], record["committed"], record["failed"]) == (False, [], [])
    assert "is not empty" in record["message"]
