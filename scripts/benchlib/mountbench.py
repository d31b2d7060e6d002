"""The benchmark's mount table (``scripts/bench --mount``): the same bytes written through
``s3sink mount``, through s3sink's stdin, and through s3fs-fuse (Debian's ``s3fs``), side by
side in one run, to the discard server over HTTP; and through two filesystems that upload
nothing and drop every write (``nullfs.c``, compiled against libfuse 3 when a C compiler and
libfuse3-dev are there, and ``nullfs.py``, over mfusepy as s3sink mount), the ceilings of a
mount on this machine: what the FUSE round trip alone costs.

Two writers, each the same in every path:

- ``dd bs=1M``: the input file in 1 MiB writes;
- ``tar -cf``: an archive of the input file, in tar's default 10 KiB records (one FUSE request
  each through a mount).

Through stdin they are ``dd … | s3sink URI`` and ``tar -cf - … | s3sink URI``. A mount is
started before a round's writes and unmounted after them, untimed; a write is timed from the
writer's start to its exit, which through s3sink mount includes the commit at close (through
s3fs, too: it uploads at close). CPU per GiB is the writer's and the filesystem process's (for
stdin, the whole pipeline's), the server's apart. Every run is verified by the discard
server's byte count for its object (a no-op filesystem's by the size it reports for the
file). Not at equal work: s3fs signs each payload with SHA-256
and stages it in a temporary file; s3sink sends CRC64NVME checksums.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
WRITERS = ("dd bs=1M", "tar -cf")
NULL_C = "no-op FUSE, C"
NULL_PY = "no-op FUSE, Python"
PATHS = ("stdin", "s3sink mount", "s3fs-fuse", NULL_C, NULL_PY)
HERE = Path(__file__).resolve().parent


@dataclass
class MountRun:
    """One writer's upload through one path."""

    ok: bool
    wall: float = 0.0
    cpu: float = 0.0  # writer + filesystem (or the whole pipeline), seconds
    server_cpu: float = 0.0
    reason: str = ""


@dataclass
class MountRow:
    path: str
    writer: str
    runs: list[MountRun] = field(default_factory=list)
    missing: str = ""  # why the path did not run at all

    def good(self) -> list[MountRun]:
        return [r for r in self.runs if r.ok]

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.good())


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def writer_commands(source: Path, destination: str) -> dict[str, list[str]]:
    """Each writer writing ``source`` to ``destination`` (a path, or "-" for stdout)."""
    return {
        "dd bs=1M": ["dd", f"if={source}", f"of={destination}", "bs=1M", "status=none"]
        if destination != "-"
        else ["dd", f"if={source}", "bs=1M", "status=none"],
        "tar -cf": ["tar", "-cf", destination, "-C", str(source.parent), source.name],
    }


def tar_size(source: Path) -> int:
    """The size of ``tar -cf`` of ``source`` (computed once, untimed)."""
    argv = writer_commands(source, "-")["tar -cf"]
    total = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL) as tar:
        assert tar.stdout is not None  # noqa: S101 - stdout=PIPE
        while chunk := tar.stdout.read(MiB):
            total += len(chunk)
    return total


@dataclass
class Mounted:
    path: Path
    process: subprocess.Popen[bytes]
    stop: Callable[[], str]  # unmount; returns what went wrong, or ""


@contextmanager
def foreground_mount(
    argv: Callable[[Path], list[str]],
    workdir: Path,
    name: str,
    env: dict[str, str] | None = None,
    unmount: str = "fusermount3",
) -> Iterator[Mounted]:
    """A filesystem process started as ``argv(mount point)``, in the foreground until
    unmounted with ``unmount -u``; its output in ``workdir/name.log``. Left mounted (a
    failed run), it is unmounted lazily and killed."""
    point = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    log = (workdir / f"{name}.log").open("ab")
    process = subprocess.Popen(
        argv(point), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )

    def stop() -> str:
        subprocess.run([unmount, "-u", str(point)], check=False, capture_output=True)
        code = process.wait(timeout=600)
        return "" if code == 0 else f"{name} exited {code}; see {log.name}"

    try:
        _wait_mounted(point, process)
        yield Mounted(point, process, stop)
    finally:
        if process.poll() is None:
            subprocess.run([unmount, "-uz", str(point)], check=False, capture_output=True)
            process.kill()
            process.wait()
        log.close()


