"""scripts/bench's default: the equal-work table and the defaults table from the same rounds,
both ending in the floor rows (scripts/benchlib/floor.py), each run verified by the discard
server; the floor senders on their own; and the rendering of the two tables."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.benchlib import load

MiB = 1024 * 1024
bench_cli = load("harness.cli")
floor = load("floor")
discard = load("discard_server.server")
bench_common = load("harness.common")
bench_venv = load("harness.venv")
bench_tools = load("harness.tools")
bench_targets = load("harness.targets")
bench_runs = load("harness.runs")
bench_report = load("harness.report")
# The venv running the tests stands in for the bench venv: its bin/s3sink is this repo's.
TEST_VENV = bench_venv.BenchVenv(Path(sys.executable).parent.parent)


def _crc64nvme_b64(data: bytes) -> str:
    """S3's form of a CRC64NVME: base64 of the 8 big-endian bytes, computed by awscrt."""
    checksums = pytest.importorskip("awscrt.checksums")
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


@pytest.fixture
def server() -> Iterator[Any]:
    """An in-process discard server on a free loopback port."""
    with discard.DiscardS3Server("127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture
def discard_target(tmp_path: Path) -> Iterator[Any]:
    """The discard server as the harness runs it: its own process, stopped afterwards."""
    target = bench_targets.DiscardTarget(False, tmp_path, etag_md5=False)
    try:
        yield target
    finally:
        target.stop()


def test_floor_upload_is_counted_as_parts_and_not_hashed(server: Any) -> None:
    """The plain floor sends the minimum of S3: parts of the part size with their
    Content-Length, unsigned and without a checksum; the server counts the sum of the parts at
    Complete and, as asked, spends no MD5 on them."""
    data = os.urandom(11 * MiB + 5)
    result = floor.upload(
        io.BytesIO(data).readinto,
        url=server.url,
        bucket="bench",
        key="floor/plain",
        size=len(data),
        part_size=5 * MiB,
        buffer_size=256 * 1024,
    )
    assert result == {"size": len(data), "parts": 3}
    record = server.stats("bench/floor/plain")["object"]
    assert (record["size"], record["parts"], record["checksums"]) == (len(data), 3, {})
    counters = server.stats()["counters"]
    assert counters["payload_hash:UNSIGNED-PAYLOAD"] == 3
    assert "md5_bytes" not in counters
    assert not any(name.startswith("checksum_") for name in counters)


def test_floor_crc_sends_the_crc64nvme_of_what_it_sent(server: Any) -> None:
    """floor --crc runs CRC64NVME over every byte (in buffers that do not divide the part) and
    sends it at Complete as the object's FULL_OBJECT checksum: awscrt's value of the input."""
    data = os.urandom(7 * MiB + 12_345)
    result = floor.upload(
        io.BytesIO(data).readinto,
        url=server.url,
        bucket="bench",
        key="floor/crc",
        size=len(data),
        part_size=5 * MiB,
        buffer_size=100_000,
        crc=True,
    )
    expected = _crc64nvme_b64(data)
    assert result == {"size": len(data), "parts": 2, "crc64nvme": expected}
    record = server.stats("bench/floor/crc")["object"]
    assert record["size"] == len(data)
    assert record["checksums"] == {"crc64nvme": expected}
    assert server.stats()["counters"]["checksum_complete:crc64nvme"] == 1


@pytest.mark.parametrize(("said", "given"), [(6 * MiB, 6 * MiB - 1), (6 * MiB, 6 * MiB + 1)])
def test_floor_refuses_an_input_of_another_size(server: Any, said: int, given: int) -> None:
    """An input shorter or longer than --size fails the floor, and nothing is completed."""
    with pytest.raises(floor.FloorError, match="input"):
        floor.upload(
            io.BytesIO(b"x" * given).readinto,
            url=server.url,
            bucket="bench",
            key="floor/wrong",
            size=said,
            part_size=5 * MiB,
        )
    assert server.object_size("bench", "floor/wrong") is None


def _settings(unsigned: bool = False) -> Any:
    return bench_tools.Settings(5 * MiB, 0, TEST_VENV, unsigned)


def test_the_default_is_both_tables_and_the_floors() -> None:
    """No option: both tables and both floor rows; --table and --unsigned-payload pick one
    table; --no-floor and file mode drop the floors; floors named in --tools run once."""
    args = bench_cli.parse_args([])
    assert args.table_list == (bench_common.EQUAL_WORK, bench_common.DEFAULTS)
    assert args.etag_md5 is False  # the server hashes only to check a Content-MD5
    assert args.floor_list == list(bench_common.FLOOR_TOOLS)
    assert args.unsigned_payload is False
    args = bench_cli.parse_args(["--unsigned-payload"])
    assert (args.table_list, args.unsigned_payload) == ((bench_common.EQUAL_WORK,), True)
    assert bench_cli.parse_args(["--table", "defaults"]).table_list == (bench_common.DEFAULTS,)
    assert bench_cli.parse_args(["--no-floor"]).floor_list == []
    assert bench_cli.parse_args(["--file-mode"]).floor_list == []
    args = bench_cli.parse_args(["--tools", "s3sink,floor+crc"])
    assert (args.tool_list, args.floor_list) == (["s3sink"], ["floor+crc"])
    with pytest.raises(SystemExit):
        bench_cli.parse_args(["--unsigned-payload", "--table", "defaults"])


def test_each_table_has_its_tools_and_the_floors_run_once(tmp_path: Path) -> None:
    """Every tool gets a row per table; the equal-work rows read an AWS config file of their
    own with payload signing off (obstore is told unsigned_payload); the floors come once."""
    args = bench_cli.parse_args(["--tools", "s3sink,obstore,boto3"])
    settings = _settings()
    bench_runs.write_aws_config(tmp_path / "config", settings)
    env = bench_runs.tool_env(dict(os.environ), "http://127.0.0.1:9", None, tmp_path / "config")
    wanted = [*args.tool_list, *args.floor_list]
    tools = bench_tools.build_tools(wanted, settings, {}, env, tmp_path)
    rows = bench_cli.table_tools(
        args, tools, settings=settings, install_errors={}, probe_env=env, workdir=tmp_path
    )
    assert [(t.name, t.variant) for t in rows.values()] == [
        ("s3sink", "equal-work"),
        ("obstore", "equal-work"),
        ("boto3", "equal-work"),
        ("floor", ""),
        ("floor+crc", ""),
        ("s3sink", "defaults"),
        ("obstore", "defaults"),
        ("boto3", "defaults"),
    ]
    equal, default = rows["equal-work:boto3"], rows["defaults:boto3"]
    config = Path(equal.environment(env)["AWS_CONFIG_FILE"])
    assert config.parent == tmp_path / "config-equal-work"
    assert "payload_signing_enabled = false" in config.read_text()
    assert default.environment(env)["AWS_CONFIG_FILE"] == str(tmp_path / "config" / "aws-config")
    assert "payload_signing_enabled" not in (tmp_path / "config" / "aws-config").read_text()
    source = Path("/data/in.bin")
    assert "--unsigned-payload" in rows["equal-work:obstore"].command("u", "k", source)
    assert "--unsigned-payload" not in rows["defaults:obstore"].command("u", "k", source)


def _report(args: argparse.Namespace, tools: dict[str, Any], results: list[Any]) -> str:
    args.loadavg_at_start = os.getloadavg()
    return bench_report.render_report(
        args, tools, TEST_VENV, results=results, moto_results=None, startup=None
    )


def test_the_default_matrix_prints_both_tables_and_the_floor(
    tmp_path: Path, discard_target: Any
) -> None:
    """The default end to end on a small input: s3sink and boto3 in both tables and the two
    floors, every run verified by the server's count; the report prints the equal-work table
    first, then the defaults, each with the floor rows and the checksum each tool sent."""
    args = bench_cli.parse_args(["--tools", "s3sink,boto3", "--runs", "1"])
    settings = _settings()
    bench_runs.write_aws_config(tmp_path / "config", settings)
    probe_env = bench_runs.tool_env(
        dict(os.environ), "http://127.0.0.1:9", None, tmp_path / "config"
    )
    wanted = [*args.tool_list, *args.floor_list]
    tools = bench_tools.build_tools(wanted, settings, {}, probe_env, tmp_path)
    rows = bench_cli.table_tools(
        args, tools, settings=settings, install_errors={}, probe_env=probe_env, workdir=tmp_path
    )
    assert all(not t.unavailable for t in rows.values()), [t.unavailable for t in rows.values()]
    size = 11 * MiB
    source = bench_runs.make_input(tmp_path / "data", size)
    env = bench_runs.tool_env(dict(os.environ), discard_target.url, None, tmp_path / "config")
    table = bench_runs.run_matrix(
        rows,
        discard_target,
        sizes=[size],
        inputs={size: source},
        runs=1,
        env=env,
        workdir=tmp_path,
        timeout=120,
    )
    runs = {row.tool.label: row.runs[0] for row in table[size]}
    assert all(run.ok for run in runs.values()), {k: r.reason for k, r in runs.items()}
    assert runs["boto3 [equal-work]"].payload_hashes == {"UNSIGNED-PAYLOAD": 3}
    assert runs["boto3 [defaults]"].payload_hashes == {"sha256": 3}
    assert bench_runs.checksum_short(runs["s3sink [equal-work]"]) == (
        "CRC64NVME/part + CRC64NVME/object"
    )
    assert bench_runs.checksum_short(runs["floor"]) == "none"
    assert bench_runs.checksum_short(runs["floor+crc"]) == "CRC64NVME/object"
    assert json.loads(runs["floor+crc"].output.read_text())["crc64nvme"] == _crc64nvme_b64(
        source.read_bytes()
    )
    report = _report(args, tools, [("HTTP", table)])
    equal_at = report.index("### Equal work, HTTP, 11 MiB")
    defaults_at = report.index("### Each tool's defaults, HTTP, 11 MiB")
    assert equal_at < defaults_at
    sections = {"unsigned": report[equal_at:defaults_at], "SHA-256": report[defaults_at:]}
    for boto3_hash, section in sections.items():
        lines = [line for line in section.splitlines() if line.startswith("| ")]
        names = [line.split(" | ")[0].removeprefix("| ") for line in lines[1:]]
        assert names == ["s3sink", "boto3", "floor", "floor+crc"]
        assert "| 1.00 (ref) | 1.00 (ref) |" in lines[1]
        assert f"| {boto3_hash} | CRC32/part | 1/1 |" in lines[2]
        assert lines[4].endswith("| unsigned | CRC64NVME/object | 1/1 |")
    assert "Payload signing: off for the equal-work table" in report
    assert "- floor / floor+crc (`scripts/benchlib/floor.py`" in report


def test_one_table_renders_as_before_without_the_other(tmp_path: Path) -> None:
    """--table defaults: one table, named, with the floors; rows without a variant (moto) stay
    a single unnamed table."""
    tool = bench_tools.Tool("s3sink", variant=bench_common.DEFAULTS)
    run = bench_runs.RunResult("s3sink", 1, True, 1.0, 1.0, 100 * 1024, 0.1, 0, MiB)
    rows = [bench_runs.Row(tool, [run]), bench_runs.Row(bench_tools.Tool("floor"), [run])]
    [(variant, subset)] = bench_report.table_variants(rows)
    assert variant == bench_common.DEFAULTS
    assert [r.tool.name for r in subset] == ["s3sink", "floor"]
    text = "\n".join(bench_report.render_table(subset, MiB, 1, "HTTP", variant=variant))
    assert text.startswith("### Each tool's defaults, HTTP, 1 MiB")
    assert "the same runs in both tables" in text
    plain = [bench_runs.Row(bench_tools.Tool("s3sink"), [run])]
    assert bench_report.table_variants(plain) == [("", plain)]
    assert "\n".join(bench_report.render_table(plain, MiB, 1, "moto")).startswith("### moto, 1 MiB")
