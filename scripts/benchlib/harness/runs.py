"""Running the tools: one measured and verified upload (``run_once``: ``cat FILE | TOOL``, or
the tool alone in file mode), the interleaved rounds of a table (``run_matrix``), their results
(``RunResult``, ``Row``), the environment and AWS config every tool gets, and the input files."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .common import CHECKSUM_LABELS, PAYLOAD_HASH_LABELS, MiB, format_size, last_error_line, log
from .targets import Target, machine_busy_seconds
from .tools import Settings, Tool


@dataclass
class RunResult:
    """One upload of one file by one tool."""

    tool: str
    index: int
    ok: bool
    wall: float
    cpu: float
    maxrss_kib: int
    server_cpu: float
    exit_code: int
    counted: int | None
    reason: str = ""
    counters: dict[str, int] = field(default_factory=dict)  # the server's, during this run
    foreign_cpu: float = 0.0  # CPU seconds other processes used on the machine during the run
    parts: int = 0  # parts of the completed object (0: unknown)
    output: Path | None = None  # the tool's stdout

    @property
    def payload_hashes(self) -> dict[str, int]:
        """Data requests of this run by their x-amz-content-sha256 kind."""
        return _prefixed(self.counters, "payload_hash:")


def _prefixed(counters: dict[str, int], prefix: str) -> dict[str, int]:
    """The counters named PREFIX + name, by name."""
    return {k[len(prefix) :]: v for k, v in counters.items() if k.startswith(prefix)}


def checksum_summary(run: RunResult) -> str:
    """What a run's requests carried, as the server saw it: "64 parts; per part CRC64NVME
    (64/64); whole object CRC64NVME"."""
    sent = _prefixed(run.counters, "checksum_sent:")
    complete = _prefixed(run.counters, "checksum_complete:")
    data_requests = sum(run.payload_hashes.values())
    words = [f"{run.parts} parts" if run.parts else "single PUT or parts unknown"]
    if sent:
        words.append(
            "per request "
            + ", ".join(
                f"{CHECKSUM_LABELS.get(k, k)} ({v}/{data_requests})"
                for k, v in sorted(sent.items())
            )
        )
    else:
        words.append("no checksum on the data requests")
    if complete:
        words.append(
            "whole object " + ", ".join(CHECKSUM_LABELS.get(k, k) for k in sorted(complete))
        )
    return "; ".join(words)


def checksum_short(run: RunResult) -> str:
    """What a run's data requests and its Complete carried, for a table cell, as the server saw
    it: "CRC64NVME/part + CRC64NVME/object", "CRC32/part", "CRC64NVME/object", "none"."""
    sent = _prefixed(run.counters, "checksum_sent:")
    complete = _prefixed(run.counters, "checksum_complete:")
    data_requests = sum(run.payload_hashes.values())
    unit = "part" if run.parts else "request"
    words = [
        f"{CHECKSUM_LABELS.get(k, k)}/{unit}"
        + (f" ({v}/{data_requests})" if v < data_requests else "")
        for k, v in sorted(sent.items())
    ]
    words += [f"{CHECKSUM_LABELS.get(k, k)}/object" for k in sorted(complete)]
    return " + ".join(words) or "none"


@dataclass
class Row:
    """All runs of one tool for one (target, size)."""

    tool: Tool
    runs: list[RunResult] = field(default_factory=list)

    @property
    def good(self) -> list[RunResult]:
        """Runs that exited 0 and verified."""
        return [r for r in self.runs if r.ok]

    def payload_hash(self) -> str:
        """How the verified runs' data requests were signed, e.g. "SHA-256"."""
        kinds = sorted({kind for r in self.good for kind in r.payload_hashes})
        return ", ".join(PAYLOAD_HASH_LABELS.get(k, k) for k in kinds) or "?"

    def median(self, attribute: str) -> float:
        """Median of an attribute over verified runs."""
        return statistics.median(float(getattr(r, attribute)) for r in self.good)