def s3sink_mount(
    s3sink: Path, url: str, env: dict[str, str], workdir: Path, part_size: int
) -> AbstractContextManager[Mounted]:
    def argv(point: Path) -> list[str]:
        mount = [str(s3sink), "mount", "s3://bench/mnt", str(point)]
        return [*mount, "--endpoint-url", url, "--part-size", f"{part_size // MiB}MiB"]

    return foreground_mount(argv, workdir, "s3sink-mount", env)


def build_nullfs(workdir: Path) -> Path | str:
    """``nullfs.c`` compiled into ``workdir``, or why it could not be."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or shutil.which("pkg-config") is None:
        return "needs a C compiler and pkg-config (apt-get install gcc pkg-config libfuse3-dev)"
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True, text=True, check=False
    )
    if flags.returncode != 0:
        return "needs libfuse3's headers (apt-get install libfuse3-dev)"
    binary = workdir / "nullfs"
    argv = [compiler, "-O2", "-o", str(binary), str(HERE / "nullfs.c"), *flags.stdout.split()]
    built = subprocess.run(argv, capture_output=True, text=True, check=False)
    if built.returncode != 0:
        return f"nullfs.c did not build: {(built.stderr.strip().splitlines() or ['?'])[-1]}"
    return binary


def null_mount(argv: list[str], workdir: Path, name: str) -> AbstractContextManager[Mounted]:
    """A no-op filesystem: ``argv`` + the mount point."""
    return foreground_mount(lambda point: [*argv, str(point)], workdir, name)


def s3fs_mount(url: str, workdir: Path, part_size: int) -> AbstractContextManager[Mounted]:
    """s3fs-fuse with the parts and parallelism closest to s3sink's defaults, no cache."""
    secrets = workdir / "s3fs-passwd"
    secrets.write_text("bench-access-key:bench-secret-key\n")
    secrets.chmod(0o600)

    def argv(point: Path) -> list[str]:
        words = ["s3fs", "bench", str(point), "-f", "-o", f"url={url}"]
        for option in (
            "use_path_request_style",
            f"passwd_file={secrets}",
            f"multipart_size={part_size // MiB}",
            "parallel_count=8",
            "nomixupload",
            "endpoint=us-east-1",
        ):
            words += ["-o", option]
        return words

    # s3fs 1.90 is a libfuse 2 program: its own fusermount unmounts it.
    unmount = shutil.which("fusermount") or "fusermount3"
    return foreground_mount(argv, workdir, "s3fs", unmount=unmount)


