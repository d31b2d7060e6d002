"""The ``s3sink`` command as a real process through the fault proxy: what a lost response, a
server that goes away and a ``kill -9`` leave on the server, and how ``s3sink uploads
list|abort`` finds and removes it.

Each test checks the object's bytes (or its absence) and ends with ListMultipartUploads empty;
where an upload must stay pending for a while, the docstring says why.

The server-gone test passes ``--max-attempts 2``: at the default of 10 tries with backoff,
giving up on a server that is gone takes minutes for the part and again for each abort.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from tests.support.clirun import (
    S3SINK,
    body,
    error_lines,
    keys,
    pattern,
    pending,
    run_cli,
    wait_for,
    wait_or_dump,
)
from tests.support.faultproxy import FaultProxy

MiB = 1024 * 1024


def stored_parts(proxy: FaultProxy) -> dict[str, set[int]]:
    """Parts the server answered 200 to, by upload id, as the proxy saw them."""
    stored: dict[str, set[int]] = {}
    for entry in proxy.log:
        query = parse_qs(urlsplit(entry.path).query)
        if entry.method == "PUT" and entry.status == 200 and "partNumber" in query:
            upload_id = query["uploadId"][0]
            stored.setdefault(upload_id, set()).add(int(query["partNumber"][0]))
    return stored


class Feeder:
    """A producer on a thread: writes 1 MiB chunks into a process's stdin until stopped or
    the pipe breaks (the process exited), so the stream is still going when a fault hits."""

    def __init__(self, stdin: IO[bytes] | None) -> None:
        assert stdin is not None
        self._stdin = stdin
        self._stopped = threading.Event()
        self.written = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        chunk = pattern(MiB)
        try:
            while not self._stopped.is_set():
                self._stdin.write(chunk)
                self._stdin.flush()
                self.written += len(chunk)
        except (BrokenPipeError, ValueError):  # the reader is gone, or we closed the pipe
            pass

    def stop(self) -> None:
        """Stop writing (call once the process is gone, so no write is left blocked)."""
        self._stopped.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()
        with contextlib.suppress(BrokenPipeError):  # buffered bytes nobody will read
            self._stdin.close()


def start(
    command: list[str], args: list[str], env: dict[str, str], tmp_path: Path
) -> tuple[subprocess.Popen[bytes], Feeder]:
    """Start s3sink with a pipe on stdin that a Feeder keeps filling; stdout and stderr go to
    files (a pipe nobody reads could block it)."""
    with (tmp_path / "stdout").open("wb") as out, (tmp_path / "stderr").open("wb") as err:
        process = subprocess.Popen(
            [*command, *args], stdin=subprocess.PIPE, stdout=out, stderr=err, env=env
        )
    return process, Feeder(process.stdin)


def finish(process: subprocess.Popen[bytes], feeder: Feeder) -> None:
    """Make sure the process is gone, then stop its producer."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    feeder.stop()


