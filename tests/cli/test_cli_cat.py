"""``s3sink cat`` as a real process against moto (and the fault proxy): the object to stdout,
to a file, to a command's stdin; a stored checksum that does not match (exit 5, no last
range, no file, a command that never sees its input end); a byte flipped on the way; the
object replaced between ranges (4); a connection reset mid-range; a reader that stops early;
signals; exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import s3sink
from tests.support.clirun import (
    S3SINK,
    TIMEOUT,
    error_lines,
    pattern,
    run_cli,
    wait_for,
    wait_or_dump,
)
from tests.support.fakes import b64
from tests.support.faultproxy import FaultProxy

MiB = 1024 * 1024
DATA = pattern(12 * MiB + 3)
# A consumer that reads its stdin to the end and only then writes what it got (size and
# SHA-256) to the file named by its argument: no file means it never saw a clean end.
CONSUMER = (
    "import hashlib, sys\n"
    "h, n = hashlib.sha256(), 0\n"
    "while chunk := sys.stdin.buffer.read(1 << 20):\n"
    "    h.update(chunk); n += len(chunk)\n"
    "open(sys.argv[1], 'w').write(f'{n} {h.hexdigest()}')\n"
)


def upload(client: Any, bucket: str, key: str = "k", data: bytes = DATA) -> None:
    with s3sink.open(f"s3://{bucket}/{key}", "wb", client=client, part_size=5 * MiB) as writer:
        writer.write(data)


def wrong_checksum(client: Any, bucket: str, key: str = "bad", data: bytes = DATA) -> None:
    """An object whose stored CRC64NVME is not its bytes' (moto keeps what PutObject claims
    with x-amz-sdk-checksum-algorithm)."""
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ChecksumAlgorithm="CRC64NVME",
        ChecksumCRC64NVME=b64(b"\x01" * 8),
    )


def cat(
    env: dict[str, str], endpoint: str, uri: str, *args: str, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    return run_cli(
        ["cat", uri, "--endpoint-url", endpoint, "--part-size", "4MiB", *args], env, **kwargs
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- round trips ---------------------------------------------------------------------------------


def test_cat_writes_the_object_to_stdout_verified(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """A multipart object to stdout, byte for byte; the summary says how it was verified."""
    upload(s3_client, bucket)
    done = cat(env, s3_endpoint, f"s3://{bucket}/k")
    assert done.returncode == 0, done.stderr
    assert digest(done.stdout) == digest(DATA)
    assert b"verified by crc64nvme (checksum-full-object)" in done.stderr


def test_cat_json_goes_to_stderr_when_stdout_carries_the_object(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """--json with the object on stdout: the record is stderr's last line, with the fields
    of the issue."""
    upload(s3_client, bucket)
    done = cat(env, s3_endpoint, f"s3://{bucket}/k", "--json", "-q")
    assert done.returncode == 0, done.stderr
    assert digest(done.stdout) == digest(DATA)
    record = json.loads(done.stderr.splitlines()[-1])
    assert record["ok"] is True
    assert record["verified"] is True
    assert record["verified_by"] == "checksum-full-object"
    assert record["algorithm"] == "crc64nvme"
    assert record["stored"] == record["computed"]
    assert (record["size"], record["parts"], record["bytes_written"]) == (len(DATA), 3, len(DATA))
    assert record["seconds"] >= 0
    assert record["mib_per_second"] > 0


def test_cat_o_writes_the_file_and_json_to_stdout(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """-o PATH: the file holds the object, no temporary file is left, the record is on
    stdout."""
    upload(s3_client, bucket)
    target = tmp_path / "restored"
    done = cat(env, s3_endpoint, f"s3://{bucket}/k", "-o", str(target), "--json")
    assert done.returncode == 0, done.stderr
    assert digest(target.read_bytes()) == digest(DATA)
    assert [p.name for p in tmp_path.iterdir()] == ["restored"]
    assert json.loads(done.stdout)["output"] == "file"


def test_exec_mode_feeds_the_command_to_a_clean_end(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """-- COMMAND: it reads the whole object and a clean end of input; exit 0."""
    upload(s3_client, bucket)
    seen = tmp_path / "seen"
    done = cat(
        env, s3_endpoint, f"s3://{bucket}/k", "--", sys.executable, "-c", CONSUMER, str(seen)
    )
    assert done.returncode == 0, done.stderr
    assert seen.read_text() == f"{len(DATA)} {digest(DATA)}"


# -- a corrupted object never reaches its consumer's end -------------------------------------------


def test_a_wrong_stored_checksum_exits_5_without_the_last_range(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """The store recorded another checksum: exit 5, one error line naming both values,
    stdout got a strict prefix of the object (never its last range)."""
    wrong_checksum(s3_client, bucket)
    done = cat(env, s3_endpoint, f"s3://{bucket}/bad", "--json")
    assert done.returncode == 5
    assert 0 < len(done.stdout) < len(DATA)
    assert done.stdout == DATA[: len(done.stdout)]
    [line] = error_lines(done.stderr)
    assert "do not match what the store recorded" in line
    assert b64(b"\x01" * 8) in line
    record = json.loads(done.stderr.splitlines()[-1])
    assert (record["exit"], record["reason"], record["verified"]) == (5, "integrity", False)


def test_a_wrong_stored_checksum_leaves_no_file(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """-o PATH of a bad object: exit 5, an existing PATH untouched, no temporary file."""
    wrong_checksum(s3_client, bucket)
    target = tmp_path / "restored"
    target.write_bytes(b"yesterday's restore")
    done = cat(env, s3_endpoint, f"s3://{bucket}/bad", "-o", str(target))
    assert done.returncode == 5
    assert target.read_bytes() == b"yesterday's restore"
    assert [p.name for p in tmp_path.iterdir()] == ["restored"]
    assert b"left as it was" in done.stderr


@pytest.mark.parametrize("on_sigterm", ["dies", "ignores"])
def test_a_wrong_stored_checksum_never_gives_the_command_a_clean_end(
    env: dict[str, str],
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    on_sigterm: str,
) -> None:
    """Exec mode on a bad object: the command is stopped before its stdin closes, so it
    never records a clean end, even one that ignores SIGTERM (it gets SIGKILL, its input
    still open); exit 5, its status in --json."""
    wrong_checksum(s3_client, bucket)
    seen = tmp_path / "seen"
    consumer = CONSUMER
    if on_sigterm == "ignores":
        consumer = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + consumer
    done = cat(
        env, s3_endpoint, f"s3://{bucket}/bad", "--json", "-q", "--",
        sys.executable, "-c", consumer, str(seen),
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert not seen.exists()
    record = json.loads(done.stdout)
    killed_by = signal.SIGTERM if on_sigterm == "dies" else signal.SIGKILL
    assert (record["reason"], record["command_status"]) == ("integrity", 128 + killed_by)
    assert b"stopped before the end of its input" in done.stderr


def test_a_byte_flipped_on_the_way_back_never_exits_0(
    env: dict[str, str], s3_client: Any, bucket: str, fault_proxy: FaultProxy
) -> None:
    """One byte of the first GET's body flipped in transit: exit 5, never 0 with wrong
    bytes, and stdout never gets the last range."""
    upload(s3_client, bucket)
    fault_proxy.flip_response_byte(method="GET", path=r"/k$")
    done = cat(env, fault_proxy.endpoint_url, f"s3://{bucket}/k")
    assert done.returncode == 5, done.stderr
    assert len(done.stdout) < len(DATA)


# -- the store changes, the connection breaks ------------------------------------------------


def test_an_object_replaced_between_ranges_exits_4(
    env: dict[str, str], s3_client: Any, bucket: str, fault_proxy: FaultProxy
) -> None:
    """The object is replaced when the second GET arrives: its If-Match is refused, exit 4,
    and stdout holds nothing of the new version."""
    upload(s3_client, bucket)
    fault_proxy.on_request(
        lambda: s3_client.put_object(Bucket=bucket, Key="k", Body=b"new" * 100),
        method="GET",
        nth=2,
    )
    done = cat(env, fault_proxy.endpoint_url, f"s3://{bucket}/k", "-j", "1")
    assert done.returncode == 4, done.stderr
    assert done.stdout == DATA[: len(done.stdout)]
    [line] = error_lines(done.stderr)
    assert "changed while it was read" in line


def test_a_reset_mid_range_is_resumed(
    env: dict[str, str], s3_client: Any, bucket: str, fault_proxy: FaultProxy
) -> None:
    """A connection cut 1 MiB into a range: the rest of the range is asked for again (a
    warning says so) and the object comes out right."""
    upload(s3_client, bucket)
    fault_proxy.cut_response(MiB, method="GET", nth=2)
    done = cat(env, fault_proxy.endpoint_url, f"s3://{bucket}/k")
    assert done.returncode == 0, done.stderr
    assert digest(done.stdout) == digest(DATA)
    assert b"retrying GetObject of bytes" in done.stderr


# -- early ends and failures ---------------------------------------------------------------------


def test_a_reader_that_stops_early_ends_the_read_quietly_with_141(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """`s3sink cat … | head -c 10`: stdout's reader goes away; s3sink stops at once with
    141 (as cat's SIGPIPE), no error line, no traceback."""
    upload(s3_client, bucket)
    process = subprocess.Popen(
        [*S3SINK, "cat", f"s3://{bucket}/k", "--endpoint-url", s3_endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.read(10) == DATA[:10]
    process.stdout.close()
    code = wait_or_dump(process)
    stderr = process.stderr.read()
    process.stderr.close()
    assert code == 141, stderr
    assert b"Traceback" not in stderr
    assert error_lines(stderr) == []


def test_a_command_that_stops_reading_decides_with_its_status(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """-- head -c 10: it exits 0 before reading everything: exit 0, a warning that the
    object was not verified."""
    upload(s3_client, bucket)
    done = cat(env, s3_endpoint, f"s3://{bucket}/k", "--", "head", "-c", "10")
    assert done.returncode == 0, done.stderr
    assert done.stdout == DATA[:10]
    assert b"was not verified" in done.stderr


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["sh", "-c", "cat >/dev/null; exit 3"], 123),
        (["sh", "-c", "kill -9 $$"], 125),
        (["/dev/null"], 126),
        (["s3sink-no-such-command"], 127),
    ],
    ids=["failed", "killed", "not-executable", "not-found"],
)
def test_the_command_outcome_has_codes_of_its_own(
    env: dict[str, str],
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    command: list[str],
    code: int,
) -> None:
    """xargs(1)'s codes for COMMAND: 123 it exited non-zero (its status in --json), 125 a
    signal killed it, 126 not executable, 127 not found."""
    upload(s3_client, bucket)
    done = cat(env, s3_endpoint, f"s3://{bucket}/k", "--json", "--", *command)
    assert done.returncode == code, done.stderr
    record = json.loads(done.stdout)
    assert record["exit"] == code
    if code == 123:
        assert record["command_status"] == 3


def test_a_missing_object_exits_1_before_anything_starts(
    env: dict[str, str], s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """No such key: exit 1, one line; COMMAND never started."""
    started = tmp_path / "started"
    done = cat(env, s3_endpoint, f"s3://{bucket}/nope", "--", "touch", str(started))
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "does not exist" in line
    assert not started.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "x", "--", "cat"],
        ["--part-size", "1MiB", "--max-memory", "512KiB"],
        ["--"],
        ["pg_restore", "-d", "db"],
    ],
    ids=["output-and-command", "memory", "empty-command", "command-without-dashes"],
)
def test_usage_errors_exit_2(env: dict[str, str], s3_endpoint: str, args: list[str]) -> None:
    """Bad combinations: exit 2 with one line, nothing read."""
    done = run_cli(["cat", "s3://bkt/k", "--endpoint-url", s3_endpoint, *args], env)
    assert done.returncode == 2, done.stderr
    assert error_lines(done.stderr)


