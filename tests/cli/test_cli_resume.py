"""The command's files and resumable uploads, as real processes against moto on 127.0.0.1
(through a FaultProxy where a test needs to count requests or make the server go away)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import (
    S3SINK,
    TIMEOUT,
    assert_nothing_written,
    body,
    pattern,
    pending,
    run_printed,
    wait_for,
)
from tests.support.clirun import run_cli as run
from tests.support.faultproxy import FaultProxy

MiB = 1024 * 1024
PART = 5 * MiB
PART_RE = r"[?&]partNumber=\d+(&|$)"


@pytest.fixture
def state_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The s3sink environment with its journals in a directory of this test's."""
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state")}


def journals(env: dict[str, str]) -> list[Path]:
    directory = Path(env["XDG_STATE_HOME"]) / "s3sink" / "uploads"
    return sorted(directory.glob("*.jsonl")) if directory.is_dir() else []


def part_puts(proxy: FaultProxy, since: int = 0) -> int:
    """UploadPart requests the proxy forwarded after log entry ``since``."""
    import re

    return sum(
        1
        for entry in proxy.log[since:]
        if entry.method == "PUT" and re.search(PART_RE, entry.path) and entry.status == 200
    )


def stored(client: Any, bucket: str, key: str) -> list[int]:
    uploads = [u for u in pending(client, bucket) if u["Key"] == key]
    if not uploads:
        return []
    listed = client.list_parts(Bucket=bucket, Key=key, UploadId=uploads[0]["UploadId"])
    return [p["PartNumber"] for p in listed.get("Parts", [])]


def test_file_and_redirected_stdin_upload_with_fitted_parts(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--file PATH and < PATH: the object equals the file; the parts fit its size (three
    parts of 5 MiB for 12 MiB + 1 byte would be four with a 16 MiB default: fitted = 3)."""
    data = pattern(3 * PART - 7)
    path = tmp_path / "dump.bin"
    path.write_bytes(data)
    common = ["--endpoint-url", s3_endpoint, "--part-size", "5MiB", "--json"]
    by_option = run([f"s3://{bucket}/a", "--file", str(path), *common], env)
    assert by_option.returncode == 0, by_option.stderr
    with path.open("rb") as stdin:
        redirected = run([f"s3://{bucket}/b", *common], env, stdin=stdin)
    assert redirected.returncode == 0, redirected.stderr
    for result, key in ((by_option, "a"), (redirected, "b")):
        record = json.loads(result.stdout)
        assert record["parts"] == 3
        assert record["size"] == len(data)
        assert body(s3_client, bucket, key) == data


def test_redirected_stdin_from_an_offset(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A descriptor already past the start of the file (a script read a header first):
    the upload starts where it stands, like reading would, and leaves it at the end."""
    data = pattern(2 * PART + 3)
    path = tmp_path / "f"
    path.write_bytes(data)
    script = (
        "import os, subprocess, sys; os.read(0, 100); "
        "r = subprocess.run(sys.argv[1:]).returncode; "
        "print(os.lseek(0, 0, os.SEEK_CUR), file=sys.stderr); sys.exit(r)"
    )
    with path.open("rb") as stdin:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                *S3SINK,
                f"s3://{bucket}/k",
                "--endpoint-url",
                s3_endpoint,
                "--part-size",
                "5MiB",
                "-q",
            ],
            stdin=stdin,
            capture_output=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert body(s3_client, bucket, "k") == data[100:]
    assert result.stderr.strip().endswith(str(len(data)).encode())


