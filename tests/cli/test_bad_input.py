"""Bad input to the command, table-driven: malformed options, URIs and inputs.

The command (a real process against the moto server): exit 2, exactly one ``s3sink: error:``
line that names the bad value, nothing on stdout, and nothing on the server -- every case runs
against an existing bucket with 6 MiB waiting on stdin, so a check that is missing shows up as
an object or a pending upload. The library's bad input: tests/wire/test_bad_input_library.py.
"""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import (
    S3SINK,
    TIMEOUT,
    assert_nothing_written,
    error_lines,
    pending,
    run_cli,
)

MiB = 1024 * 1024
TiB = 1024 * 1024 * MiB
DATA = b"\x00payload" * (6 * MiB // 8)  # more than a part: a missed check would start an MPU


# -- the command ------------------------------------------------------------------------------
def case(args: list[str], needle: str, *, stdin: str = "data", id: str) -> Any:
    """One command-line case: argv, the text the error line must contain, and stdin.

    "{uri}" in argv is s3://BUCKET/k and "{bucket}" the test's bucket; every argv gets
    --endpoint-url (before any "--") unless it has its own. stdin: "data" (DATA through a
    pipe), "closed" (no fd 0 at all), "write-only" (fd 0 opened O_WRONLY) or "tty" (a pty).
    """
    return pytest.param(args, needle, stdin, id=id)


CLI_CASES = [
    # sizes
    case(["{uri}", "--part-size", "0"], "part size 0 B is outside S3's limits", id="part-size-0"),
    case(
        ["{uri}", "--part-size", "-1"],
        "invalid size '-1': a size cannot be negative",
        id="part-size-negative",
    ),
    case(
        ["{uri}", "--part-size", "5x"],
        "invalid size '5x': unknown unit 'x'",
        id="part-size-unknown-unit",
    ),
    case(
        ["{uri}", "--part-size", "1.5.5MiB"], "invalid size '1.5.5MiB'", id="part-size-two-points"
    ),
    case(["{uri}", "--part-size", ""], "invalid size ''", id="part-size-empty"),
    case(["{uri}", "--part-size", "1e9"], "invalid size '1e9'", id="part-size-exponent"),
    case(
        ["{uri}", "--part-size", "1.5"],
        "a plain byte count must be a whole number",
        id="part-size-fraction-of-a-byte",
    ),
    case(
        ["{uri}", "--part-size", "4MiB"],
        "part size 4 MiB is outside S3's limits (5 MiB to 5 GiB)",
        id="part-size-below-5MiB",
    ),
    case(["{uri}", "--part-size", "5GiB1"], "invalid size '5GiB1'", id="part-size-trailing-junk"),
    case(
        ["{uri}", "--part-size", "6GiB"],
        "part size 6 GiB is outside S3's limits",
        id="part-size-above-5GiB",
    ),
    case(
        ["{uri}", "--part-size", "99999999999999999999PiB"],
        "is outside S3's limits",
        id="part-size-huge",
    ),
    case(["{uri}", "--part-size", "9" * 100], "too long", id="part-size-100-digits"),
    case(
        ["{uri}", "--max-memory", "10MiB"],
        "--max-memory 10 MiB cannot hold one part of 16 MiB",
        id="max-memory-below-default-part",
    ),
    case(
        ["{uri}", "--part-size", "8MiB", "--max-memory", "6MiB"],
        "--max-memory 6 MiB cannot hold one part of 8 MiB",
        id="max-memory-below-part",
    ),
    case(
        ["{uri}", "--max-memory", "0"], "--max-memory 0 B cannot hold one part", id="max-memory-0"
    ),
    case(["{uri}", "--expected-size", "-5"], "invalid size '-5'", id="expected-size-negative"),
    case(
        ["{uri}", "--expected-size", "100PiB"],
        "exceeds S3's largest object",
        id="expected-size-above-48.8TiB",
    ),
    case(
        ["{uri}", "--expected-size", "1TiB", "--max-memory", "20MiB"],
        "more than the memory budget allows",
        id="expected-size-beyond-max-memory",
    ),
    case(
        ["{uri}", "--fixed-part-size", "--expected-size", "1TiB"],
        "needs a fixed part size of at least",
        id="fixed-part-size-too-small",
    ),
    # concurrency
    case(["{uri}", "-j", "0"], "'--concurrency' / '-j'", id="concurrency-0"),
    case(["{uri}", "-j", "-1"], "'--concurrency' / '-j'", id="concurrency-negative"),
    case(["{uri}", "-j", "1.5"], "'--concurrency' / '-j'", id="concurrency-fraction"),
    case(["{uri}", "--concurrency", "four"], "'--concurrency' / '-j'", id="concurrency-word"),
    # URIs
    case(["{bucket}/k"], "it does not start with s3://", id="uri-no-scheme"),
    case(["http://{bucket}/k"], "it does not start with s3://", id="uri-http"),
    case([""], "invalid S3 location '': it does not start with s3://", id="uri-empty"),
    case(["s3://"], "the bucket name is missing", id="uri-scheme-only"),
    case(["s3:///k"], "the bucket name is missing", id="uri-no-bucket"),
    case(["s3://{bucket}"], "the object key is missing", id="uri-no-key"),
    case(["s3://{bucket}/"], "the object key is missing", id="uri-empty-key"),
    case(["s3://{bucket}/backups/"], "the key ends with '/'", id="uri-key-is-a-folder"),
    case(["s3://MyBucket/k"], "the bucket name contains 'M'", id="bucket-uppercase"),
    case(["s3://my_bucket/k"], "the bucket name contains '_'", id="bucket-underscore"),
    case(
        ["s3://ab/k"],
        "the bucket name is 2 characters long; S3 allows 3 to 63",
        id="bucket-too-short",
    ),
    case(["s3://" + "b" * 64 + "/k"], "64 characters long", id="bucket-too-long"),
    case(["s3://-bucket/k"], "must start and end with a letter or digit", id="bucket-leading-dash"),
    case(["s3://my..bucket/k"], "contains '..'", id="bucket-double-dot"),
    case(["s3://192.168.1.1/k"], "formatted as an IP address", id="bucket-ip-address"),
    case(
        ["s3://{bucket}/" + "k" * 1025],
        "1025 bytes long in UTF-8; S3 allows at most 1024",
        id="key-1025-bytes",
    ),
    case(["s3://{bucket}/" + "\u00e9" * 513], "1026 bytes long in UTF-8", id="key-1026-utf8-bytes"),
    case(
        ["s3://{bucket}/caf\udce9.tar"],
        "not valid UTF-8 (the undecodable byte 0xe9",
        id="key-not-utf8",
    ),
    case(["s3://{bucket}/a\nb"], "the control character '\\n'", id="key-newline"),
    # regions, endpoints, profiles
    case(["{uri}", "--region", ""], "invalid --region ''", id="region-empty"),
    case(["{uri}", "--region", "us east 1"], "invalid --region 'us east 1'", id="region-spaces"),
    case(["{uri}", "--region", "us-east-1/x"], "invalid --region", id="region-slash"),
    case(["{uri}", "--region", "-us-east-1"], "invalid --region", id="region-leading-dash"),
    case(["{uri}", "--region", "eu-w\u00ebst-1"], "invalid --region", id="region-non-ascii"),
    case(["{uri}", "--region", "r" * 64], "invalid --region", id="region-too-long"),
    case(
        ["{uri}", "--endpoint-url", "not a url"],
        "invalid --endpoint-url 'not a url'",
        id="endpoint-not-a-url",
    ),
    case(
        ["{uri}", "--endpoint-url", "ftp://127.0.0.1:9"],
        "expected http(s)://HOST[:PORT]",
        id="endpoint-ftp",
    ),
    case(
        ["{uri}", "--endpoint-url", "http://"],
        "invalid --endpoint-url 'http://'",
        id="endpoint-no-host",
    ),
    case(
        ["{uri}", "--endpoint-url", "http://127.0.0.1:99999"],
        "invalid --endpoint-url",
        id="endpoint-port-out-of-range",
    ),
    case(["{uri}", "--profile", ""], "--profile is empty", id="profile-empty"),
    case(["{uri}", "--profile", "no-such-profile"], "no-such-profile", id="profile-unknown"),
    # metadata and tags
    case(
        ["{uri}", "--metadata", "=v"],
        "invalid --metadata '=v': expected KEY=VALUE",
        id="metadata-empty-key",
    ),
    case(
        ["{uri}", "--metadata", "owner"],
        "invalid --metadata 'owner': expected KEY=VALUE",
        id="metadata-no-equals",
    ),
    case(
        ["{uri}", "--metadata", "\u043a\u043b\u044e\u0447=v"],
        "metadata key '\u043a\u043b\u044e\u0447' is not a valid name",
        id="metadata-non-ascii-key",
    ),
    case(
        ["{uri}", "--metadata", "k=\u00e9t\u00e9"],
        "metadata value '\u00e9t\u00e9' (key 'k') must be printable ASCII",
        id="metadata-non-ascii-value",
    ),
    case(
        ["{uri}", "--metadata", "k=caf\udce9"],
        "must be printable ASCII",
        id="metadata-value-not-utf8",
    ),
    case(
        ["{uri}", "--metadata", "my key=v"],
        "metadata key 'my key' is not a valid name",
        id="metadata-space-in-key",
    ),
    case(
        ["{uri}", "--metadata", "k=a\r\nX-Injected: 1"],
        "must be printable ASCII",
        id="metadata-header-injection",
    ),
    case(
        ["{uri}", "--metadata", "a=1", "--metadata", "a=2"],
        "--metadata key 'a' given twice",
        id="metadata-duplicate",
    ),
    case(
        ["{uri}", "--metadata", "Owner=1", "--metadata", "owner=2"],
        "metadata keys 'Owner' and 'owner' are the same name",
        id="metadata-duplicate-ignoring-case",
    ),
    case(
        ["{uri}", "--metadata", "k=" + "v" * 2100],
        "S3 allows 2048 bytes of user metadata",
        id="metadata-over-2KiB",
    ),
    case(
        ["{uri}", "--tag", "team"], "invalid --tag 'team': expected KEY=VALUE", id="tag-no-equals"
    ),
    case(["{uri}", "--tag", "=ops"], "invalid --tag '=ops'", id="tag-empty-key"),
    case(
        ["{uri}", "--tag", "a=1", "--tag", "a=2"], "--tag key 'a' given twice", id="tag-duplicate"
    ),
    case(
        ["{uri}", *[a for i in range(11) for a in ("--tag", f"k{i}=v")]],
        "11 --tag options given; S3 allows at most 10",
        id="tag-eleven",
    ),
    case(
        ["{uri}", "--tag", "k" * 129 + "=v"],
        "keys of at most 128 characters",
        id="tag-key-too-long",
    ),
    case(["{uri}", "--tag", "k=" + "v" * 257], "values of at most 256", id="tag-value-too-long"),
    # other object options
    case(["{uri}", "--content-type", ""], "--content-type is empty", id="content-type-empty"),
    case(
        ["{uri}", "--content-type", "text/plain\r\nX-Injected: 1"],
        "invalid --content-type",
        id="content-type-header-injection",
    ),
    case(["{uri}", "--storage-class", ""], "--storage-class is empty", id="storage-class-empty"),
    case(
        ["{uri}", "--sse-kms-key-id", " "], "--sse-kms-key-id is empty", id="sse-kms-key-id-blank"
    ),
    case(
        ["{uri}", "--sse", "AES256", "--sse-kms-key-id", "k"],
        "needs --sse aws:kms",
        id="sse-kms-key-with-aes256",
    ),
    case(["{uri}", "--sse", "rot13"], "'rot13' is not one of", id="sse-unknown"),
    case(["{uri}", "--acl", "everyone"], "'everyone' is not one of", id="acl-unknown"),
    case(["{uri}", "--checksum", "adler32"], "'adler32' is not one of", id="checksum-unknown"),
    case(["{uri}", "--if-match", ""], "--if-match is empty", id="if-match-empty"),
    case(
        ["{uri}", "--no-overwrite", "--if-match", "abc"],
        "cannot be combined",
        id="no-overwrite-and-if-match",
    ),
    case(["{uri}", "--progress-interval", "0"], "'--progress-interval'", id="progress-interval-0"),
    # the command line itself
    case([], "Missing argument", id="no-arguments"),
    case(["{uri}", "--bogus"], "No such option: --bogus", id="unknown-option"),
    case(["{uri}", "extra"], "a command to run goes after '--'", id="extra-argument"),
    case(["{uri}", "--"], "nothing after '--'", id="exec-mode-no-command"),
    case(["{uri}", "--", ""], "the command after -- is empty", id="exec-mode-empty-command"),
    case(["{uri}", "--fifo", "/"], "--fifo /: the path already exists", id="fifo-existing-path"),
    case(
        ["{uri}", "--fifo", "/nonexistent-dir/in.fifo"],
        "cannot create it",
        id="fifo-missing-directory",
    ),
    case(["{uri}", "--fifo", ""], "cannot create it", id="fifo-empty-path"),
    # stdin
    case(["{uri}"], "stdin is closed", stdin="closed", id="stdin-closed"),
    case(["{uri}"], "stdin is open for writing only", stdin="write-only", id="stdin-write-only"),
    case(["{uri}"], "stdin is a terminal", stdin="tty", id="stdin-tty"),
]


@pytest.fixture
def bucket(module_bucket: str) -> str:
    """Every case uses the module's one bucket (tests/conftest.py), emptied between cases."""
    return module_bucket


def with_endpoint(args: list[str], endpoint: str) -> list[str]:
    """``args`` plus ``--endpoint-url`` (before a ``--``), unless a case sets its own."""
    if "--endpoint-url" in args:
        return args
    cut = args.index("--") if "--" in args else len(args)
    return [*args[:cut], "--endpoint-url", endpoint, *args[cut:]]


@pytest.fixture
def stdin_for(tmp_path: Path) -> Iterator[Callable[[str], dict[str, Any]]]:
    """subprocess keyword arguments that give s3sink the requested kind of stdin."""
    opened: list[int] = []

    def make(kind: str) -> dict[str, Any]:
        if kind == "data":
            return {"input": DATA}
        if kind == "write-only":
            fd = os.open(tmp_path / "sink-stdin", os.O_WRONLY | os.O_CREAT, 0o600)
            opened.append(fd)
            return {"stdin": fd}
        if kind == "tty":
            primary, secondary = pty.openpty()
            opened.extend((primary, secondary))
            return {"stdin": secondary}
        raise AssertionError(kind)

    yield make
    for fd in opened:
        os.close(fd)


def run_with_stdin(
    argv: list[str], env: dict[str, str], kind: str, stdin_for: Callable[[str], dict[str, Any]]
) -> subprocess.CompletedProcess[bytes]:
    """Run s3sink with the given kind of stdin."""
    encoded = [os.fsencode(a) for a in argv]  # lone surrogates go back to the raw bytes
    if kind == "closed":
        # Not DEVNULL, which is an empty stream: the shell closes fd 0 before exec.
        shell = [b"sh", b"-c", b'exec "$@" 0<&-', b"sh"]
        return subprocess.run(
            [*shell, *map(os.fsencode, S3SINK), *encoded],
            capture_output=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
    return subprocess.run(
        [*map(os.fsencode, S3SINK), *encoded],
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        **stdin_for(kind),
    )


@pytest.mark.parametrize(("args", "needle", "stdin"), CLI_CASES)
def test_cli_refuses_bad_input(
    env: dict[str, str],
    module_s3: Any,
    bucket: str,
    stdin_for: Callable[[str], dict[str, Any]],
    args: list[str],
    needle: str,
    stdin: str,
) -> None:
    """Bad input exits 2 with one error line naming the problem; nothing reaches the server."""
    endpoint = module_s3.meta.endpoint_url
    argv = with_endpoint([a.format(uri=f"s3://{bucket}/k", bucket=bucket) for a in args], endpoint)
    result = run_with_stdin(argv, env, stdin, stdin_for)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    assert len(error_lines(result.stderr)) == 1, stderr
    assert stderr.startswith("s3sink: error: ")
    # One line, no traceback, no usage block; only a command to run may follow, alone.
    assert all(line.startswith("  s3sink ") for line in stderr.splitlines()[1:]), stderr
    assert needle in stderr
    assert result.stdout == b""
    assert_nothing_written(module_s3, bucket)


def test_cli_stdin_a_directory_cannot_start(
    env: dict[str, str], module_s3: Any, bucket: str, tmp_path: Path
) -> None:
    """A directory as stdin: the Python interpreter itself refuses to start ("<stdin> is a
    directory"), before any s3sink code runs, so the exit code is the interpreter's 1, not
    our 2 (no Python program can do better); nothing reaches the server."""
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        result = run_cli(
            [f"s3://{bucket}/k", "--endpoint-url", module_s3.meta.endpoint_url], env, stdin=fd
        )
    finally:
        os.close(fd)
    assert result.returncode == 1
    assert b"<stdin> is a directory" in result.stderr
    assert result.stdout == b""
    assert_nothing_written(module_s3, bucket)


# -- s3sink uploads ---------------------------------------------------------------------------
UPLOADS_CASES = [
    pytest.param(["list", "{bucket}"], "it does not start with s3://", id="list-no-scheme"),
    pytest.param(["list", "s3://Bucket_1/"], "the bucket name contains 'B'", id="list-bad-bucket"),
    pytest.param(["list", "s3://{bucket}/a\udcff"], "not valid UTF-8", id="list-prefix-not-utf8"),
    pytest.param(
        ["list", "s3://{bucket}", "--region", ""], "invalid --region ''", id="list-region-empty"
    ),
    pytest.param(
        ["list", "s3://{bucket}", "--endpoint-url", "ftp://x"],
        "invalid --endpoint-url",
        id="list-endpoint-ftp",
    ),
    pytest.param(
        ["abort", "s3://{bucket}", "--older-than", "soon"],
        "invalid duration 'soon'",
        id="abort-older-than-word",
    ),
    pytest.param(
        ["abort", "s3://{bucket}", "--older-than", "-1d"],
        "a duration cannot be negative",
        id="abort-older-than-negative",
    ),
    pytest.param(
        ["abort", "s3://{bucket}", "--older-than", "30m1h"],
        "largest to smallest",
        id="abort-older-than-unordered",
    ),
    pytest.param(
        ["abort", "s3://{bucket}", "--upload-id", ""],
        "--upload-id is empty",
        id="abort-upload-id-empty",
    ),
    pytest.param(["abort"], "Missing argument", id="abort-no-uri"),
    pytest.param(["purge", "s3://{bucket}"], "No such command 'purge'", id="unknown-subcommand"),
]


@pytest.mark.parametrize(("args", "needle"), UPLOADS_CASES)
def test_uploads_refuses_bad_input(
    env: dict[str, str], module_s3: Any, bucket: str, args: list[str], needle: str
) -> None:
    """`s3sink uploads` with bad input exits 2 with one error line; a pending upload in the
    bucket is left alone."""
    upload_id = module_s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    argv = with_endpoint([a.format(bucket=bucket) for a in args], module_s3.meta.endpoint_url)
    result = run_cli(["uploads", *argv], env)  # subprocess encodes lone surrogates back to bytes
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    assert stderr.startswith("s3sink: error: ")
    assert stderr.count("\n") == 1
    assert needle in stderr
    assert result.stdout == b""
    assert [u["UploadId"] for u in pending(module_s3, bucket)] == [upload_id]
