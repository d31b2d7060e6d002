"""``s3sink mount`` stopped by SIGINT, SIGTERM or SIGHUP (``systemctl stop``, Ctrl-C, a closed
terminal) ends as an unmount does: it unmounts, aborts the files still open, prints the
summary and ``--json``, and exits 0 when every file was committed. A second signal aborts
what is still open, a commit under way too, and exits 128+N."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import S3SINK, TIMEOUT, body, keys, pattern, pending
from tests.support.mounted import Mounted, mount_backups, needs_fuse

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    needs_fuse()


def stop(mount: Mounted, signum: int) -> int:
    """Send ``signum`` to the mount; its exit code."""
    mount.process.send_signal(signum)
    return mount.wait()


def summary(mount: Mounted) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(mount.stdout)
    return result


def wait_for_text(mount: Mounted, text: bytes) -> None:
    """Until the mount's stderr holds ``text`` (or it ended, or a minute went by)."""
    deadline = time.monotonic() + TIMEOUT
    while text not in mount.stderr and mount.process.poll() is None:
        assert time.monotonic() < deadline, mount.stderr
        time.sleep(0.05)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_unmounts_and_exits_0_when_every_file_was_committed(
    signum: signal.Signals,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """libfuse ends its loop with 8 on a signal; that is no failure of the mount."""
    data = pattern(6 * MiB)
    with mount_backups(bucket, tmp_path, env, s3_endpoint, "--json") as mount:
        (mount.path / "big").write_bytes(data)
        (mount.path / "small").write_bytes(b"small")
        code = stop(mount, signum)
    assert code == 0, mount.stderr
    assert not os.path.ismount(mount.path)
    assert b"error" not in mount.stderr, mount.stderr
    assert b"s3sink: unmounted: 2 files committed" in mount.stderr
    # Only s3sink's own lines: not libfuse 3.14's "Ignoring invalid max threads value".
    assert all(line.startswith(b"s3sink: ") for line in mount.stderr.splitlines()), mount.stderr
    result = summary(mount)
    assert result["ok"] is True
    assert sorted(r["path"] for r in result["committed"]) == ["/big", "/small"]
    assert result["failed"] == []
    assert body(s3_client, bucket, "backups/big") == data


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_after_a_file_failed_exits_1(
    signum: signal.Signals,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    s3_client.put_object(Bucket=bucket, Key="backups/taken", Body=b"yesterday")
    with mount_backups(bucket, tmp_path, env, s3_endpoint, "--json", "--no-overwrite") as mount:
        (mount.path / "good").write_bytes(b"good")
        with pytest.raises(OSError, match=r".") as raised:
            (mount.path / "taken").write_bytes(b"today")
        assert raised.value.errno == errno.EIO
        code = stop(mount, signum)
    assert code == 1, mount.stderr
    assert not os.path.ismount(mount.path)
    assert b"s3sink: unmounted: 1 file committed" in mount.stderr
    assert b"error: mounting" not in mount.stderr  # no "mounting ... failed: 8"
    result = summary(mount)
    assert result["ok"] is False
    assert [r["path"] for r in result["committed"]] == ["/good"]
    assert [(r["path"], r["state"]) for r in result["failed"]] == [("/taken", "failed")]
    assert body(s3_client, bucket, "backups/taken") == b"yesterday"


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_file_still_open_at_the_signal_is_aborted_and_nothing_of_it_published(
    signum: signal.Signals,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """As at an unmount: the file is incomplete (its program never closed it)."""
    with mount_backups(bucket, tmp_path, env, s3_endpoint, "--json") as mount:
        (mount.path / "done").write_bytes(b"done")
        fd = os.open(mount.path / "half", os.O_WRONLY | os.O_CREAT)
        try:
            os.write(fd, pattern(11 * MiB))  # two parts sent, or on their way
            code = stop(mount, signum)
        finally:
            with contextlib.suppress(OSError):  # the mount is gone
                os.close(fd)
    assert code == 1, mount.stderr
    assert not os.path.ismount(mount.path)
    assert b"half was still open at unmount" in mount.stderr
    assert b"1 file committed" in mount.stderr
    assert b"0 failed, 1 aborted" in mount.stderr
    result = summary(mount)
    assert [r["path"] for r in result["committed"]] == ["/done"]
    assert [(r["path"], r["state"]) for r in result["failed"]] == [("/half", "aborted")]
    assert keys(s3_client, bucket) == ["backups/done"]
    assert pending(s3_client, bucket) == []


def test_a_signal_lets_a_commit_under_way_finish(
    fault_proxy: Any, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A close that is committing when the signal arrives is a request under way: the
    mount waits for it, as libfuse waits at any unmount, and the file is committed."""
    data = pattern(6 * MiB)
    # Part 1's answer is held for a while: the close waits for it, the signal comes then.
    fault_proxy.stall(5, method="PUT", path=r"[?&]partNumber=1(&|$)")
    with mount_backups(bucket, tmp_path, env, fault_proxy.endpoint_url, "--json") as mount:
        closed, closing = _close_in_background(mount, data)
        _wait_for_part(fault_proxy, 2)  # sent at the close, after part 1
        mount.process.send_signal(signal.SIGTERM)
        wait_for_text(mount, b"SIGTERM: unmounting")
        code = mount.wait()
        closing.join(TIMEOUT)
    assert closed == [None]  # close() returned: committed
    assert code == 0, mount.stderr
    assert body(s3_client, bucket, "backups/f") == data
    assert [r["path"] for r in summary(mount)["committed"]] == ["/f"]


def test_a_second_signal_aborts_a_commit_under_way_and_exits_130(
    fault_proxy: Any, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Ctrl-C twice: the user wants out. The file whose close is still sending its parts is
    aborted (its close gets EIO), nothing of it is published, the summary is printed."""
    data = pattern(6 * MiB)
    fault_proxy.stall(10, method="PUT", path=r"[?&]partNumber=1(&|$)")
    with mount_backups(bucket, tmp_path, env, fault_proxy.endpoint_url, "--json") as mount:
        (mount.path / "done").write_bytes(b"done")
        closed, closing = _close_in_background(mount, data)
        _wait_for_part(fault_proxy, 2)
        mount.process.send_signal(signal.SIGINT)
        wait_for_text(mount, b"SIGINT: unmounting")
        mount.process.send_signal(signal.SIGINT)
        code = mount.wait()
        closing.join(TIMEOUT)
    assert code == 130, mount.stderr
    assert not os.path.ismount(mount.path)
    assert len(closed) == 1
    assert isinstance(closed[0], OSError)
    assert closed[0].errno == errno.EIO
    assert b"f was still open at a second signal (SIGINT)" in mount.stderr
    result = summary(mount)
    assert [r["path"] for r in result["committed"]] == ["/done"]
    assert [(r["path"], r["state"]) for r in result["failed"]] == [("/f", "aborted")]
    assert keys(s3_client, bucket) == ["backups/done"]
    assert pending(s3_client, bucket) == []


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_ignored_when_the_mount_started_stays_ignored(
    signum: signal.Signals,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """``nohup s3sink mount ...`` outlives its terminal's SIGHUP; a background job of a
    script (``s3sink mount ... &``: SIGINT ignored) outlives a Ctrl-C meant for the script."""
    mnt = tmp_path / "nohup"
    mnt.mkdir()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*S3SINK, "mount", f"s3://{bucket}/n", str(mnt), "--endpoint-url", s3_endpoint],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            preexec_fn=lambda: signal.signal(signum, signal.SIG_IGN),  # noqa: PLW1509
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while not os.path.ismount(mnt):
                assert process.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.05)
            process.send_signal(signum)
            (mnt / "after-signal").write_bytes(b"still here")  # the mount still serves
            subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
            code = process.wait(timeout=TIMEOUT)
        finally:
            # Unmounted even when the process died and left a dead mount behind.
            subprocess.run(["fusermount3", "-uz", str(mnt)], check=False, capture_output=True)
            if process.poll() is None:
                process.kill()
                process.wait()
            err.seek(0)
            stderr = err.read()
    assert code == 0, stderr
    assert body(s3_client, bucket, "n/after-signal") == b"still here"


def test_a_mount_the_kernel_refuses_is_still_an_error(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """No signal was received: libfuse's non-zero return is a failure (here the mount(2)
    refused in a user namespace, ``fuse_main`` returns 4)."""
    unshare = ["unshare", "--user", "--map-root-user"]
    try:
        usable = subprocess.run([*unshare, "true"], check=False, capture_output=True)
    except FileNotFoundError:
        pytest.skip("no unshare(1)")
    if usable.returncode != 0:
        pytest.skip(f"no user namespaces here: {usable.stderr!r}")
    (tmp_path / "mnt").mkdir()
    args = ["mount", f"s3://{bucket}/x", str(tmp_path / "mnt"), "--endpoint-url", s3_endpoint]
    result = subprocess.run(
        [*unshare, *S3SINK, *args, "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert b"s3sink: error: mounting " in result.stderr
    assert b"s3sink: mounted" not in result.stderr  # it never was
    assert b"unmounted:" not in result.stderr
    record = json.loads(result.stdout)  # --json: one object, even for a mount never up
    assert record["ok"] is False
    assert record["message"].startswith("mounting "), record


def _close_in_background(
    mount: Mounted, data: bytes
) -> tuple[list[OSError | None], threading.Thread]:
    """Write ``data`` to ``f``, then close it in a thread; the close's outcome lands in the
    list (None: it returned)."""
    fd = os.open(mount.path / "f", os.O_WRONLY | os.O_CREAT)
    os.write(fd, data)
    outcome: list[OSError | None] = []

    def close() -> None:
        try:
            os.close(fd)
        except OSError as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=close, daemon=True)
    thread.start()
    return outcome, thread


def _wait_for_part(proxy: Any, number: int) -> None:
    """Until the proxy has passed part ``number`` of an upload on."""
    deadline = time.monotonic() + TIMEOUT
    while not any(f"partNumber={number}" in entry.path for entry in proxy.log):
        assert time.monotonic() < deadline, proxy.log
        time.sleep(0.05)


def test_mounted_is_said_once_the_directory_is_a_mount_point(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A script that waits for "s3sink: mounted" may use the directory at once: the line comes
    from FUSE's init, after mount(2), not before libfuse is even loaded."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*S3SINK, "mount", f"s3://{bucket}/m", str(mnt), "--endpoint-url", s3_endpoint],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while b"s3sink: mounted" not in (err.seek(0) or err.read()):
                assert process.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.001)
            assert os.path.ismount(mnt)
            subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
            assert process.wait(timeout=TIMEOUT) == 0
        finally:
            subprocess.run(["fusermount3", "-uz", str(mnt)], check=False, capture_output=True)
            if process.poll() is None:
                process.kill()
                process.wait()
