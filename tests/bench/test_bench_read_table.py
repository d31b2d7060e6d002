"""scripts/bench --read: the options, the checking consumer (readsink.py), one measured read
end to end against the discard server (a stand-in tool that GETs the object with http.client),
the verdict on the object served with a byte flipped, and the rendered table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.benchlib import load

MiB = 1024 * 1024
bench_cli = load("harness.cli")
bench_common = load("harness.common")
bench_venv = load("harness.venv")
bench_tools = load("harness.tools")
bench_targets = load("harness.targets")
bench_runs = load("harness.runs")
read_table = load("harness.read_table")
read_tools = load("harness.read_tools")
synthetic_data = load("synthetic_data")
TEST_VENV = bench_venv.BenchVenv(Path(sys.executable).parent.parent)
SIZE = 6 * MiB + 321

# A stand-in reader: one GET of the whole object with http.client, copied to stdout; with a
# third argument N it stops after N bytes and exits 3 (a tool that noticed something).
GET_TOOL = """
import http.client, shutil, sys
url, key = sys.argv[1], sys.argv[2]
host, port = url.split("//")[1].split(":")
conn = http.client.HTTPConnection(host, int(port))
conn.request("GET", f"/bench/{key}")
body = conn.getresponse()
if len(sys.argv) > 3:
    sys.stdout.buffer.write(body.read(int(sys.argv[3])))
    sys.exit(3)
