"""The compression row (``--compression``): the three pipelines of ``compression.py`` on its
corpus, run and verified like any tool, interleaved, and rendered as their table."""

from __future__ import annotations

from pathlib import Path

from .. import compression
from .common import format_size, log
from .runs import RunResult, run_once
from .targets import Target
from .tools import Tool


def run_compression(
    tools: dict[str, Tool],
    target: Target,
    *,
    size: int,
    data_dir: Path,
    runs: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float,
) -> tuple[list[tuple[compression.Pipeline, list[RunResult]]], str]:
    """``runs`` interleaved rounds of the three compression pipelines on the corpus of
    ``size``; returns the rows and the rendered table."""
    corpus = compression.make_corpus(data_dir, size)
    zstd = compression.zstd_binary()
    zstd_output = compression.zstd_size(zstd, corpus) if zstd else None
    usable = {n: t for n, t in tools.items() if not t.unavailable}
    pipelines = compression.pipelines(
        usable["s3sink"].argv if "s3sink" in usable else None,
        usable["awscli"].argv if "awscli" in usable else None,
        zstd,
        source_size=size,
        zstd_output=zstd_output,
        unavailable={n: t.unavailable for n, t in tools.items() if t.unavailable},
    )
    rows: list[tuple[compression.Pipeline, list[RunResult]]] = [(p, []) for p in pipelines]
    for index in range(1, runs + 1):
        for pipeline, results in rows:
            if pipeline.unavailable:
                continue
            log(f"{target.label} compression {format_size(size)} run {index}/{runs}: "
                f"{pipeline.name}")  # fmt: skip
            tool = Tool(pipeline.name, pipeline.config, argv=pipeline.argv)
            result = run_once(
                tool, target, source=corpus, size=size, index=index, env=env,
                workdir=workdir, timeout=timeout, file_mode=True, expected=pipeline.expected,
            )  # fmt: skip
            results.append(result)
            if result.ok:
                log(f"  ok {result.wall:.2f} s, CPU {result.cpu:.2f} s, {result.counted} B stored")
            else:
                log(f"  FAILED: {result.reason}")
    table = compression.render_compression_table(rows, size, runs, target.label)
    return rows, "\n".join(table)
