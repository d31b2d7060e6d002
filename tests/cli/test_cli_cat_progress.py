"""``s3sink cat``'s progress on stderr: plain lines with ``--progress`` (written of the object's
size, the rate, the ranges), none by default without a terminal, a live bar on a terminal,
and no bar in exec mode, where COMMAND shares the terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_cat import DATA, cat, upload
from tests.cli.test_exec_stderr import _run_on_a_terminal
from tests.support.faultproxy import FaultProxy

SLOW = 0.6  # seconds the second GET waits, so that the display has something to show


def slow_second_get(proxy: FaultProxy) -> None:
    proxy.on_request(lambda: time.sleep(SLOW), method="GET", path=r"/k$", nth=2)


@pytest.mark.parametrize("asked", [True, False], ids=["--progress", "default"])
def test_plain_lines_only_when_asked_for(
    asked: bool,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    upload(s3_client, bucket)
    slow_second_get(fault_proxy)
    flags = ["--progress", "--progress-interval", "0.05"] if asked else []
    out = tmp_path / "out"
    done = cat(env, fault_proxy.endpoint_url, f"s3://{bucket}/k", "-o", str(out), *flags)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.decode().splitlines() if " written, " in line]
    if not asked:
        assert lines == []
        return
    assert len(lines) >= 3, done.stderr
    assert lines[0].startswith("s3sink: ")
    assert " of 12 MiB written, " in lines[0]
    assert " in flight of 5, " in lines[-1]  # 5 MiB parts cut into ranges of at most 4 MiB
    summary = done.stderr.decode().splitlines()[-1]
    assert summary.startswith("s3sink: read 12 MiB"), summary  # the display stopped first


@pytest.mark.parametrize("exec_mode", [False, True], ids=["-o", "exec"])
def test_a_terminal_gets_a_bar_but_not_under_a_command(
    exec_mode: bool,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    upload(s3_client, bucket)
    slow_second_get(fault_proxy)
    uri = f"s3://{bucket}/k"
    args = ["cat", uri, "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "4MiB"]
    copy = "import shutil, sys; shutil.copyfileobj(sys.stdin.buffer, open(sys.argv[1], 'wb'))"
    out = tmp_path / "out"
    if exec_mode:
        args += ["--", sys.executable, "-c", copy, str(out)]
    else:
        args += ["-o", str(out)]
    code, terminal = _run_on_a_terminal(args, env)
    assert code == 0, terminal
    assert out.read_bytes() == DATA
    bar = "ranges " in terminal and " / 12 MiB" in terminal
    assert bar is not exec_mode, terminal
    assert "s3sink: read 12 MiB" in terminal  # the summary, either way
