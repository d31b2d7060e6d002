"""scripts/bench --compression: the corpus, the three pipelines' commands, and the row end to
end (the s3sink command of the venv running the tests against the discard server)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench.test_bench_file import TEST_VENV
from tests.support.benchlib import load

compression = load("compression")
bench_tools = load("harness.tools")
bench_targets = load("harness.targets")
bench_runs = load("harness.runs")
bench_compression_row = load("harness.compression_row")
MiB = 1024 * 1024


def test_the_corpus_is_deterministic_text_that_compresses_like_text(tmp_path: Path) -> None:
    """The same size gives the same bytes; they are lines of printable text that zlib
    compresses about 2-4x (not a repeated block that compresses 100x)."""
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    compression.write_corpus(first, 3 * MiB)
    compression.write_corpus(second, 3 * MiB)
    data = first.read_bytes()
    assert len(data) == 3 * MiB
    assert data == second.read_bytes()
    assert data.decode("ascii").isprintable() is False  # newlines
    assert all(line.isprintable() for line in data.decode("ascii").splitlines())
    ratio = len(data) / len(zlib.compress(data, 6))
    assert 2 < ratio < 5, ratio


def test_pipelines_compress_at_level_3_with_all_cores(tmp_path: Path) -> None:
    """s3sink compresses in exec mode (--compress zstd:3 -- cat FILE, --json to verify);
    the shell rows run cat | zstd -T0 -3 | TOOL under pipefail."""

    def tool(url: str, key: str, source: Path) -> list[str]:
        return ["TOOL", url, key]

    rows = compression.pipelines(
        tool, tool, "/usr/bin/zstd", source_size=10, zstd_output=7, unavailable={}
    )
    names = [r.name for r in rows]
    assert names == ["s3sink --compress zstd", "zstd -T0 | s3sink", "zstd -T0 | aws s3 cp -"]
    source = Path("/data/corpus.txt")
    argv = rows[0].argv("http://h", "k", source)
    assert argv == ["TOOL", "http://h", "k", "--compress", "zstd:3", "--json",
                    "--", "cat", str(source)]  # fmt: skip
    shell = rows[1].argv("http://h", "k", source)
    assert shell[:3] == ["bash", "-o", "pipefail"]
    assert shell[-1] == "cat /data/corpus.txt | /usr/bin/zstd -T0 -3 -q -c | TOOL http://h k"
    assert rows[1].expected(tmp_path / "none") == 7


def test_without_the_zstd_cli_the_shell_rows_say_how_to_get_it() -> None:
    """No zstd on PATH: the s3sink row still runs; the others say apt-get install zstd."""

    def tool(url: str, key: str, source: Path) -> list[str]:
        return ["TOOL"]

    rows = compression.pipelines(tool, None, None, source_size=10, zstd_output=None)
    assert rows[0].unavailable == ""
    assert rows[1].unavailable == rows[2].unavailable == "no zstd CLI on PATH: apt-get install zstd"


def test_s3sink_runs_verify_only_a_whole_read(tmp_path: Path) -> None:
    """The s3sink row's expected size is the --json size, and only when source_size is the
    corpus's: a short read is not verified."""
    out = tmp_path / "out.json"
    expected = compression.s3sink_expected(100)
    out.write_text('{"size": 40, "source_size": 100}')
    assert expected(out) == 40
    out.write_text('{"size": 40, "source_size": 99}')
    assert expected(out) is None
    out.write_text("not json")
    assert expected(out) is None


@pytest.fixture
def discard_target(tmp_path: Path) -> Iterator[Any]:
    """The discard server as the harness runs it."""
    target = bench_targets.DiscardTarget(False, tmp_path)
    try:
        yield target
    finally:
        target.stop()


@pytest.mark.slow
def test_the_compression_row_end_to_end(tmp_path: Path, discard_target: Any) -> None:
    """One round against the discard server: s3sink's in-process compression is verified
    (the server counted its --json size, of the whole corpus read) and, with the zstd CLI,
    so is zstd -T0 | s3sink (the server counted the CLI's output size); the table reports
    CPU per GiB of input and the cores kept busy."""
    settings = bench_tools.Settings(5 * MiB, 0, TEST_VENV)
    bench_runs.write_aws_config(tmp_path, settings)
    env = bench_runs.tool_env(dict(os.environ), discard_target.url, None, tmp_path)
    tools = bench_tools.build_tools(["s3sink", "awscli"], settings, {}, env, tmp_path)
    rows, table = bench_compression_row.run_compression(
        tools,
        discard_target,
        size=24 * MiB,
        data_dir=tmp_path / "data",
        runs=1,
        env=env,
        workdir=tmp_path,
        timeout=120,
    )
    by_name = {pipeline.name: results for pipeline, results in rows}
    [s3sink_run] = by_name["s3sink --compress zstd"]
    assert s3sink_run.ok, s3sink_run.reason
    assert 0 < s3sink_run.counted < 24 * MiB / 2  # text compresses
    if compression.zstd_binary() is not None:
        [cli_run] = by_name["zstd -T0 | s3sink"]
        assert cli_run.ok, cli_run.reason
    assert "| CPU s per GiB of input | CPU ÷ wall (cores busy) |" in table
    assert "| s3sink --compress zstd | " in table
    assert "| zstd -T0 \\| s3sink | " in table  # escaped: one cell
