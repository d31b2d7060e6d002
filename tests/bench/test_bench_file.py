"""scripts/bench --file-mode: what each tool is told, and the resume row end to end (the
s3sink command of the venv running the tests against the discard server, its fault switch
failing the parts above 90 %)."""

from __future__ import annotations

import os
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
bench_resume_row = load("harness.resume_row")
# The venv running the tests stands in for the bench venv: its bin/s3sink is this repo's.
TEST_VENV = bench_venv.BenchVenv(Path(sys.executable).parent.parent)


def _settings(*, file_mode: bool, part_size: int = 16 * MiB) -> Any:
    return bench_tools.Settings(part_size, 0, TEST_VENV, file_mode=file_mode)


def _env(tmp_path: Path) -> dict[str, str]:
    return bench_runs.tool_env(dict(os.environ), "http://127.0.0.1:9", None, tmp_path)


def test_default_tools_follow_the_mode() -> None:
    """--file-mode defaults to the tools that upload from a path (rclone in, smart_open out);
    rclone is a known tool, and --resume-at must be a fraction."""
    assert bench_cli.parse_args([]).tool_list == list(bench_common.ALL_TOOLS)
    args = bench_cli.parse_args(["--file-mode"])
    assert args.tool_list == list(bench_common.FILE_TOOLS)
    assert "rclone" in args.tool_list
    assert "smart_open" not in args.tool_list
    assert args.resume_at == 0.9
    with pytest.raises(SystemExit):
        bench_cli.parse_args(["--file-mode", "--resume-at", "1"])


def test_wrong_mode_tools_say_why(tmp_path: Path) -> None:
    """smart_open in file mode and rclone in pipe mode are rows that say why they did not run."""
    env = _env(tmp_path)
    bench_runs.write_aws_config(tmp_path, _settings(file_mode=True))
    file_tools = bench_tools.build_tools(
        ["smart_open"], _settings(file_mode=True), {}, env, tmp_path
    )
    assert "pipe mode only" in file_tools["smart_open"].unavailable
    pipe_tools = bench_tools.build_tools(["rclone"], _settings(file_mode=False), {}, env, tmp_path)
    assert "file mode only" in pipe_tools["rclone"].unavailable


def test_rclone_without_the_debian_package_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rclone on PATH: the row says to apt-get install it."""
    monkeypatch.setattr(bench_tools, "rclone_binary", lambda: None)
    tools = bench_tools.build_tools(
        ["rclone"], _settings(file_mode=True), {}, _env(tmp_path), tmp_path
    )
    assert tools["rclone"].unavailable == "rclone not on PATH: apt-get install rclone"


def test_rclone_argv_uses_an_on_the_fly_remote_and_multipart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rclone copyto FILE :s3,…,endpoint='URL':bench/KEY with the part size as chunk size and
    upload cutoff (so even a file of one part goes multipart), and the CA as RCLONE_CA_CERT
    instead of AWS_CA_BUNDLE (which rclone's transport refuses)."""
    monkeypatch.setattr(bench_tools, "rclone_binary", lambda: "/bin/true")
    tools = bench_tools.build_tools(
        ["rclone"], _settings(file_mode=True), {}, _env(tmp_path), tmp_path
    )
    tool = tools["rclone"]
    assert tool.unavailable == ""
    argv = tool.command("https://127.0.0.1:5", "k/1", Path("/data/f"))
    assert argv[:4] == ["/bin/true", "--config", str(tmp_path / "rclone.conf"), "copyto"]
    assert argv[4] == "/data/f"
    assert argv[5].startswith(":s3,provider=Other,env_auth=false,")
    assert argv[5].endswith(",endpoint='https://127.0.0.1:5':bench/k/1")
    assert argv[argv.index("--s3-chunk-size") + 1] == "16Mi"
    assert argv[argv.index("--s3-upload-cutoff") + 1] == "16Mi"
    env = tool.environment({"AWS_CA_BUNDLE": "/ca.pem", "PATH": "/bin"})
    assert env == {"RCLONE_CA_CERT": "/ca.pem", "PATH": "/bin"}


