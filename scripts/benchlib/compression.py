"""The benchmark's compression row: s3sink compressing in-process against the zstd CLI in a
shell pipeline, on a deterministic text-like corpus.

Three pipelines upload the same corpus, zstd level 3 (both tools' default) with a content
checksum (the zstd CLI writes one by default, s3sink always), all cores:

- ``s3sink URI --compress zstd --json -- cat FILE`` (exec mode: s3sink compresses),
- ``sh -c 'cat FILE | zstd -T0 -3 -q -c | s3sink URI'``,
- ``sh -c 'cat FILE | zstd -T0 -3 -q -c | aws s3 cp - URI'``.

The harness (``harness/``) runs them like any tool, with stdin /dev/null, so the CPU it
takes from ``wait4`` is the whole pipeline's (cat and zstd included), and verifies each run
by the discard server's byte count: the zstd CLI's output size for the shell pipelines
(computed once, untimed), the ``size`` s3sink reports in ``--json`` for s3sink (whose
``source_size`` must be the corpus's size). CPU is reported per GiB of *input*, and CPU ÷
wall shows how many cores a pipeline kept busy (above 1: multi-threaded compression).
"""

from __future__ import annotations

import json
import random
import shlex
import shutil
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
GiB = 1024 * MiB
LEVEL = 3
CORPUS_VERSION = 1  # bump when the generator changes: cached corpora are named by it

_BASE_LINES = 200_000  # distinct line bodies; every block reorders and re-stamps them
_LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")