shutil.copyfileobj(body, sys.stdout.buffer, 1 << 20)
"""


def _tool(name: str, *extra: str) -> Any:
    def argv(url: str, key: str, source: Path) -> list[str]:
        return [sys.executable, "-c", GET_TOOL, url, key, *extra]

    return bench_tools.Tool(name, config=f"{name} (a test stand-in)", argv=argv)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Any]:
    """The discard server in its own process, as the bench runs it."""
    server = bench_targets.DiscardTarget(False, tmp_path, etag_md5=False)
    try:
        yield server
    finally:
        server.stop()


def _run(tool: Any, target: Any, key: str, tmp_path: Path) -> Any:
    env = bench_runs.tool_env(dict(os.environ), target.url, None, tmp_path)
    return read_table.run_read_once(
        tool, target, key=key, size=SIZE, index=1, env=env, workdir=tmp_path, timeout=60,
        python=Path(sys.executable),
    )  # fmt: skip


def test_read_options() -> None:
    """--read defaults to the read tools and knows no upload-only tool."""
    args = bench_cli.parse_args(["--read"])
    assert args.tool_list == list(bench_common.READ_TOOLS)
    assert "awscli-v2" in args.tool_list
    with pytest.raises(SystemExit):
        bench_cli.parse_args(["--read", "--tools", "smart_open"])


@pytest.mark.parametrize(
    ("flip", "length", "seen"),
    [(None, SIZE, None), (5 * MiB + 7, SIZE, 5 * MiB + 7), (None, 1000, None)],
)
def test_readsink_counts_and_finds_the_first_wrong_byte(
    flip: int | None, length: int, seen: int | None
) -> None:
    """The consumer reports the bytes it got and the offset of the first wrong one."""
    data = bytearray((synthetic_data.block() * 7)[:length])
    if flip is not None:
        data[flip] ^= 0x01
    done = subprocess.run(
        [sys.executable, str(bench_common.READSINK)], input=bytes(data), capture_output=True,
        check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == {"bytes": length, "mismatch_at": seen}


def test_a_read_is_measured_and_checked(target: Any, tmp_path: Path) -> None:
    """A tool that copies the object to its stdout: ok, with its CPU, RSS and the requests
    the server saw (one GET, no HEAD, no checksum asked for)."""
    target.create_synthetic("obj", SIZE, part_size=5 * MiB)
    run = _run(_tool("get"), target, "obj", tmp_path)
    assert run.ok, run.reason
    assert run.received == SIZE
    assert run.cpu > 0
    assert run.maxrss_kib > 0
    assert run.counters["read:GetObject"] == 1
    assert "read:HeadObject" not in run.counters
    assert "read:checksum-mode" not in run.counters


def test_a_flipped_byte_is_seen_by_the_consumer(target: Any, tmp_path: Path) -> None:
    """A tool that checks nothing passes the flipped byte on with exit 0: not caught, and
    the run is no good run."""
    offset = SIZE // 2 + 12_345
    target.create_synthetic("bad", SIZE, part_size=5 * MiB, corrupt_at=offset)
    run = _run(_tool("get"), target, "bad", tmp_path)
    assert run.mismatch_at == offset
    assert not run.ok
    assert read_table.flipped_verdict(run, SIZE) == ("not caught: exit 0, the wrong byte delivered")


def test_a_tool_that_stops_short_is_caught(target: Any, tmp_path: Path) -> None:
    """Exit non-zero with the stream cut before the flipped byte: caught, no wrong byte."""
    target.create_synthetic("bad", SIZE, part_size=5 * MiB, corrupt_at=SIZE - 10)
    run = _run(_tool("careful", str(2 * MiB)), target, "bad", tmp_path)
    assert run.exit_code == 3
    assert run.received == 2 * MiB
    assert read_table.flipped_verdict(run, SIZE) == (
        "**caught** (exit 3, stream cut at 2 MiB; no wrong byte)"
    )


def test_table_renders_ratios_and_verdicts(target: Any, tmp_path: Path) -> None:
    """The table has a row per tool with s3sink as the reference, the requests, whether the
    checksum was asked for, and the flipped-byte verdict; an unavailable tool says why."""
    target.create_synthetic("obj", SIZE)
    target.create_synthetic("bad", SIZE, corrupt_at=100)
    rows = []
    for name in ("s3sink", "peer"):
        row = read_table.ReadRow(_tool(name))
        row.runs.append(_run(row.tool, target, "obj", tmp_path))
        row.probe = _run(row.tool, target, "bad", tmp_path)
        rows.append(row)
    rows.append(read_table.ReadRow(bench_tools.Tool("gone", unavailable="not installed")))
    text = "\n".join(read_table.render_read_table(rows, SIZE, 1, "HTTP"))
    assert "| s3sink |" in text
    assert "1.00 (ref)" in text
    assert "| 1 / 0 | no | not caught: exit 0, the wrong byte delivered | 1/1 |" in text
    assert "| gone | unavailable: not installed |" in text


def test_debian_aws_missing_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Debian's awscli package the v2 row says to apt-get install it."""
    monkeypatch.setattr(read_tools, "DEBIAN_AWS", tmp_path / "no-aws")
    settings = bench_tools.Settings(16 * MiB, 0, TEST_VENV)
    env = bench_runs.tool_env(dict(os.environ), "http://127.0.0.1:9", None, tmp_path)
    tools = read_tools.build_read_tools(["awscli-v2"], settings, {}, env, tmp_path)
    assert "apt-get install awscli" in tools["awscli-v2"].unavailable


def test_floor_rows_read_and_floor_crc_catches_a_flipped_byte(target: Any, tmp_path: Path) -> None:
    """readfloor.py: one GET to the pipe, every byte right; with --crc it also compares the
    stored CRC64NVME and exits 5 on the flipped object (after delivering it all)."""
    settings = bench_tools.Settings(16 * MiB, 0, TEST_VENV)
    env = bench_runs.tool_env(dict(os.environ), target.url, None, tmp_path)
    tools = read_tools.build_read_tools(["floor", "floor+crc"], settings, {}, env, tmp_path)
    target.create_synthetic("obj", SIZE)
    target.create_synthetic("bad", SIZE, corrupt_at=77)
    for tool in tools.values():
        assert not tool.unavailable
        run = _run(tool, target, "obj", tmp_path)
        assert run.ok, run.reason
    probe = _run(tools["floor+crc"], target, "bad", tmp_path)
    assert read_table.flipped_verdict(probe, SIZE) == (
        "**caught** (exit 5; the wrong byte delivered)"
    )
    plain = _run(tools["floor"], target, "bad", tmp_path)
    assert plain.exit_code == 0
    assert plain.mismatch_at == 77
