"""The command line of ``scripts/bench`` and the run it drives: install, run every table, report.

The package's docstring says what the benchmark measures and how.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import mountbench
from .common import (
    ALL_TOOLS,
    DEFAULTS,
    EQUAL_WORK,
    FILE_TOOLS,
    FLOOR_TOOLS,
    KNOWN_TOOLS,
    MOTO_REQUIREMENTS,
    MOTO_TOOLS,
    READ_TOOLS,
    REPO,
    S3SINK_TOOLS,
    TABLE_CHOICES,
    TOOL_REQUIREMENTS,
    MiB,
    last_error_line,
    log,
    parse_size,
)
from .compression_row import run_compression
from .dask_table import run_dask_table
from .read_table import run_read
from .report import measure_startup, render_report
from .resume_row import ResumeRound, run_resume
from .runs import Row, RunResult, make_input, run_matrix, tool_env, write_aws_config
from .targets import DiscardTarget, MotoTarget, Target
from .tools import Settings, Tool, build_tools
from .venv import BenchVenv


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
        "--read",
        action="store_true",
        help="only the read table: each tool (s3sink cat, s3sink.open rb, aws s3 cp s3://… - "
        "from PyPI (v1) and Debian (v2), s5cmd cat, rclone cat, obstore get, boto3 "
        "download_fileobj) writes a synthetic object to a pipe whose reader checks every byte; "
        "then each reads the object with one byte flipped (does it notice?)",
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
    parser.add_argument(
        "--dask",
        action="store_true",
        help="only the Dask table: partitions written through s3sink:// and s3:// (s3fs) by a "
        "local cluster (daskbench.py; its own venv, .bench-dask-venv)",
    )
    parser.add_argument("--dask-partitions", type=int, default=8, help="default 8")
    parser.add_argument(
        "--dask-size", type=parse_size, default=256 * MiB, help="per partition, default 256MiB"
    )
    args = parser.parse_args(argv)
    if args.tools is None:
        default = READ_TOOLS if args.read else FILE_TOOLS if args.file_mode else ALL_TOOLS
        args.tools = ",".join(default)
    args.tool_list = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.compression = args.compression or args.compression_only
    known = READ_TOOLS if args.read else KNOWN_TOOLS
    unknown = sorted(set(args.tool_list) - set(known))
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)} (known: {', '.join(known)})")
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
    if args.read:  # the read table's floors are rows like any (readfloor.py)
        args.floor_list = []
        if args.no_floor:
            args.tool_list = [t for t in args.tool_list if t not in FLOOR_TOOLS]
    else:
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
    if args.dask:
        return run_dask_table(args)
    venv = BenchVenv(args.venv.resolve())
    venv.create(sys.executable)
    if args.mount:
        return run_mount_table(args, venv)
    if args.read:
        return run_read(args, venv)
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