def test_a_file_modified_during_the_upload_publishes_nothing(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    data = pattern(4 * PART)
    path = tmp_path / "growing.log"
    path.write_bytes(data)
    hold = fault_proxy.stall(2.0, method="PUT", path=r"[?&]partNumber=2(&|$)")
    process = subprocess.Popen(
        [
            *S3SINK,
            f"s3://{bucket}/k",
            "--endpoint-url",
            fault_proxy.endpoint_url,
            "--file",
            str(path),
            "--part-size",
            "5MiB",
            "-j",
            "1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    wait_for(lambda: hold.matched >= 1, timeout=30)
    with path.open("ab") as f:
        f.write(b"a line appended meanwhile\n")
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 1, stderr
    assert b"changed during the upload" in stderr
    assert_nothing_written(s3_client, bucket)


def test_kill_9_then_resume_sends_only_the_missing_parts(
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    state_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """--resumable, killed with SIGKILL mid-upload (no chance to clean up or report), then
    the same command with --resume: the object equals the file, and the second run sends
    exactly the parts the store did not hold."""
    data = pattern(6 * PART + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    args = [
        f"s3://{bucket}/big.bin",
        "--endpoint-url",
        fault_proxy.endpoint_url,
        "--file",
        str(path),
        "--part-size",
        "5MiB",
        "-j",
        "1",
        "--resumable",
    ]
    held_back = fault_proxy.stall(60.0, method="PUT", path=r"[?&]partNumber=4(&|$)")
    process = subprocess.Popen(
        [*S3SINK, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=state_env,
    )
    # Parts 1-3 stored and journaled (part 4 is held at the proxy for a minute).
    wait_for(
        lambda: (
            held_back.matched >= 1
            and any(len(j.read_text().splitlines()) >= 4 for j in journals(state_env))
        ),
        timeout=60,
    )
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=TIMEOUT)
    (journal,) = journals(state_env)
    assert len(journal.read_text().splitlines()) >= 4  # header and parts 1-3
    held = stored(s3_client, bucket, "big.bin")
    total = 7
    since = len(fault_proxy.log)
    second = run([*args, "--resume", "--json"], state_env)
    assert second.returncode == 0, second.stderr
    record = json.loads(second.stdout)
    assert part_puts(fault_proxy, since) == total - len(held)
    assert record["parts_skipped"] == len(held)
    assert record["bytes_skipped"] == len(held) * PART
    assert body(s3_client, bucket, "big.bin") == data
    assert pending(s3_client, bucket) == []
    assert journals(state_env) == []


def test_server_gone_keeps_the_upload_and_the_printed_command_completes_it(
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    state_env: dict[str, str],
    tmp_path: Path,
) -> None:
    data = pattern(5 * PART)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    gate = fault_proxy.stall(1.0, method="PUT", path=r"[?&]partNumber=3(&|$)")
    process = subprocess.Popen(
        [
            *S3SINK,
            f"s3://{bucket}/f.bin",
            "--endpoint-url",
            fault_proxy.endpoint_url,
            "--file",
            str(path),
            "--part-size",
            "5MiB",
            "-j",
            "1",
            "--resumable",
            "--max-attempts",
            "2",
            "--json",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=state_env,
    )
    wait_for(lambda: gate.matched >= 1, timeout=30)
    fault_proxy.refuse_all()
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 1, stderr
    failure = json.loads(stdout)
    assert failure["ok"] is False
    assert failure["kept"] is True
    command = failure["resume_command"]
    assert command in stderr.decode()
    assert "--resume" in command
    assert f"uploads lifecycle s3://{bucket}" in stderr.decode()
    assert body_missing(s3_client, bucket, "f.bin")
    fault_proxy.accept_again()
    argv = shlex.split(command)
    assert argv[0] == "s3sink"
    resumed = run(argv[1:], state_env)
    assert resumed.returncode == 0, resumed.stderr
    assert body(s3_client, bucket, "f.bin") == data
    assert pending(s3_client, bucket) == []


def body_missing(client: Any, bucket: str, key: str) -> bool:
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return all(o["Key"] != key for o in listed)


PRODUCER = """
import random, sys, time
size, seed, fail_at = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
data = random.Random(seed).randbytes(size)
if fail_at >= 0:
    out.write(data[:fail_at]); out.flush(); time.sleep(1.0); sys.exit(3)
out.write(data)
"""


def produce(size: int, seed: int, fail_at: int = -1) -> list[str]:
    return ["--", sys.executable, "-c", PRODUCER, str(size), str(seed), str(fail_at)]


@pytest.mark.parametrize("deterministic", [True, False], ids=["same-stream", "other-stream"])
def test_exec_mode_resume_skips_parts_only_when_the_stream_repeats(
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    state_env: dict[str, str],
    deterministic: bool,
) -> None:
    """A producer fails after 3 parts: the upload is kept (exit 123: the command failed). Resumed
    with a producer that repeats the stream, the 3 parts are skipped; with one that writes
    other bytes, every part is sent again and the object is the second stream."""
    size = 4 * PART + 99
    base = [
        f"s3://{bucket}/db.dump",
        "--endpoint-url",
        fault_proxy.endpoint_url,
        "--part-size",
        "5MiB",
        "--resumable",
        "--json",
    ]
    first = run([*base, *produce(size, 1, fail_at=3 * PART + 10)], state_env)
    assert first.returncode == 123, first.stderr
    assert json.loads(first.stdout)["kept"] is True
    assert b"kept for a resume" in first.stderr
    assert stored(s3_client, bucket, "db.dump") == [1, 2, 3]
    assert body_missing(s3_client, bucket, "db.dump")
    since = len(fault_proxy.log)
    seed = 1 if deterministic else 2
    second = run([*base, "--resume", *produce(size, seed)], state_env)
    assert second.returncode == 0, second.stderr
    record = json.loads(second.stdout)
    import random

    assert body(s3_client, bucket, "db.dump") == random.Random(seed).randbytes(size)
    if deterministic:
        assert record["parts_skipped"] == 3
        assert part_puts(fault_proxy, since) == 2
    else:
        assert record["parts_skipped"] == 0
        assert part_puts(fault_proxy, since) == 5


def test_exec_mode_resume_with_a_failing_producer_keeps_it_again(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str]
) -> None:
    size = 3 * PART + 1
    base = [
        f"s3://{bucket}/db.dump",
        "--endpoint-url",
        s3_endpoint,
        "--part-size",
        "5MiB",
        "--resumable",
    ]
    first = run([*base, *produce(size, 1, fail_at=2 * PART + 1)], state_env)
    assert first.returncode == 123, first.stderr
    again = run([*base, "--resume", *produce(size, 1, fail_at=2 * PART + 1)], state_env)
    assert again.returncode == 123, again.stderr
    assert b"kept for a resume" in again.stderr
    assert body_missing(s3_client, bucket, "db.dump")
    assert len(pending(s3_client, bucket)) == 1  # the same one, not a second


def test_two_pending_uploads_are_listed_and_upload_id_picks_one(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    data = pattern(2 * PART + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    ids = []
    for _ in range(2):
        upload = s3_client.create_multipart_upload(
            Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
        )
        ids.append(upload["UploadId"])
    args = [
        f"s3://{bucket}/k",
        "--endpoint-url",
        s3_endpoint,
        "--file",
        str(path),
        "--part-size",
        "5MiB",
    ]
    refused = run([*args, "--resume"], env)
    assert refused.returncode == 2, refused.stderr
    text = refused.stderr.decode()
    assert "2 uploads are pending" in text
    assert all(i in text for i in ids)
    assert "--upload-id" in text
    picked = run([*args, "--resume", "--upload-id", ids[1], "--json"], env)
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["upload_id"] == ids[1]
    assert body(s3_client, bucket, "k") == data
    assert [u["UploadId"] for u in pending(s3_client, bucket)] == [ids[0]]


def test_resume_with_nothing_pending_starts_a_new_upload(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """--resumable --resume is always right in a cron job."""
    data = pattern(PART + 1)
    path = tmp_path / "f"
    path.write_bytes(data)
    result = run(
        [
            f"s3://{bucket}/k",
            "--endpoint-url",
            s3_endpoint,
            "--file",
            str(path),
            "--part-size",
            "5MiB",
            "--resumable",
            "--resume",
        ],
        state_env,
    )
    assert result.returncode == 0, result.stderr
    assert b"no pending upload" in result.stderr
    assert body(s3_client, bucket, "k") == data
    time.sleep(0)  # nothing else to wait for
    assert os.path.exists(state_env["XDG_STATE_HOME"]) is False or journals(state_env) == []


def test_uploads_list_shows_what_is_resumable_here_and_abort_forgets_it(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str]
) -> None:
    """A kept upload's journal: `uploads list` says it is resumable here with its progress;
    another pending upload is not; `uploads abort` removes the journal with the upload."""
    size = 3 * PART + 1
    kept = run(
        [
            f"s3://{bucket}/db.dump",
            "--endpoint-url",
            s3_endpoint,
            "--part-size",
            "5MiB",
            "--resumable",
            *produce(size, 1, fail_at=2 * PART + 1),
        ],
        state_env,
    )
    assert kept.returncode == 123, kept.stderr
    other = s3_client.create_multipart_upload(Bucket=bucket, Key="other")["UploadId"]
    listed = run(
        ["uploads", "list", f"s3://{bucket}", "--endpoint-url", s3_endpoint, "--json"], state_env
    )
    assert listed.returncode == 0, listed.stderr
    records = {r["key"]: r for r in json.loads(listed.stdout)}
    assert records["db.dump"]["resumable"] is True
    assert records["db.dump"]["parts_recorded"] == 2
    assert records["db.dump"]["bytes_recorded"] == 2 * PART
    assert records["other"]["resumable"] is False
    table = run(["uploads", "list", f"s3://{bucket}", "--endpoint-url", s3_endpoint], state_env)
    assert b"2 parts, 10 MiB" in table.stdout
    assert journals(state_env)
    aborted = run(
        ["uploads", "abort", f"s3://{bucket}/db.dump", "--endpoint-url", s3_endpoint], state_env
    )
    assert aborted.returncode == 0, aborted.stderr
    assert journals(state_env) == []
    assert [u["UploadId"] for u in pending(s3_client, bucket)] == [other]


def files_holding(directory: Path, secret: bytes) -> list[Path]:
    """The files below ``directory`` whose bytes contain ``secret``."""
    return [p for p in directory.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_the_printed_resume_command_finds_the_journal_and_no_file_holds_the_password(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    state_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """--endpoint-url http://user:SECRET@...: the journal does not hold the password, the
    printed resume command shows it redacted, and that command, run as printed, resumes
    through the journal (which goes once the object is published)."""
    data = pattern(2 * PART + 99)
    source, ready = tmp_path / "data", tmp_path / "ready"
    source.write_bytes(data)
    endpoint = s3_endpoint.replace("http://", "http://user:SECRET@")
    # A producer that fails until the file `ready` exists, after writing the whole stream.
    producer = ["--", "sh", "-c", 'cat "$1" && test -e "$2"', "sh", str(source), str(ready)]
    args = [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--part-size", "5MiB"]
    first = run([*args, "--resumable", "--json", *producer], state_env)
    assert first.returncode == 123, first.stderr
    assert b"SECRET" not in first.stdout + first.stderr
    assert files_holding(Path(state_env["XDG_STATE_HOME"]), b"SECRET") == []
    assert len(journals(state_env)) == 1
    command = json.loads(first.stdout)["resume_command"]
    assert "--endpoint-url 'http://***@127.0.0.1:" in command  # quoted: no glob in a shell
    ready.touch()
    resumed = run_printed(command, state_env)
    assert resumed.returncode == 0, resumed.stderr
    assert b"SECRET" not in resumed.stdout + resumed.stderr
    assert body(s3_client, bucket, "k") == data
    assert json.loads(resumed.stdout)["parts_skipped"] == 2
    assert journals(state_env) == []  # it was this run's journal: gone with the upload


def test_a_resume_whose_parts_do_not_fit_max_memory_is_a_usage_error(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """Parts of 10 MiB kept, resumed with --max-memory 5MiB: exit 2 naming --max-memory, no
    "unexpected error", the upload untouched; with --max-memory 10MiB it completes."""
    data = pattern(2 * PART + 77)
    source = tmp_path / "data"
    source.write_bytes(data)
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--resumable"]
    failing = ["--", "sh", "-c", f'head -c {2 * PART + 1} "$1"; exit 3', "sh", str(source)]
    first = run([*args, "--part-size", "10MiB", *failing], state_env)
    assert first.returncode == 123, first.stderr
    assert stored(s3_client, bucket, "k") == [1]
    producer = ["--", "cat", str(source)]
    small = ["--part-size", "5MiB", "--max-memory", "5MiB", "--resume"]
    refused = run([*args, *small, "--json", *producer], state_env)
    assert refused.returncode == 2, refused.stderr
    message = json.loads(refused.stdout)["message"]
    assert "--max-memory 10MiB or more" in message
    assert b"unexpected error" not in refused.stderr
    assert stored(s3_client, bucket, "k") == [1]
    assert len(journals(state_env)) == 1
    enough = ["--part-size", "5MiB", "--max-memory", "10MiB", "--resume", "--json"]
    resumed = run([*args, *enough, *producer], state_env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["parts_skipped"] == 1
    assert body(s3_client, bucket, "k") == data


def test_a_resume_with_other_object_options_exits_2_naming_them(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """The first run's --content-type, --metadata and --tag are the upload's: a resume that
    asks for others exits 2 naming them, the upload untouched; the printed resume command
    (same options) publishes the object with the first run's settings."""
    data = pattern(PART + 10)
    source, ready = tmp_path / "data", tmp_path / "ready"
    source.write_bytes(data)
    producer = ["--", "sh", "-c", 'cat "$1" && test -e "$2"', "sh", str(source), str(ready)]
    options = ["--content-type", "text/plain", "--metadata", "origin=db1", "--tag", "keep=30d"]
    base = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB"]
    first = run([*base, *options, "--resumable", "--json", *producer], state_env)
    assert first.returncode == 123, first.stderr
    command = json.loads(first.stdout)["resume_command"]
    ready.touch()
    other = ["--content-type", "application/gzip", "--metadata", "origin=db2"]
    refused = run([*base, *other, "--resume", "--json", *producer], state_env)
    assert refused.returncode == 2, refused.stderr
    message = json.loads(refused.stdout)["message"]
    assert '--content-type (extra_args ContentType): "text/plain" when the upload' in message
    assert "--metadata (extra_args Metadata)" in message
    assert "--tag (extra_args Tagging)" in message
    assert stored(s3_client, bucket, "k") == [1]
    resumed = run_printed(command, state_env)
    assert resumed.returncode == 0, resumed.stderr
    head = s3_client.head_object(Bucket=bucket, Key="k")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"origin": "db1"})
    assert body(s3_client, bucket, "k") == data


def test_a_second_resume_of_an_upload_being_sent_exits_2(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """Two runs on one key at once (cron overlapping a slow backup): the second --resume
    finds the first's journal locked and exits 2 without sending or touching anything; the
    first completes."""
    data = pattern(2 * PART + 5)
    source, go = tmp_path / "data", tmp_path / "go"
    source.write_bytes(data)
    # Writes one part and a byte (the upload exists), then waits for `go`, then the rest.
    held = (
        f'head -c {PART + 1} "$1"; while [ ! -e "$2" ]; do sleep 0.05; done; '
        f'tail -c +{PART + 2} "$1"'
    )
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB"]
    first = subprocess.Popen(
        [
            *S3SINK,
            *args,
            "--resumable",
            "--json",
            "--",
            "sh",
            "-c",
            held,
            "sh",
            str(source),
            str(go),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=state_env,
    )
    try:
        wait_for(lambda: bool(journals(state_env)), timeout=30)
        second = run(
            [*args, "--resumable", "--resume", "--json", "--", "cat", str(source)], state_env
        )
    finally:
        go.touch()
        stdout, stderr = first.communicate(timeout=TIMEOUT)
    assert second.returncode == 2, second.stderr
    assert "is being written or resumed by another s3sink" in json.loads(second.stdout)["message"]
    assert first.returncode == 0, stderr
    assert json.loads(stdout)["parts_skipped"] == 0
    assert body(s3_client, bucket, "k") == data
    assert pending(s3_client, bucket) == []
