"""``s3sink mount`` with an endpoint URL that carries credentials
(``http://user:SECRET@127.0.0.1:PORT``): its summary, ``--json``, the status file and the
``--debug`` output never show the password, whether the files commit or fail."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import run_cli
from tests.support.faultproxy import FaultProxy
from tests.support.localserver import free_port
from tests.support.mounted import mounted

pytestmark = pytest.mark.slow

SECRET = b"SECRET"


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: the mount tests need /dev/fuse and root")
        pytest.skip("needs /dev/fuse and root")


def test_a_mount_that_commits_never_shows_the_password(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    endpoint = s3_endpoint.replace("http://", "http://user:SECRET@")
    with mounted(
        f"s3://{bucket}/b", tmp_path / "mnt", env, "--endpoint-url", endpoint, "--json", "--debug"
    ) as mount:
        (mount.path / "f").write_bytes(b"data")
        status = (mount.path / ".s3sink-status").read_bytes()
        assert mount.unmount() == 0, mount.stderr
    assert json.loads(mount.stdout)["ok"] is True
    assert b'"committed"' in status
    assert SECRET not in mount.stdout + mount.stderr + status


def test_a_mount_whose_files_fail_never_shows_the_password(
    fault_proxy: FaultProxy, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The store goes away once the mount is up: the file fails (EIO), and the error, which
    names the endpoint URL, shows it redacted everywhere."""
    endpoint = fault_proxy.endpoint_url.replace("http://", "http://user:SECRET@")
    args = ["--endpoint-url", endpoint, "--json", "--debug", "--max-attempts", "1"]
    with mounted(f"s3://{bucket}/b", tmp_path / "mnt", env, *args) as mount:
        fault_proxy.refuse_all()
        with pytest.raises(OSError, match=r".") as raised, (mount.path / "f").open("wb") as f:
            f.write(b"data")
        assert raised.value.errno == errno.EIO
        status = (mount.path / ".s3sink-status").read_bytes()
        assert mount.unmount() == 1, mount.stderr
    assert json.loads(mount.stdout)["ok"] is False
    assert b"***@127.0.0.1" in status
    assert SECRET not in mount.stdout + mount.stderr + status


def test_a_mount_refused_before_it_comes_up_never_shows_the_password(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The store cannot be reached at all: nothing is mounted (the bucket check), and the
    error, its --json object and --debug's traceback show the endpoint redacted."""
    endpoint = f"http://user:SECRET@127.0.0.1:{free_port()}"
    args = ["--endpoint-url", endpoint, "--json", "--debug"]
    (tmp_path / "mnt").mkdir()
    result = run_cli(["mount", "s3://bucket/b", str(tmp_path / "mnt"), *args], env)
    assert result.returncode == 1, result.stderr
    assert not os.path.ismount(tmp_path / "mnt")
    assert json.loads(result.stdout)["ok"] is False
    assert b"cannot reach the S3 endpoint http://***@127.0.0.1" in result.stderr
    assert SECRET not in result.stdout + result.stderr