def _wait_mounted(point: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not os.path.ismount(point):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the mount at {point} did not come up")
        time.sleep(0.05)


def timed(
    argv: list[str], *, env: dict[str, str], fs_pid: int | None, server_cpu: Callable[[], float]
) -> MountRun:
    """Run one writer; wall, CPU (its own, its children's, and the filesystem process's)."""
    fs0 = _proc_cpu(fs_pid) if fs_pid else 0.0
    c0, s0, t0 = _children_cpu(), server_cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - c0 + ((_proc_cpu(fs_pid) - fs0) if fs_pid else 0.0)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return MountRun(False, wall, cpu, reason=f"exit {done.returncode}: {reason[0]}")
    return MountRun(True, wall, cpu, server_cpu() - s0)


def run_mount_bench(
    *,
    source: Path,
    runs: int,
    url: str,
    env: dict[str, str],
    s3sink: Path,
    workdir: Path,
    part_size: int,
    server_cpu: Callable[[], float],
    counted: Callable[[str], int | None],
    log: Callable[[str], None] = print,
) -> list[MountRow]:
    """``runs`` interleaved rounds of every (path, writer); each run verified by
    ``counted(key)``, the server's byte count for the object."""
    expected = {"dd bs=1M": source.stat().st_size, "tar -cf": tar_size(source)}
    rows = {(p, w): MountRow(p, w) for p in PATHS for w in WRITERS}
    if shutil.which("s3fs") is None:
        for w in WRITERS:
            rows["s3fs-fuse", w].missing = "s3fs not installed (Debian: apt-get install s3fs)"
    nullfs: Path | str = "no FUSE here (/dev/fuse, fuse3)"
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse"):
        for path in ("s3sink mount", NULL_C, NULL_PY):
            for w in WRITERS:
                rows[path, w].missing = "no FUSE here (/dev/fuse, fuse3)"
    else:
        nullfs = build_nullfs(workdir)
        if isinstance(nullfs, str):
            for w in WRITERS:
                rows[NULL_C, w].missing = nullfs
    python = s3sink.parent / "python"  # the venv's, which has s3sink's mfusepy

    def check(run: MountRun, key: str, writer: str) -> MountRun:
        if run.ok and counted(key) != expected[writer]:
            run.ok, run.reason = False, f"server counted {counted(key)} of {expected[writer]} bytes"
        return run

    parts = f"{part_size // MiB}MiB"
    for index in range(1, runs + 1):
        for writer in WRITERS:
            key = f"stdin-{uuid.uuid4().hex[:8]}"
            to = shlex.join(writer_commands(source, "-")[writer])
            sink = shlex.join([str(s3sink), f"s3://bench/{key}", "-q", "--part-size", parts])
            log(f"mount table, round {index}/{runs}: stdin {writer}")
            pipeline = ["bash", "-o", "pipefail", "-c", f"{to} | {sink}"]
            run = timed(pipeline, env=env, fs_pid=None, server_cpu=server_cpu)
            rows["stdin", writer].runs.append(check(run, key, writer))
        for path, start in (
            ("s3sink mount", lambda: s3sink_mount(s3sink, url, env, workdir, part_size)),
            ("s3fs-fuse", lambda: s3fs_mount(url, workdir, part_size)),
            (NULL_C, lambda: null_mount([str(nullfs), "-f"], workdir, "nullfs-c")),
            (
                NULL_PY,
                lambda: null_mount([str(python), str(HERE / "nullfs.py")], workdir, "nullfs-py"),
            ),
        ):
            if rows[path, WRITERS[0]].missing:
                continue
            log(f"mount table, round {index}/{runs}: {path}")
            try:
                with start() as mounted:
                    keys = {}
                    for writer in WRITERS:
                        name = f"{path.split()[0]}-{uuid.uuid4().hex[:8]}"
                        keys[writer] = f"mnt/{name}" if path == "s3sink mount" else name
                        argv = writer_commands(source, str(mounted.path / name))[writer]
                        pid = mounted.process.pid
                        run = timed(argv, env=env, fs_pid=pid, server_cpu=server_cpu)
                        if path in (NULL_C, NULL_PY):
                            got = (mounted.path / name).stat().st_size
                            if run.ok and got != expected[writer]:
                                run.ok = False
                                run.reason = f"the filesystem got {got} of {expected[writer]} bytes"
                        rows[path, writer].runs.append(run)
                    problem = mounted.stop()
            except RuntimeError as exc:
                problem = str(exc)
            for writer in WRITERS:
                row_runs = rows[path, writer].runs
                if len(row_runs) < index:
                    row_runs.append(MountRun(False, reason=problem))
                elif problem:
                    row_runs[-1].ok, row_runs[-1].reason = False, problem
                elif path not in (NULL_C, NULL_PY):  # those were checked while mounted
                    check(row_runs[-1], keys[writer], writer)
    return list(rows.values())


def render_mount_table(rows: list[MountRow], size: int, runs: int) -> str:
    """The Markdown table: MiB/s and CPU s/GiB per writer, and the share of stdin's speed."""
    stdin = {r.writer: r for r in rows if r.path == "stdin"}
    lines = [
        f"### Through a mount: {size // MiB} MiB, HTTP, median of {runs} interleaved rounds",
        "",
        "| path | " + " | ".join(f"`{w}` MiB/s | vs stdin | CPU s/GiB" for w in WRITERS) + " |",
        "|---|" + "--:|--:|--:|" * len(WRITERS),
    ]
    by_path: dict[str, list[MountRow]] = {}
    for row in rows:
        by_path.setdefault(row.path, []).append(row)
    for path, path_rows in by_path.items():
        cells = []
        for row in path_rows:
            if row.missing or not row.good():
                why = row.missing or "; ".join(sorted({r.reason for r in row.runs})) or "no run"
                cells += [f"failed: {why}" if not row.missing else why, "", ""]
                continue
            wall = row.median("wall")
            base = stdin[row.writer].good()
            share = f"{stdin[row.writer].median('wall') / wall:.0%}" if base else ""
            cells += [
                f"{size / MiB / wall:.0f}",
                share,
                f"{row.median('cpu') / (size / GiB):.2f}",
            ]
        lines.append(f"| {path} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each write is timed to the writer's exit (the commit at close included); stdin's "
        "time includes s3sink's start-up (about 0.3 s), a mount's is before it. CPU: the "
        "writer's and the filesystem process's (stdin: the whole pipeline's), per GiB of input. "
        "tar writes 10 KiB records, each one FUSE request through a mount. The no-op rows "
        "upload nothing: filesystems that drop every write (direct I/O, libfuse's "
        "multi-threaded loop), compiled and over mfusepy, the ceilings of any mount here. "
        "Not at equal work: s3fs signs payloads with SHA-256 and stages them in a temporary "
        "file.",
        "",
    ]
    return "\n".join(lines)