def tool_env(
    base: dict[str, str], target_url: str, ca_file: str | None, config_dir: Path
) -> dict[str, str]:
    """A clean environment: dummy credentials, the local endpoint, the CA, no proxies."""
    dropped = ("AWS_", "S3SINK_", "BOTO_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {k: v for k, v in base.items() if not k.startswith(dropped) and k.lower() not in proxies}
    env.update(
        AWS_ACCESS_KEY_ID="bench-access-key",
        AWS_SECRET_ACCESS_KEY="bench-secret-key",  # noqa: S106 - a dummy for a local server
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(config_dir / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(config_dir / "aws-credentials"),
        AWS_ENDPOINT_URL=target_url,
        NO_PROXY="127.0.0.1,localhost,::1",
        no_proxy="127.0.0.1,localhost,::1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    if ca_file:
        env.update(AWS_CA_BUNDLE=ca_file, SSL_CERT_FILE=ca_file, REQUESTS_CA_BUNDLE=ca_file)
    return env


def write_aws_config(config_dir: Path, settings: Settings) -> None:
    """The AWS CLI's part size and concurrency live in the config file.

    ``payload_signing_enabled`` in the same ``s3`` section reaches every botocore client
    (awscli, boto3, smart_open, s3sink), which is how --unsigned-payload turns it off for all.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    signing = "  payload_signing_enabled = false\n" if settings.unsigned_payload else ""
    (config_dir / "aws-config").write_text(
        "[default]\n"
        "region = us-east-1\n"
        "s3 =\n"
        f"  multipart_chunksize = {settings.part_size}\n"
        f"  multipart_threshold = {settings.part_size}\n"
        f"  max_concurrent_requests = {settings.concurrency or 10}\n"
        f"{signing}"
    )
    (config_dir / "aws-credentials").write_text("")


def run_once(
    tool: Tool,
    target: Target,
    *,
    source: Path,
    size: int,
    index: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float,
    file_mode: bool = False,
    key: str | None = None,
    expected: Callable[[Path], int | None] | None = None,
) -> RunResult:
    """`cat SOURCE | TOOL` once (file mode: TOOL alone, given SOURCE by path, stdin
    /dev/null); measure and verify: the server must count ``size`` bytes, or what
    ``expected`` says from the tool's stdout (a compressed upload's stored size)."""
    size_label = format_size(size).replace(" ", "")
    if key is None:
        unique = uuid.uuid4().hex[:8]
        name = f"{tool.name}-{tool.variant}" if tool.variant else tool.name
        key = f"{target.label.lower()}/{size_label}/{name}/run{index}-{unique}"
    stem = key.replace("/", "_")
    try:
        target.ensure_running()
        cpu_before = target.server_cpu()
        counters_before = target.counters()
    except (OSError, RuntimeError, ValueError) as exc:
        reason = f"server unreachable before the run: {exc}"
        return RunResult(tool.name, index, False, 0, 0, 0, 0, -1, None, reason)
    argv = tool.command(target.url, key, source)
    out_path = workdir / f"{stem}.out"
    cat: subprocess.Popen[bytes] | None = None
    with out_path.open("wb") as out, (workdir / f"{stem}.err").open("wb") as err:
        busy_before = machine_busy_seconds()
        started = time.perf_counter()
        if not file_mode:
            cat = subprocess.Popen(
                [shutil.which("cat") or "/bin/cat", str(source)],
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            assert cat.stdout is not None  # noqa: S101 - stdout=PIPE
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL if cat is None else cat.stdout,
                stdout=out,
                stderr=err,
                env=tool.environment(env),
                cwd=workdir,
                start_new_session=True,
            )
        except OSError as exc:
            if cat is not None:
                cat.kill()
                cat.wait()
            return RunResult(tool.name, index, False, 0, 0, 0, 0, -1, None, f"cannot start: {exc}")
        finally:
            if cat is not None and cat.stdout is not None:
                cat.stdout.close()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            if cat is not None:
                with contextlib.suppress(OSError):
                    cat.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        cat_cpu = 0.0
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            if cat is not None:
                _, cat_status, cat_usage = os.wait4(cat.pid, 0)
                cat.returncode = os.waitstatus_to_exitcode(cat_status)
                cat_cpu = cat_usage.ru_utime + cat_usage.ru_stime
            busy = machine_busy_seconds() - busy_before
        finally:
            watchdog.cancel()
            watchdog.join()
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the tool's process group, if any
    cpu = usage.ru_utime + usage.ru_stime
    try:
        server_cpu = target.server_cpu() - cpu_before
        counters = {
            name: count - counters_before.get(name, 0)
            for name, count in target.counters().items()
            if count > counters_before.get(name, 0)
        }
        info = target.object_info(key)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        reason = f"server unreachable after the run: {exc}"
        return RunResult(tool.name, index, False, wall, cpu, usage.ru_maxrss, 0, 0, None, reason)
    counted = None if info is None else info[0]
    result = RunResult(
        tool.name, index, False, wall, cpu, usage.ru_maxrss, server_cpu, proc.returncode, counted
    )
    result.counters = counters
    result.parts = 0 if info is None else info[1]
    result.output = out_path
    ours = cpu + server_cpu + cat_cpu
    result.foreign_cpu = max(0.0, busy - ours)
    if timed_out.is_set():
        result.reason = f"timed out after {timeout:.0f} s"
    elif proc.returncode != 0:
        tail = (workdir / f"{stem}.out").read_text(errors="replace")
        tail += (workdir / f"{stem}.err").read_text(errors="replace")
        result.reason = f"exit {proc.returncode}: {last_error_line(tail)}"
    elif counted != (want := size if expected is None else expected(out_path)):
        result.reason = f"not verified: server counted {counted} of {want} bytes"
    elif cat is not None and cat.returncode != 0:
        result.reason = f"cat exited {cat.returncode}"
    else:
        result.ok = True
    return result


def make_input(data_dir: Path, size: int) -> Path:
    """A file of random bytes, made once and reused; then read once to warm the page cache."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"random-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        log(f"writing {format_size(size)} of random data to {path}")
        partial = path.with_suffix(".partial")
        block = 16 * MiB
        with partial.open("wb") as out:
            left = size
            while left:
                n = min(block, left)
                out.write(os.urandom(n))
                left -= n
        partial.replace(path)
    with path.open("rb") as warm:
        while warm.read(16 * MiB):
            pass
    return path


def run_matrix(
    tools: dict[str, Tool],
    target: Target,
    *,
    sizes: Sequence[int],
    inputs: dict[int, Path],
    runs: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float | None,
    file_mode: bool = False,
) -> dict[int, list[Row]]:
    """Every size: `runs` rounds of every available tool, interleaved."""
    table: dict[int, list[Row]] = {}
    for size in sizes:
        rows = [Row(tool) for tool in tools.values()]
        table[size] = rows
        limit = timeout or 60 + size / (8 * MiB)
        for index in range(1, runs + 1):
            for row in rows:
                if row.tool.unavailable:
                    continue
                log(f"{target.label} {format_size(size)} run {index}/{runs}: {row.tool.label}")
                result = run_once(
                    row.tool,
                    target,
                    source=inputs[size],
                    size=size,
                    index=index,
                    env=env,
                    workdir=workdir,
                    timeout=limit,
                    file_mode=file_mode,
                    expected=row.tool.expected,
                )
                row.runs.append(result)
                if result.ok:
                    rate = size / MiB / result.wall
                    log(f"  ok {result.wall:.2f} s, {rate:.0f} MiB/s, CPU {result.cpu:.2f} s")
                else:
                    log(f"  FAILED: {result.reason}")
    return table
