"""scripts/bench --mount: the mount table end to end on a small file (the s3sink of the venv
running the tests, the discard server, a real FUSE mount), and its rendering."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.benchlib import load

MiB = 1024 * 1024
mountbench = load("mountbench")
bench_venv = load("harness.venv")
bench_tools = load("harness.tools")
bench_targets = load("harness.targets")
bench_runs = load("harness.runs")


def test_the_mount_table_runs_verifies_and_renders(tmp_path: Path) -> None:
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: .ci/run installs fuse3 and the machine has /dev/fuse")
        pytest.skip("needs FUSE")
    source = bench_runs.make_input(tmp_path / "data", 12 * MiB + 5)
    workdir = tmp_path / "run"
    workdir.mkdir()
    venv = bench_venv.BenchVenv(Path(sys.executable).parent.parent)
    bench_runs.write_aws_config(workdir / "config", bench_tools.Settings(8 * MiB, 0, venv, False))
    target = bench_targets.DiscardTarget(False, workdir)
    try:
        env = bench_runs.tool_env(dict(os.environ), target.url, None, workdir / "config")
        counted_keys: list[str] = []

        def counted(key: str) -> int | None:
            """The server's count; one short for the stdin tar run (the second stdin key)."""
            counted_keys.append(key)
            info = target.object_info(key)
            stdin_keys = list(dict.fromkeys(k for k in counted_keys if k.startswith("stdin-")))
            short = key.startswith("stdin-") and stdin_keys.index(key) == 1
            return None if info is None else int(info[0]) - short

        rows = mountbench.run_mount_bench(
            source=source,
            runs=1,
            url=target.url,
            env=env,
            s3sink=venv.bin("s3sink"),
            workdir=workdir,
            part_size=8 * MiB,
            server_cpu=target.server_cpu,
            counted=counted,
            log=lambda _: None,
        )
    finally:
        target.stop()
    by = {(r.path, r.writer): r for r in rows}
    for path, writer in [("stdin", "dd bs=1M"), *(("s3sink mount", w) for w in mountbench.WRITERS)]:
        row = by[path, writer]
        assert [r.ok for r in row.runs] == [True], (path, writer, row.runs)
        assert row.runs[0].cpu > 0
    (short,) = by["stdin", "tar -cf"].runs
    assert not short.ok
    assert "server counted" in short.reason
    # Verified by the server's count: the dd objects hold the file, the tar ones tar's output.
    assert len([k for k in counted_keys if k.startswith("mnt/s3sink-")]) == 2
    assert mountbench.tar_size(source) % 10240 == 0  # tar's records, padded
    table = mountbench.render_mount_table(rows, source.stat().st_size, 1)
    assert "| s3sink mount | " in table
    assert "| stdin | " in table
    assert "100%" in table  # stdin against itself
    assert "failed: server counted" in table
    s3fs = by["s3fs-fuse", "dd bs=1M"]
    assert s3fs.missing or s3fs.runs  # ran, or says why not
    # The ceilings: filesystems that drop every write, checked by the size they report.
    nulls = [mountbench.NULL_PY]
    if os.environ.get("CI", "").lower() == "true" or not by[mountbench.NULL_C, "tar -cf"].missing:
        nulls.append(mountbench.NULL_C)  # .ci/run installs a compiler and libfuse3-dev
    for path in nulls:
        for writer in mountbench.WRITERS:
            row = by[path, writer]
            assert [r.ok for r in row.runs] == [True], (path, writer, row.missing, row.runs)
        assert f"| {path} | " in table
