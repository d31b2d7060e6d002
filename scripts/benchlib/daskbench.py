"""``scripts/bench --dask``: a Dask cluster writing N partitions of SIZE bytes each through
``s3sink://`` and through ``s3://`` (s3fs), same cluster, same discard server, interleaved.

One ``distributed.LocalCluster`` (``--workers`` processes, one thread each, 127.0.0.1, no
dashboard); each partition is one task that writes SIZE bytes through ``fsspec.open(url,
"wb", **storage_options)`` in 8 MiB writes (one random 8 MiB block, made once per task), each
tool at its defaults (s3sink: 16 MiB parts, 4 in flight, CRC64NVME, unsigned payload; s3fs:
50 MiB blocks, one part at a time, and botocore's own checksum and payload signing). The
workers are restarted before each tool's run, so a worker's peak RSS is that run's.

Rows: wall time (first submit to last result), the workers' CPU seconds per GiB written (user
+ system, their whole processes), the largest peak RSS of a worker and its RSS at rest, and
whether the discard server received every object whole. Run in a venv with s3sink[fsspec],
dask[distributed] and s3fs (``scripts/bench --dask`` makes one, ``.bench-dask-venv``):
``python scripts/benchlib/daskbench.py --url http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

MiB = 1 << 20
GiB = 1 << 30
WRITE = 8 * MiB
BUCKET = "bench"


def write_partition(url: str, size: int, options: dict[str, Any]) -> int:
    """One task: ``size`` bytes to ``url`` through fsspec, in 8 MiB writes."""
    import fsspec

    block = os.urandom(WRITE)
    done = 0
    with fsspec.open(url, "wb", **options) as f:
        while done < size:
            n = min(WRITE, size - done)
            f.write(block[:n] if n < WRITE else block)
            done += n
    return done


def worker_usage() -> dict[str, float]:
    """This worker process's CPU seconds so far and its peak and current RSS (MiB)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "rss_mib": resident / MiB,
    }


@dataclass
class Run:
    tool: str
    wall: float
    cpu_per_gib: float
    peak_mib: float
    rest_mib: float
    whole: bool


def options_for(tool: str, url: str) -> tuple[str, dict[str, Any]]:
    """The URL scheme and the storage options of ``tool`` for the discard server at ``url``."""
    if tool == "s3sink":
        return "s3sink", {"endpoint_url": url}
    return "s3", {
        "client_kwargs": {"endpoint_url": url},
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
    }


def arrived(url: str, key: str, size: int) -> bool:
    """Whether the discard server completed ``key`` with ``size`` bytes."""
    query = urllib.parse.quote(f"{BUCKET}/{key}", safe="")
    with urllib.request.urlopen(f"{url}/__stats?object={query}", timeout=30) as answer:  # noqa: S310 - loopback
        stats = json.load(answer)
    record = stats.get("object") or {}
    return int(record.get("size", -1)) == size


def run_tool(client: Any, tool: str, url: str, args: argparse.Namespace, round_: int) -> Run:
    """Restart the workers, write the partitions, read the workers' usage."""
    from distributed import wait

    client.restart()
    rest = client.run(worker_usage)
    scheme, options = options_for(tool, url)
    keys = [f"{tool}/r{round_}/part-{i}" for i in range(args.partitions)]
    start = time.perf_counter()
    futures = [
        client.submit(write_partition, f"{scheme}://{BUCKET}/{k}", args.size, options, pure=False)
        for k in keys
    ]
    wait(futures)
    wall = time.perf_counter() - start
    for future in futures:
        future.result()  # raise a task's error here
    after = client.run(worker_usage)
    cpu = sum(after[w]["cpu"] - rest[w]["cpu"] for w in after)
    total = args.partitions * args.size
    return Run(
        tool=tool,
        wall=wall,
        cpu_per_gib=cpu / (total / GiB),
        peak_mib=max(u["peak_mib"] for u in after.values()),
        rest_mib=max(u["rss_mib"] for u in rest.values()),
        whole=all(arrived(url, k, args.size) for k in keys),
    )


def render(runs: list[Run], args: argparse.Namespace) -> str:
    """The Markdown table: one row per run, tools interleaved."""
    total = args.partitions * args.size
    lines = [
        f"Dask, {args.workers} worker processes x 1 thread, {args.partitions} partitions x "
        f"{args.size // MiB} MiB ({total / GiB:.2f} GiB) to the discard server over HTTP, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs",
        "",
        "| tool | wall s | MiB/s | worker CPU s/GiB | peak RSS/worker MiB | at rest MiB | whole |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        label = "s3sink:// (s3sink)" if run.tool == "s3sink" else "s3:// (s3fs)"
        lines.append(
            f"| {label} | {run.wall:.2f} | {total / MiB / run.wall:.0f} | "
            f"{run.cpu_per_gib:.2f} | {run.peak_mib:.0f} | {run.rest_mib:.0f} | "
            f"{'yes' if run.whole else 'NO'} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="the discard server's endpoint")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--size", type=int, default=256 * MiB, help="bytes per partition")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="interleaved rounds")
    parser.add_argument("--tools", default="s3sink,s3fs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the cluster, run the rounds, print the table."""
    from distributed import Client, LocalCluster

    args = parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench-access-key")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret-key")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    runs: list[Run] = []
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        for round_ in range(args.runs):
            for tool in tools:
                run = run_tool(client, tool, args.url, args, round_)
                print(f"{tool}: {run}", file=sys.stderr, flush=True)
                runs.append(run)
    print(render(runs, args))
    return 0 if all(r.whole for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