def test_file_mode_commands_name_the_file(tmp_path: Path) -> None:
    """In file mode s3sink gets --file, the drivers --file, awscli the path instead of "-";
    in pipe mode none of them does."""
    env = _env(tmp_path)
    source = Path("/data/input.bin")
    for file_mode in (True, False):
        tools = bench_tools.build_tools(
            ["s3sink", "boto3", "awscli"], _settings(file_mode=file_mode), {}, env, tmp_path
        )
        s3sink = tools["s3sink"].command("http://127.0.0.1:5", "k", source)
        boto3 = tools["boto3"].command("http://127.0.0.1:5", "k", source)
        awscli = tools["awscli"].command("http://127.0.0.1:5", "k", source)
        if file_mode:
            assert s3sink[-2:] == ["--file", str(source)]
            assert boto3[-2:] == ["--file", str(source)]
            assert awscli[3] == str(source)
        else:
            assert str(source) not in s3sink + boto3
            assert awscli[3] == "-"


@pytest.fixture
def discard_target(tmp_path: Path) -> Iterator[Any]:
    """The discard server as the harness runs it: its own process, stopped afterwards."""
    target = bench_targets.DiscardTarget(False, tmp_path)
    try:
        yield target
    finally:
        target.stop()


def _run_11_mib(
    name: str, tmp_path: Path, target: Any, *, file_mode: bool
) -> tuple[Any, Any, dict[str, str]]:
    """One verified run of tool ``name`` on an 11 MiB input in 5 MiB parts, as the harness
    runs it against ``target``: the run, the tool (checked available) and its environment."""
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(11 * MiB))
    settings = _settings(file_mode=file_mode, part_size=5 * MiB)
    bench_runs.write_aws_config(tmp_path, settings)
    env = bench_runs.tool_env(dict(os.environ), target.url, None, tmp_path)
    tool = bench_tools.build_tools([name], settings, {}, env, tmp_path)[name]
    assert tool.unavailable == ""
    run = bench_runs.run_once(
        tool,
        target,
        source=source,
        size=11 * MiB,
        index=1,
        env=env,
        workdir=tmp_path,
        timeout=60,
        file_mode=file_mode,
    )
    return run, tool, env


def test_file_mode_run_is_verified_without_a_pipe(tmp_path: Path, discard_target: Any) -> None:
    """s3sink --file uploads the file by path (stdin /dev/null); the run is verified by the
    server's count, and the parts and checksums it saw are recorded."""
    run, _, _ = _run_11_mib("s3sink", tmp_path, discard_target, file_mode=True)
    assert run.ok, run.reason
    assert run.parts == 3
    assert bench_runs.checksum_summary(run).startswith("3 parts; per request CRC64NVME (3/3)")


def test_resume_row_skips_the_parts_the_failed_run_kept(
    tmp_path: Path, discard_target: Any
) -> None:
    """A round: fresh --resumable upload; the same with the fault switch above 90 % of the
    parts fails and keeps the upload; --resume sends only the rest and completes, verified."""
    size = 50 * MiB  # ten 5 MiB parts: the fault switch refuses parts 10 and up
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(size))
    settings = _settings(file_mode=True, part_size=5 * MiB)
    bench_runs.write_aws_config(tmp_path, settings)
    env = bench_runs.tool_env(dict(os.environ), discard_target.url, None, tmp_path)
    tool = bench_tools.build_tools(["s3sink"], settings, {}, env, tmp_path)["s3sink"]
    rounds = bench_resume_row.run_resume(
        tool,
        discard_target,
        size=size,
        source=source,
        runs=1,
        env=env,
        workdir=tmp_path,
        timeout=60,
        fraction=0.9,
    )
    [round_] = rounds
    assert round_.ok, round_.reason
    assert round_.parts == 10
    assert round_.fault_above == 9
    assert round_.setup is not None
    assert round_.setup.exit_code == 1
    assert round_.parts_skipped == 9
    assert round_.bytes_skipped == 45 * MiB
    assert round_.bytes_sent == 5 * MiB
    assert discard_target.stats("-")["part_fault"] is None
    table = "\n".join(bench_resume_row.render_resume_table(rounds, size, 1, "HTTP", 0.9))
    assert "| resume: `… --resumable --resume` |" in table
    assert "| 9 of 10 |" in table


def test_the_readinto_row_reads_the_pipe_through_readinto_from(
    tmp_path: Path, discard_target: Any
) -> None:
    """s3sink-readinto: the library's pipe path, run and verified like any tool (pipe mode
    only: in file mode it says why)."""
    run, tool, env = _run_11_mib("s3sink-readinto", tmp_path, discard_target, file_mode=False)
    assert "readinto_from" in tool.config
    assert run.ok, run.reason
    assert run.parts == 3
    file_settings = _settings(file_mode=True)
    in_file_mode = bench_tools.build_tools(["s3sink-readinto"], file_settings, {}, env, tmp_path)
    assert "pipe mode only" in in_file_mode["s3sink-readinto"].unavailable