def test_sigterm_during_a_stalled_read_exits_143_and_stops_the_command(
    env: dict[str, str], s3_client: Any, bucket: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """SIGTERM while the store stalls mid-body: the signal goes to COMMAND too, which never
    sees a clean end; s3sink exits 143 without waiting for the stalled read."""
    upload(s3_client, bucket)
    fault_proxy.pause_response(100_000, 60, method="GET", times=None)
    seen = tmp_path / "seen"
    process = subprocess.Popen(
        [*S3SINK, "cat", f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url,
         "--", sys.executable, "-c", CONSUMER, str(seen)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    wait_for(lambda: any(e.method == "GET" for e in fault_proxy.log), TIMEOUT)
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert not seen.exists()


def high_water(pid: int) -> int:
    """A running process's peak RSS (VmHWM, of its own memory since exec; wait4's
    ru_maxrss would count the parent's, the test process's, at the fork)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


# The command's own baseline is about 60 MiB (the interpreter, botocore; 2026-12-04): far
# below this, and far below the object read.
CEILING = 140 * MiB


def test_a_slow_consumer_keeps_the_peak_rss_within_max_memory(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """192 MiB read with --max-memory 8MiB into a consumer that starts reading only once
    the workers had time to fill every buffer: the command's peak RSS then (and at the
    end) stays near its baseline plus the bound, far below the object's size."""
    big = pattern(192 * MiB)
    s3_client.put_object(Bucket=bucket, Key="big", Body=big)
    process = subprocess.Popen(
        [*S3SINK, "cat", f"s3://{bucket}/big", "--endpoint-url", s3_endpoint,
         "--part-size", "2MiB", "--max-memory", "8MiB", "-q"],
        stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.read(1)  # the first range has landed: reading has started
    time.sleep(2)  # the slow consumer: the workers run ahead meanwhile (nothing timed)
    peak = high_water(process.pid)
    rest = process.stdout.read(len(big) - 1 - MiB)
    peak = max(peak, high_water(process.pid))  # still running: the last MiB is unread
    rest += process.stdout.read()
    process.stdout.close()
    assert wait_or_dump(process) == 0
    assert digest(first + rest) == digest(big)
    assert peak < CEILING, f"peak RSS {peak // MiB} MiB"


@pytest.mark.parametrize("stored", ["good", "bad"])
def test_a_command_that_fails_early_gets_a_diagnosis(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, stored: str
) -> None:
    """COMMAND fails after reading the start (as pg_restore does on corrupted bytes): the
    rest of the object is still read and checked, so the outcome says which it was: 123
    with "the object verified" for a good object, 5 for a bad one."""
    if stored == "good":
        upload(s3_client, bucket, "k")
    else:
        wrong_checksum(s3_client, bucket, "k")
    done = cat(
        env, s3_endpoint, f"s3://{bucket}/k", "--json", "--",
        "sh", "-c", "head -c 1000 >/dev/null; exit 3",
    )  # fmt: skip
    record = json.loads(done.stdout)
    [line] = error_lines(done.stderr)
    assert "sh exited with status 3 before the end of its input" in line
    if stored == "good":
        assert done.returncode == 123, done.stderr
        assert "the object verified" in line
        assert (record["verified"], record["command_status"]) == (True, 3)
    else:
        assert done.returncode == 5, done.stderr
        assert (record["reason"], record["command_status"]) == ("integrity", 3)