def corpus_lines(seed: int = 15) -> list[str]:
    """Log-like line bodies: a Zipf-ish vocabulary, pids, request ids, durations."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(4000)]
    weights = [1 / (rank + 1) for rank in range(len(vocab))]
    words = rng.choices(vocab, weights, k=_BASE_LINES * 9)
    lines = []
    for i in range(_BASE_LINES):
        text = " ".join(words[i * 9 : i * 9 + rng.randint(4, 9)])
        lines.append(
            f"{rng.choice(_LEVELS)} pid={rng.randint(100, 65535)} req={rng.getrandbits(48):012x} "
            f"{text} took={rng.randint(1, 5000)}ms\n"
        )
    return lines


def write_corpus(path: Path, size: int, seed: int = 15) -> None:
    """``size`` bytes of text-like lines, the same for the same (size, seed): blocks of the
    base lines, each block shuffled anew and stamped with increasing timestamps, so that no
    long stretch repeats (which zstd's window would find and inflate the ratio with)."""
    rng = random.Random(seed)
    base = corpus_lines(seed)
    stamp = 1_700_000_000_000
    left = size
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        while left > 0:
            order = base[:]
            rng.shuffle(order)
            chunk = []
            for line in order:
                stamp += rng.randint(1, 400)
                chunk.append(f"{stamp} {line}")
            data = "".join(chunk).encode()[:left]
            out.write(data)
            left -= len(data)
    partial.replace(path)


def make_corpus(data_dir: Path, size: int) -> Path:
    """The corpus file for ``size``, made once and reused."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"corpus-v{CORPUS_VERSION}-{size}.txt"
    if not path.exists() or path.stat().st_size != size:
        write_corpus(path, size)
    with path.open("rb") as warm:  # into the page cache, as make_input does
        while warm.read(16 * MiB):
            pass
    return path


def zstd_binary() -> str | None:
    """The zstd CLI (Debian's ``zstd`` package), if on PATH."""
    return shutil.which("zstd")


def zstd_command(zstd: str) -> list[str]:
    return [zstd, "-T0", f"-{LEVEL}", "-q", "-c"]


def zstd_size(zstd: str, source: Path) -> int:
    """How many bytes ``zstd -T0 -3 -c`` makes of ``source`` (its output is the same for
    any number of threads, so the shell pipelines must store exactly this many)."""
    with (
        source.open("rb") as data,
        subprocess.Popen([*zstd_command(zstd), "-"], stdin=data, stdout=subprocess.PIPE) as proc,
    ):
        assert proc.stdout is not None  # noqa: S101 - stdout=PIPE
        total = 0
        while block := proc.stdout.read(4 * MiB):
            total += len(block)
    if proc.returncode != 0:
        raise RuntimeError(f"zstd exited {proc.returncode} compressing {source}")
    return total


@dataclass
class Pipeline:
    """One row: a name, how it is run, and how its stored size is known."""

    name: str
    config: str
    argv: Callable[[str, str, Path], list[str]] | None = None
    unavailable: str = ""
    # The bytes the server must count, from the run's stdout file (None: not verifiable).
    expected: Callable[[Path], int | None] | None = None


def s3sink_expected(source_size: int) -> Callable[[Path], int | None]:
    """s3sink's stored size from its --json, if it read exactly the corpus."""

    def expected(stdout: Path) -> int | None:
        try:
            result = json.loads(stdout.read_text())
        except (OSError, ValueError):
            return None
        if result.get("source_size") != source_size:
            return None
        size = result.get("size")
        return size if isinstance(size, int) else None

    return expected


def pipelines(
    s3sink_argv: Callable[[str, str, Path], list[str]] | None,
    aws_argv: Callable[[str, str, Path], list[str]] | None,
    zstd: str | None,
    *,
    source_size: int,
    zstd_output: int | None,
    unavailable: dict[str, str] | None = None,
) -> list[Pipeline]:
    """The three rows. ``s3sink_argv`` and ``aws_argv`` are the pipe-mode tools' argv
    builders (stdin to s3://bench/KEY); ``zstd`` the CLI's path (None: those rows say so)."""
    why = unavailable or {}
    rows: list[Pipeline] = []
    s3sink = Pipeline(
        "s3sink --compress zstd",
        "`s3sink s3://… --compress zstd --json -- cat FILE` (zstandard, threads=-1, "
        "content checksum)",
    )
    if s3sink_argv is None:
        s3sink.unavailable = why.get("s3sink", "s3sink unavailable")
    else:
        base = s3sink_argv

        def in_process(url: str, key: str, source: Path) -> list[str]:
            return [*base(url, key, source), "--compress", f"zstd:{LEVEL}", "--json",
                    "--", "cat", str(source)]  # fmt: skip

        s3sink.argv = in_process
        s3sink.expected = s3sink_expected(source_size)
    rows.append(s3sink)
    for name, argv, label in (
        ("zstd -T0 | s3sink", s3sink_argv, "s3sink s3://…"),
        ("zstd -T0 | aws s3 cp -", aws_argv, "aws s3 cp - s3://…"),
    ):
        row = Pipeline(name, f"`sh -c 'cat FILE | zstd -T0 -{LEVEL} -q -c | {label}'`")
        tool = "s3sink" if "s3sink" in name else "awscli"
        if zstd is None:
            row.unavailable = "no zstd CLI on PATH: apt-get install zstd"
        elif argv is None:
            row.unavailable = why.get(tool, f"{tool} unavailable")
        else:
            row.argv = _shell(zstd, argv)
            wanted = zstd_output
            row.expected = lambda _stdout, wanted=wanted: wanted
        rows.append(row)
    return rows


def _shell(
    zstd: str, consumer: Callable[[str, str, Path], list[str]]
) -> Callable[[str, str, Path], list[str]]:
    def build(url: str, key: str, source: Path) -> list[str]:
        script = " | ".join(
            [
                shlex.join(["cat", str(source)]),
                shlex.join(zstd_command(zstd)),
                shlex.join(consumer(url, key, source)),
            ]
        )
        # pipefail: a failing cat or zstd fails the run, not only the last command.
        return ["bash", "-o", "pipefail", "-c", script]

    return build


def render_compression_table(
    rows: Sequence[tuple[Pipeline, Sequence[Any]]],
    size: int,
    runs: int,
    target_label: str,
) -> list[str]:
    """The Markdown table: per pipeline, medians of the verified runs (``RunResult``s)."""
    gib = size / GiB
    lines = [
        f"### Compression, {target_label}, {size / MiB:.0f} MiB text-like corpus — zstd "
        f"level {LEVEL}, median of {runs} interleaved run(s)",
        "",
        "| pipeline | wall s | input MiB/s | CPU s per GiB of input | CPU ÷ wall (cores busy) "
        "| stored MiB | ratio | peak RSS MiB (largest process) | runs ok |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes: list[str] = []
    for pipeline, results in rows:
        name = pipeline.name.replace("|", "\\|")  # a pipe in a Markdown cell ends the cell
        if pipeline.unavailable:
            lines.append(f"| {name} | unavailable: {pipeline.unavailable} |"
                         f"{' — |' * 7} 0/0 |")  # fmt: skip
            continue
        good = [r for r in results if r.ok]
        notes += [f"- {pipeline.name} run {r.index}: FAILED — {r.reason}" for r in results
                  if not r.ok]  # fmt: skip
        if not good:
            reason = results[0].reason if results else "no runs"
            lines.append(f"| {name} | FAILED: {reason} |{' — |' * 7} 0/{len(results)} |")
            continue

        def med(attribute: str, good: list[Any] = good) -> float:
            return statistics.median(float(getattr(r, attribute)) for r in good)

        wall, cpu, stored = med("wall"), med("cpu"), med("counted")
        lines.append(
            f"| {name} | {wall:.2f} | {size / MiB / wall:.0f} | {cpu / gib:.2f} | "
            f"{cpu / wall:.2f} | {stored / MiB:.1f} | {size / stored:.2f} | "
            f"{med('maxrss_kib') / 1024:.0f} | {len(good)}/{len(results)} |"
        )
    lines += ["", "How each pipeline ran:", ""]
    lines += [f"- {p.name}: {p.config}" for p, _ in rows]
    if notes:
        lines += ["", "Failed runs (not counted in the medians):", "", *notes]
    return [*lines, ""]