def test_server_gone_mid_stream_exits_3_and_uploads_abort_cleans_up(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """The server goes away once part 1 is stored, while stdin is still streaming: the next
    part fails, the abort cannot reach the server either, and s3sink exits 3 with one error
    line that names the upload id and the cleanup command. Pending until the server is back;
    then that very command (it names the endpoint) aborts it and leaves nothing."""
    uri = f"s3://{bucket}/db.dump"
    args = [uri, "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "5MiB", "-j", "2"]
    sink, feeder = start(S3SINK, [*args, "--max-attempts", "2"], env, tmp_path)
    try:
        wait_for(
            lambda: any(1 in parts for parts in stored_parts(fault_proxy).values()), timeout=30.0
        )
        fault_proxy.refuse_all()
        wait_or_dump(sink)
    finally:
        finish(sink, feeder)
    err = (tmp_path / "stderr").read_bytes()
    assert sink.returncode == 3, err
    (upload_id,) = stored_parts(fault_proxy)
    assert feeder.written > 6 * MiB  # the stream was still going when the server left
    (line,) = error_lines(err)
    assert f"could not abort multipart upload {upload_id}" in line
    assert line.endswith("until you run:")  # the command alone on the next line
    lines = err.decode().splitlines()
    command = lines[lines.index(line) + 1]
    assert b"Traceback" not in err
    assert (tmp_path / "stdout").read_bytes() == b""

    fault_proxy.accept_again()
    assert [u["UploadId"] for u in pending(s3_client, bucket)] == [upload_id]
    assert keys(s3_client, bucket) == []
    # The printed command names the endpoint in use: run it verbatim.
    hint = re.fullmatch(r"  s3sink (uploads abort \S+ --upload-id \S+ --endpoint-url \S+)", command)
    assert hint is not None, command
    assert hint.group(1).endswith(f"--endpoint-url {fault_proxy.endpoint_url}")
    cleanup = run_cli(hint.group(1).split(), env)
    assert cleanup.returncode == 0, cleanup.stderr
    assert cleanup.stdout.startswith(f"aborted {uri} upload {upload_id} ".encode())
    assert pending(s3_client, bucket) == []
    assert keys(s3_client, bucket) == []


def test_lost_create_response_leaves_an_orphan_that_uploads_abort_finds(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A lost CreateMultipartUpload response: the server created an upload, botocore's retry
    creates a second one, and s3sink streams into that and commits (exit 0, bytes intact).
    The first upload is an orphan whose id s3sink never saw, so it cannot abort it: it stays
    pending (documented) until `s3sink uploads abort s3://BUCKET/PREFIX` (or a lifecycle
    rule) removes it, leaving the object alone."""
    rule = fault_proxy.drop_response(method="POST", path=r"\?uploads")
    data = pattern(12 * MiB)
    where = ["--endpoint-url", fault_proxy.endpoint_url]
    result = run_cli(
        [f"s3://{bucket}/backups/db.dump", *where, "--part-size", "5MiB", "--json"],
        env,
        data=data,
    )
    assert result.returncode == 0, result.stderr
    assert rule.applied == 1
    used = json.loads(result.stdout)["upload_id"]
    assert body(s3_client, bucket, "backups/db.dump") == data
    (orphan,) = pending(s3_client, bucket)
    assert orphan["Key"] == "backups/db.dump"
    assert orphan["UploadId"] != used

    listed = run_cli(["uploads", "list", f"s3://{bucket}/backups/", "--json", *where], env)
    assert listed.returncode == 0, listed.stderr
    assert [(u["key"], u["upload_id"]) for u in json.loads(listed.stdout)] == [
        ("backups/db.dump", orphan["UploadId"])
    ]
    cleanup = run_cli(["uploads", "abort", f"s3://{bucket}/backups/", *where], env)
    assert cleanup.returncode == 0, cleanup.stderr
    (line,) = cleanup.stdout.decode().splitlines()  # the orphan, and only it
    assert line.startswith(f"aborted s3://{bucket}/backups/db.dump upload {orphan['UploadId']} ")
    assert pending(s3_client, bucket) == []
    assert keys(s3_client, bucket) == ["backups/db.dump"]
    assert body(s3_client, bucket, "backups/db.dump") == data


def test_sigkill_mid_stream_leaves_the_upload_for_uploads_list(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """kill -9 mid-stream cannot abort anything: the upload stays pending with the parts
    stored so far and no object appears. `s3sink uploads list --json` lists exactly that
    upload, and `s3sink uploads abort --upload-id` removes it."""
    uri = f"s3://{bucket}/stream.bin"
    where = ["--endpoint-url", fault_proxy.endpoint_url]
    sink, feeder = start(S3SINK, [uri, *where, "--part-size", "5MiB", "-j", "2"], env, tmp_path)
    try:
        wait_for(lambda: bool(stored_parts(fault_proxy)), timeout=30.0)
        sink.kill()
        sink.wait(timeout=10)
    finally:
        finish(sink, feeder)
    assert sink.returncode == -9
    ((upload_id, parts),) = stored_parts(fault_proxy).items()
    assert 1 in parts
    assert keys(s3_client, bucket) == []

    listed = run_cli(["uploads", "list", f"s3://{bucket}", "--json", *where], env)
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [(r["uri"], r["key"], r["upload_id"]) for r in records] == [
        (uri, "stream.bin", upload_id)
    ]
    assert [u["UploadId"] for u in pending(s3_client, bucket)] == [upload_id]
    stored = s3_client.list_parts(Bucket=bucket, Key="stream.bin", UploadId=upload_id)
    assert {p["PartNumber"] for p in stored["Parts"]} >= parts

    aborted = run_cli(["uploads", "abort", f"s3://{bucket}", "--upload-id", upload_id, *where], env)
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout.startswith(f"aborted {uri} upload {upload_id} ".encode())
    assert pending(s3_client, bucket) == []
    assert keys(s3_client, bucket) == []


def test_a_store_gone_with_parts_in_flight_is_said_once_per_round(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """The store goes away with several parts in flight: one short "retrying" line per
    attempt number (naming how many requests and the host), not one per part per attempt
    with the whole URL."""
    uri = f"s3://{bucket}/flood.bin"
    args = [uri, "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "5MiB", "-j", "4"]
    sink, feeder = start(S3SINK, [*args, "--max-attempts", "4"], env, tmp_path)
    try:
        wait_for(
            lambda: any(1 in parts for parts in stored_parts(fault_proxy).values()), timeout=30.0
        )
        fault_proxy.refuse_all()
        wait_or_dump(sink)
    finally:
        finish(sink, feeder)
    err = (tmp_path / "stderr").read_text()
    assert sink.returncode in (1, 3), err
    retried = [line for line in err.splitlines() if "retrying" in line]
    rounds = [re.search(r"\(attempt (\d+) of 4\)", line) for line in retried]
    numbers = [int(m.group(1)) for m in rounds if m is not None]
    assert len(numbers) == len(retried)
    assert len(numbers) == len(set(numbers)) <= 3, retried  # attempts 2, 3 and 4 at most
    assert not any("uploadId" in line for line in retried), retried  # the host, not the URL
    fault_proxy.accept_again()
    for upload in pending(s3_client, bucket):
        s3_client.abort_multipart_upload(
            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )
