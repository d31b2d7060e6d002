"""``--read``: the read table. Each tool writes one synthetic object (``discard_server``'s
``/__synthetic``: its bytes made up as they are served, its ETag and FULL_OBJECT CRC64NVME
stored) to a pipe read by ``readsink.py``, which checks every byte; interleaved rounds, HTTP
and/or HTTPS. Per run: wall time until the consumer has the last byte, the tool's CPU and peak
RSS (os.wait4; the consumer's CPU is its own), the server's CPU, and the GetObject/HeadObject
requests the server saw, with or without ``x-amz-checksum-mode: ENABLED``. Then every tool
reads once an object that the server serves with one byte flipped (its checksum and ETag those
of the right bytes): whether the tool then fails, or exits 0 having delivered a wrong byte, is
the table's answer to "does it verify anything"."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import (
    READ_REQUIREMENTS,
    READSINK,
    GiB,
    MiB,
    fmt,
    format_size,
    last_error_line,
    log,
    one_line,
)
from .read_tools import build_read_tools, debian_aws_version
from .report import machine_description
from .runs import tool_env, write_aws_config
from .targets import DiscardTarget, machine_busy_seconds
from .tools import Settings, Tool
from .venv import BenchVenv


@dataclass
class ReadRun:
    """One read of one object by one tool into the checking consumer."""

    tool: str
    index: int
    wall: float = 0.0
    cpu: float = 0.0
    maxrss_kib: int = 0
    server_cpu: float = 0.0
    exit_code: int = -1
    received: int = -1  # bytes the consumer got (-1: unknown)
    mismatch_at: int | None = None  # the first wrong byte the consumer got
    reason: str = ""
    counters: dict[str, int] = field(default_factory=dict)  # the server's, during this run
    foreign_cpu: float = 0.0

    @property
    def ok(self) -> bool:
        """Exit 0, every byte received and right (and no other reason to doubt it)."""
        return not self.reason


@dataclass
class ReadRow:
    """All runs of one tool at one size, and its flipped-byte run."""

    tool: Tool
    runs: list[ReadRun] = field(default_factory=list)
    probe: ReadRun | None = None

    @property
    def good(self) -> list[ReadRun]:
        """Runs that exited 0 with every byte right."""
        return [r for r in self.runs if r.ok]

    def median(self, attribute: str) -> float:
        """Median of an attribute over the good runs."""
        return statistics.median(float(getattr(r, attribute)) for r in self.good)


def run_read_once(
    tool: Tool,
    target: DiscardTarget,
    *,
    key: str,
    size: int,
    index: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float,
    python: Path,
) -> ReadRun:
    """``TOOL | readsink.py`` once, measured; judged by exit status and the bytes received."""
    run = ReadRun(tool.name, index)
    stem = f"read-{tool.name}-{key.replace('/', '_')}-{index}"
    try:
        target.ensure_running()
        cpu_before, counters_before = target.server_cpu(), target.counters()
    except (OSError, RuntimeError, ValueError) as exc:
        run.reason = f"server unreachable before the run: {exc}"
        return run
    argv = tool.command(target.url, key, Path(os.devnull))
    sink_out = workdir / f"{stem}.sink"
    read_end, write_end = os.pipe()
    with sink_out.open("wb") as out, (workdir / f"{stem}.err").open("wb") as err:
        busy_before, started = machine_busy_seconds(), time.perf_counter()
        sink = subprocess.Popen([str(python), str(READSINK)], stdin=read_end, stdout=out)
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=write_end, stderr=err,
                env=tool.environment(env), cwd=workdir, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            os.close(write_end)
            os.close(read_end)
            sink.wait()
            run.reason = f"cannot start: {exc}"
            return run
        os.close(write_end)
        os.close(read_end)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            sink.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            sink.wait()
            run.wall = time.perf_counter() - started
            busy = machine_busy_seconds() - busy_before
        finally:
            watchdog.cancel()
            watchdog.join()
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the tool's process group
    run.exit_code, run.maxrss_kib = proc.returncode, usage.ru_maxrss
    run.cpu = usage.ru_utime + usage.ru_stime
    try:
        run.server_cpu = target.server_cpu() - cpu_before
        run.counters = {
            name: count - counters_before.get(name, 0)
            for name, count in target.counters().items()
            if count > counters_before.get(name, 0)
        }
    except (OSError, RuntimeError, ValueError) as exc:
        run.reason = f"server unreachable after the run: {exc}"
        return run
    run.foreign_cpu = max(0.0, busy - run.cpu - run.server_cpu)
    with contextlib.suppress(OSError, ValueError, KeyError):
        seen = json.loads(sink_out.read_text())
        run.received, run.mismatch_at = int(seen["bytes"]), seen["mismatch_at"]
    if timed_out.is_set():
        run.reason = f"timed out after {timeout:.0f} s"
    elif run.exit_code != 0:
        run.reason = f"exit {run.exit_code}: {_last_line(workdir / f'{stem}.err')}"
    elif run.received != size:
        run.reason = f"the consumer got {run.received} of {size} bytes"
    elif run.mismatch_at is not None:
        run.reason = f"wrong byte at offset {run.mismatch_at}"
    return run


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else "no output"


def run_read_matrix(
    tools: dict[str, Tool],
    target: DiscardTarget,
    *,
    sizes: list[int],
    runs: int,
    part_size: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float,
    python: Path,
) -> dict[int, list[ReadRow]]:
    """Every size: one synthetic object, ``runs`` interleaved rounds of every available
    tool, then each tool's read of the same object with one byte flipped."""
    table: dict[int, list[ReadRow]] = {}
    for size in sizes:
        key = f"read/{format_size(size).replace(' ', '')}"
        bad_key = key + "-flipped"
        target.create_synthetic(key, size, part_size=part_size)
        target.create_synthetic(bad_key, size, part_size=part_size, corrupt_at=size // 2 + 12_345)
        rows = [ReadRow(tool) for tool in tools.values()]
        table[size] = rows
        limit = timeout or 60 + size / (8 * MiB)
        for index in range(1, runs + 1):
            for row in (r for r in rows if not r.tool.unavailable):
                log(f"{target.label} read {format_size(size)} run {index}/{runs}: {row.tool.name}")
                run = run_read_once(
                    row.tool, target, key=key, size=size, index=index, env=env,
                    workdir=workdir, timeout=limit, python=python,
                )  # fmt: skip
                row.runs.append(run)
                if run.ok:
                    rate = size / MiB / run.wall
                    log(f"  ok {run.wall:.2f} s, {rate:.0f} MiB/s, CPU {run.cpu:.2f} s")
                else:
                    log(f"  FAILED: {run.reason}")
        for row in (r for r in rows if not r.tool.unavailable):
            log(f"{target.label} read {format_size(size)}, one byte flipped: {row.tool.name}")
            row.probe = run_read_once(
                row.tool, target, key=bad_key, size=size, index=0, env=env,
                workdir=workdir, timeout=limit, python=python,
            )  # fmt: skip
            log(f"  {flipped_verdict(row.probe, size)}")
    return table


def flipped_verdict(run: ReadRun | None, size: int) -> str:
    """What a tool did with an object served with one byte flipped."""
    if run is None:
        return "—"
    if run.reason.startswith(("timed out", "server unreachable", "cannot start")):
        return f"no answer ({one_line(run.reason, 60)})"
    delivered = "the wrong byte delivered" if run.mismatch_at is not None else "no wrong byte"
    if run.exit_code != 0:
        short = "" if run.received == size else f", stream cut at {run.received / MiB:.0f} MiB"
        return f"**caught** (exit {run.exit_code}{short}; {delivered})"
    return f"not caught: exit 0, {delivered}"


def render_read_table(rows: list[ReadRow], size: int, runs: int, label: str) -> list[str]:
    """One Markdown table of medians for a (target, size)."""
    gib = size / GiB
    reference = next((r for r in rows if r.tool.name == "s3sink" and r.good), None)
    reference = reference or next((r for r in rows if r.tool.name == "s3sink-lib" and r.good), None)
    lines = [
        f"### Reading back, {label}, {format_size(size)} into a pipe — median of {runs} "
        "interleaved run(s)",
        "",
        "| tool | MiB/s | wall s | client CPU s/GiB | peak RSS MiB | server CPU s/GiB "
        "| s3sink ÷ tool: MiB/s | s3sink ÷ tool: CPU | GET / HEAD | asked for the checksum "
        "| one byte flipped | runs ok |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|",
    ]
    notes: list[str] = []
    for row in rows:
        name = row.tool.name
        if row.tool.unavailable:
            reason = one_line(row.tool.unavailable)
            lines.append(f"| {name} | unavailable: {reason} |{' — |' * 9} 0/0 |")
            continue
        notes += [
            f"- {name} run {r.index}: FAILED — {one_line(r.reason, 300)}"
            for r in row.runs
            if not r.ok
        ]
        if not row.good:
            reason = one_line(row.runs[0].reason if row.runs else "no runs")
            lines.append(f"| {name} | FAILED: {reason} |{' — |' * 9} 0/{len(row.runs)} |")
            continue
        wall, cpu = row.median("wall"), row.median("cpu")
        rate = size / MiB / wall
        if reference is None:
            speed_ratio = cpu_ratio = "n/a"
        elif row is reference:
            speed_ratio = cpu_ratio = "1.00 (ref)"
        else:
            speed_ratio = fmt(size / MiB / reference.median("wall") / rate)
            cpu_ratio = fmt(reference.median("cpu") / cpu) if cpu > 0 else "n/a"
        counters = row.good[0].counters
        requests = f"{counters.get('read:GetObject', 0)} / {counters.get('read:HeadObject', 0)}"
        asked = "yes" if counters.get("read:checksum-mode") else "no"
        lines.append(
            f"| {name} | {rate:.0f} | {fmt(wall)} | {fmt(cpu / gib)} | "
            f"{row.median('maxrss_kib') / 1024:.0f} | {fmt(row.median('server_cpu') / gib)} | "
            f"{speed_ratio} | {cpu_ratio} | {requests} | {asked} | "
            f"{flipped_verdict(row.probe, size)} | {len(row.good)}/{len(row.runs)} |"
        )
    if notes:
        lines += ["", "Failed runs (not counted in the medians):", "", *notes]
    return lines


READ_NOTES = [
    "- The object: `discard_server`'s synthetic object (a 1 MiB pseudo-random block repeated, "
    "made up as it is served), stored as a multipart object of the part size with S3's ETag "
    "and a FULL_OBJECT CRC64NVME, answered to a whole-object HeadObject/GetObject that asks "
    "for it (`x-amz-checksum-mode: ENABLED`), never to a range, as on AWS.",
    "- The consumer (`readsink.py`, the bench venv's Python) reads the pipe as `zstd -d` or "
    "`pg_restore` would (the pipe's size as the tool left it) and checks every byte; a run "
    "counts only with exit 0 and every byte right. MiB/s: the object's size over the time "
    "until the consumer had the last byte; client CPU and peak RSS are the tool's process "
    "tree's (os.wait4), not the consumer's.",
    "- GET / HEAD: the requests the server saw in the first good run; asked for the checksum: "
    "whether any carried `x-amz-checksum-mode: ENABLED`.",
    "- One byte flipped: each tool read, once, the same object served with the byte at the "
    "middle + 12,345 flipped (its stored CRC64NVME and ETag those of the right bytes). "
    "**caught**: the tool exited non-zero (and how much the consumer got); not caught: exit 0 "
    "with the wrong byte in the output.",
    "- floor / floor+crc (`readfloor.py`, the bench venv's Python): the least a reader can do, "
    "one GET of the whole object on one connection into one reused buffer written to the "
    "pipe, no signing or retries; floor+crc adds CRC64NVME (awscrt) of every byte, compared "
    "with the stored one at the end (so it notices the flipped byte, after delivering it).",
]


def run_read(args: argparse.Namespace, venv: BenchVenv) -> int:
    """``--read``: install, run the read table over HTTP and/or HTTPS, report; 1 if a run
    failed (the flipped-byte runs are expected to fail and do not count)."""
    install_errors: dict[str, str] = {}
    if not args.no_install:
        requirements = [r for t in args.tool_list for r in READ_REQUIREMENTS[t]]
        install_errors = venv.ensure(requirements, upgrade=args.upgrade_tools)
        if any(t in ("s3sink", "s3sink-lib") for t in args.tool_list):
            ok, output = venv.pip_install(str(args.s3sink_source.resolve()))
            if not ok:
                install_errors["s3sink"] = "pip install of the repo failed: " + last_error_line(
                    output
                )
    workdir = Path(tempfile.mkdtemp(prefix="s3sink-bench-read-"))
    log(f"logs and tool output in {workdir}")
    settings = Settings(args.part_size, args.concurrency, venv)
    write_aws_config(workdir / "config", settings)
    probe_env = tool_env(dict(os.environ), "http://127.0.0.1:9", None, workdir / "config")
    tools = build_read_tools(args.tool_list, settings, install_errors, probe_env, workdir)
    for tool in tools.values():
        if tool.unavailable:
            log(f"{tool.name}: unavailable: {tool.unavailable}")
    lines = ["# s3sink read benchmark", "", *machine_description(venv, tools)]
    if "awscli-v2" in tools and not tools["awscli-v2"].unavailable:
        lines.append(f"- AWS CLI v2: {debian_aws_version()} (Debian package)")
    lines.append("")
    failed = False
    for https in [False, True] if args.both else [args.https]:
        target = DiscardTarget(https, workdir, etag_md5=False)
        try:
            env = tool_env(dict(os.environ), target.url, target.ca_file, workdir / "config")
            table = run_read_matrix(
                tools, target, sizes=args.size_list, runs=args.runs, part_size=args.part_size,
                env=env, workdir=workdir, timeout=args.timeout, python=venv.python,
            )  # fmt: skip
        finally:
            target.stop()
        for size, rows in table.items():
            lines += [*render_read_table(rows, size, args.runs, target.label), ""]
            failed |= any(not r.ok for row in rows for r in row.runs)
    lines += ["## How each tool was configured", ""]
    lines += [f"- **{t.name}**: {t.config}" for t in tools.values() if t.config]
    lines += ["", "## Notes", "", *READ_NOTES]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        args.output.write_text(report)
    if failed or args.keep_logs:
        log(f"kept the logs in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0
