"""The resume row (``--file-mode``): s3sink ``--file --resumable`` fresh, then a run the discard
server's fault switch fails after a fraction of its parts (it keeps its upload), then the timed
``--resume`` of that upload; and the resume table."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import MiB, fmt, format_size, log, one_line
from .runs import RunResult, run_once
from .targets import DiscardTarget
from .tools import Tool


@dataclass
class ResumeRound:
    """One round of the resume row: a fresh upload, a run failed after ~90 % of its parts
    (the setup), and the timed resume of what that run kept."""

    index: int
    fresh: RunResult
    setup: RunResult | None = None
    resume: RunResult | None = None
    parts: int = 0  # parts of the fresh upload (the resume's are the same)
    fault_above: int = 0  # the fault switch failed UploadPart above this part number
    parts_skipped: int = 0  # from the resume's --json
    bytes_skipped: int = 0
    reason: str = ""  # why the round did not give a resume number

    @property
    def ok(self) -> bool:
        """The round gave a verified fresh upload and a verified resume."""
        return not self.reason and self.resume is not None and self.resume.ok

    @property
    def bytes_sent(self) -> int:
        """Payload bytes the server received during the resume (its own count)."""
        return 0 if self.resume is None else self.resume.counters.get("payload_bytes", 0)


def _json_result(run: RunResult) -> dict[str, Any]:
    """The --json object a run printed on stdout ({} if none)."""
    if run.output is None:
        return {}
    for line in reversed(run.output.read_text(errors="replace").splitlines()):
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict):
                return data
    return {}


def _with_args(tool: Tool, name: str, *extra: str) -> Tool:
    """A copy of ``tool`` named ``name`` whose command ends in ``extra``."""
    base = tool.argv
    assert base is not None  # noqa: S101 - only for available tools

    def build(url: str, key: str, source: Path) -> list[str]:
        return [*base(url, key, source), *extra]

    return dataclasses.replace(tool, name=name, argv=build)


def run_resume(
    tool: Tool,
    target: DiscardTarget,
    *,
    size: int,
    source: Path,
    runs: int,
    env: dict[str, str],
    workdir: Path,
    timeout: float,
    fraction: float,
) -> list[ResumeRound]:
    """``runs`` rounds of: s3sink --file --resumable (fresh); the same with the fault switch on
    above ``fraction`` of its parts and --max-attempts 1, so it fails and keeps the upload;
    then --resumable --resume (timed: it lists the parts, checks the stored ones against the
    file, sends the rest and completes)."""
    env = {**env, "XDG_STATE_HOME": str(workdir / "state")}
    fresh_tool = _with_args(tool, "s3sink fresh", "--resumable", "--json")
    setup_tool = _with_args(tool, "s3sink kept", "--resumable", "--max-attempts", "1", "--json")
    resume_tool = _with_args(tool, "s3sink resume", "--resumable", "--resume", "--json")
    label = format_size(size).replace(" ", "")
    rounds: list[ResumeRound] = []
    upload = functools.partial(
        run_once, target=target, source=source, size=size, env=env, workdir=workdir
    )
    for index in range(1, runs + 1):
        log(f"{target.label} {format_size(size)} resume round {index}/{runs}: fresh")
        fresh = upload(fresh_tool, index=index, timeout=timeout, file_mode=True)
        round_ = ResumeRound(index, fresh)
        rounds.append(round_)
        if not fresh.ok:
            round_.reason = f"fresh upload: {fresh.reason}"
            log(f"  FAILED: {round_.reason}")
            continue
        round_.parts = int(_json_result(fresh).get("parts") or fresh.parts)
        if round_.parts < 2:
            round_.reason = f"{round_.parts} part(s): nothing to resume (use a larger size)"
            continue
        round_.fault_above = max(1, min(round_.parts - 1, int(round_.parts * fraction)))
        key = f"{target.label.lower()}/{label}/s3sink-resume/run{index}-{uuid.uuid4().hex[:8]}"
        log(
            f"  ok {fresh.wall:.2f} s; setup: fail parts above {round_.fault_above} "
            f"of {round_.parts}"
        )
        try:
            target.set_part_fault(round_.fault_above, key)
            try:
                setup = upload(setup_tool, index=index, timeout=timeout, file_mode=True, key=key)
            finally:
                target.clear_part_fault()
        except (OSError, RuntimeError) as exc:
            round_.reason = f"fault switch: {exc}"
            continue
        round_.setup = setup
        kept = _json_result(setup)
        if setup.exit_code != 1 or not kept.get("kept"):
            round_.reason = (
                f"the failing run did not keep its upload (exit {setup.exit_code}, "
                f"kept={kept.get('kept')}): {setup.reason}"
            )
            log(f"  FAILED: {round_.reason}")
            continue
        log(f"{target.label} {format_size(size)} resume round {index}/{runs}: resume")
        resume = upload(resume_tool, index=index, timeout=timeout, file_mode=True, key=key)
        round_.resume = resume
        result = _json_result(resume)
        round_.parts_skipped = int(result.get("parts_skipped") or 0)
        round_.bytes_skipped = int(result.get("bytes_skipped") or 0)
        if not resume.ok:
            round_.reason = f"resume: {resume.reason}"
            log(f"  FAILED: {round_.reason}")
        else:
            log(
                f"  ok {resume.wall:.2f} s, CPU {resume.cpu:.2f} s, {round_.parts_skipped} "
                f"parts skipped, {round_.bytes_sent / MiB:.0f} MiB sent"
            )
    return rounds


def render_resume_table(
    rounds: list[ResumeRound], size: int, runs: int, target_label: str, fraction: float
) -> list[str]:
    """The resume row's table: fresh against resumed, medians over the good rounds."""
    lines = [
        f"### Resume, {target_label}, {format_size(size)} — s3sink `--file`, median of {runs} "
        f"round(s), the upload kept after {fraction:.0%} of its parts",
        "",
    ]
    good = [r for r in rounds if r.ok]
    failed = [r for r in rounds if not r.ok]
    if not good:
        reason = one_line(failed[0].reason if failed else "no rounds")
        return [*lines, f"FAILED: {reason}", ""]
    fresh = [r.fresh for r in good]
    resumed = [r.resume for r in good if r.resume is not None]

    def med(items: Sequence[float]) -> float:
        return statistics.median(items)

    fresh_wall, fresh_cpu = med([r.wall for r in fresh]), med([r.cpu for r in fresh])
    wall, cpu = med([r.wall for r in resumed]), med([r.cpu for r in resumed])
    sent = med([r.bytes_sent for r in good])
    skipped = med([r.parts_skipped for r in good])
    parts = good[0].parts
    lines += [
        "| upload | wall s | client CPU s | peak RSS MiB | server CPU s | MiB sent "
        "(server count) | parts skipped | ÷ fresh: wall | ÷ fresh: CPU | rounds ok |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| fresh: `--file F --resumable` | {fmt(fresh_wall)} | {fmt(fresh_cpu)} | "
        f"{med([r.maxrss_kib for r in fresh]) / 1024:.0f} | "
        f"{fmt(med([r.server_cpu for r in fresh]))} | "
        f"{med([r.counters.get('payload_bytes', 0) for r in fresh]) / MiB:.0f} | 0 of {parts} | "
        f"1.00 (ref) | 1.00 (ref) | {len(good)}/{len(rounds)} |",
        f"| resume: `… --resumable --resume` | {fmt(wall)} | {fmt(cpu)} | "
        f"{med([r.maxrss_kib for r in resumed]) / 1024:.0f} | "
        f"{fmt(med([r.server_cpu for r in resumed]))} | {sent / MiB:.0f} | "
        f"{skipped:.0f} of {parts} | {fmt(wall / fresh_wall)} | "
        f"{fmt(cpu / fresh_cpu) if fresh_cpu > 0 else 'n/a'} | {len(good)}/{len(rounds)} |",
        "",
        f"Setup (not timed above): the same command with `--max-attempts 1` while the discard "
        f"server's fault switch answered 503 SlowDown to UploadPart above part "
        f"{good[0].fault_above}; it exited 1 and kept the upload and its journal "
        f"(XDG_STATE_HOME in the run directory). The resume lists the parts (ListParts), "
        f"checks each stored part's size and CRC64NVME against the file (the discard server "
        f"lists the checksums it was sent), sends the rest and completes; every resumed object "
        f"was verified like any run (the server counted exactly {size} bytes at Complete).",
    ]
    if failed:
        lines += ["", "Failed rounds (not counted in the medians):", ""]
        lines += [f"- round {r.index}: FAILED — {one_line(r.reason, 300)}" for r in failed]
    return [*lines, ""]
