"""``scripts/bench --dask``: the Dask table (``benchlib/daskbench.py``) run in its own venv,
``.bench-dask-venv`` (s3sink[fsspec] from the repo, dask[distributed], s3fs: s3fs pins
botocore through aiobotocore, which the other tables' venv should not inherit), against a
discard server over HTTP that ``targets.DiscardTarget`` starts."""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from .common import REPO, log
from .runs import tool_env
from .targets import DiscardTarget
from .venv import BenchVenv

DASKBENCH = Path(__file__).resolve().parents[1] / "daskbench.py"
# aiobotocore 3.10.0's botocore pin: given to pip, it resolves at once (see pyproject.toml).
PINS = ("botocore>=1.43.115,<1.43.118", "boto3>=1.43.115,<1.43.118")


def run_dask_table(args: argparse.Namespace) -> int:
    """Install (unless --no-install), start the discard server, run daskbench, print."""
    venv = BenchVenv((REPO / ".bench-dask-venv").resolve())
    venv.create(os.environ.get("BENCH_PYTHON") or "python3")
    if not args.no_install:
        ok, output = venv.pip_install(f"{REPO}[fsspec]", "dask[distributed]", "s3fs", *PINS)
        if not ok:
            log(output[-2000:])
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="s3sink-bench-dask-"))
    target = DiscardTarget(False, workdir, etag_md5=False)
    try:
        env = tool_env(dict(os.environ), target.url, None, workdir / "config")
        argv = [
            str(venv.python),
            str(DASKBENCH),
            "--url",
            target.url,
            "--runs",
            str(args.runs),
            "--partitions",
            str(args.dask_partitions),
            "--size",
            str(args.dask_size),
        ]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    finally:
        target.stop()
    (workdir / "daskbench.log").write_text(done.stderr)
    log(f"daskbench log in {workdir / 'daskbench.log'}")
    print(done.stdout)
    if args.output:
        args.output.write_text(done.stdout)
    return done.returncode
