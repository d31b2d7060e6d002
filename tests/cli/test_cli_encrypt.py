"""--encrypt-to and --encrypt-to-file as real processes against moto on 127.0.0.1: the stored
object, fetched with boto3, is an age file that the ``age`` binary decrypts (``age -d -i``)
to the input, in pipe, exec, fifo and file mode; X25519 and ssh-ed25519 recipients, two at
once (each decrypts), empty input, exact 64 KiB multiples, --compress zstd under it. A bad
recipient stops the command before the producer starts; --resumable is refused; --json says
"encryption": "age" and the recipients' count; memory stays bounded. Needs age, age-keygen
and ssh-keygen (.ci/run installs them): skipped without, failed under CI=true."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.cli.test_cli_memory import run_measured
from tests.support.clirun import assert_nothing_written, body, pattern, pending
from tests.support.clirun import run_cli as run

MiB = 1024 * 1024
CHUNK = 64 * 1024


def _need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {', '.join(missing)} missing (.ci/run installs them)")
        pytest.skip(f"{', '.join(missing)} not installed")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An age identity (alice) and an ssh-ed25519 key pair (carol), made by the real tools;
    ``NAME.pub`` holds each recipient."""
    _need("age", "age-keygen", "ssh-keygen")
    root = tmp_path_factory.mktemp("keys")
    subprocess.run(["age-keygen", "-o", root / "alice"], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", root / "alice"], check=True, capture_output=True, text=True
    ).stdout
    (root / "alice.pub").write_text(public)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "carol", "-f", root / "carol"],
        check=True,
    )
    return {name: root / name for name in ("alice", "alice.pub", "carol", "carol.pub")}


def recipient(keys: dict[str, Path], name: str) -> str:
    return keys[f"{name}.pub"].read_text().strip()


def age_decrypt(blob: bytes, identity: Path) -> bytes:
    done = subprocess.run(
        ["age", "-d", "-i", identity], input=blob, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK, 5 * MiB, 5 * MiB + 1, 12 * MiB + 5])
def test_pipe_mode_stores_what_age_decrypts(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], keys: dict[str, Path],
    size: int,
) -> None:  # fmt: skip
    """stdin through --encrypt-to age1…: `age -d -i KEY` of the stored object is the input
    (empty with --allow-empty, 64 KiB multiples, a part and a byte, three parts); --json
    gives the stored (ciphertext) size, the source size, "encryption": "age", recipients 1."""
    data = pattern(size)
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB",
            "--encrypt-to", recipient(keys, "alice"), "--allow-empty", "--json"]  # fmt: skip
    result = run(args, env, data=data)
    assert result.returncode == 0, result.stderr
    stored = body(s3_client, bucket, "k")
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert age_decrypt(stored, keys["alice"]) == data
    record = json.loads(result.stdout)
    assert (record["size"], record["source_size"]) == (len(stored), size)
    assert (record["encryption"], record["recipients"]) == ("age", 1)
    assert b"(age-encrypted to 1 recipient)" in result.stderr
    assert pending(s3_client, bucket) == []


def test_two_recipients_from_an_option_and_a_file_each_decrypt(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Exec mode (a producer of 20 MB), --encrypt-to age1… and --encrypt-to-file with the
    ssh-ed25519 key (and a comment): the age identity and the SSH private key each decrypt
    it alone; the summary says two recipients."""
    source = tmp_path / "source"
    source.write_bytes(os.urandom(20_000_000))
    listing = tmp_path / "recipients.txt"
    listing.write_text(f"# the restore host\n{recipient(keys, 'carol')}\n")
    args = [f"s3://{bucket}/db.dump", "--endpoint-url", s3_endpoint,
            "--encrypt-to", recipient(keys, "alice"), "--encrypt-to-file", str(listing),
            "--", "sh", "-c", 'head -c 20000000 "$1"', "sh", str(source)]  # fmt: skip
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    assert b"age-encrypted to 2 recipients" in result.stderr
    stored = body(s3_client, bucket, "db.dump")
    assert age_decrypt(stored, keys["alice"]) == source.read_bytes()
    assert age_decrypt(stored, keys["carol"]) == source.read_bytes()


def test_compress_then_encrypt(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], keys: dict[str, Path]
) -> None:
    """--compress zstd --encrypt-to: an age file whose plaintext is a zstd frame."""
    data = b"id,name\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(400_000))
    args = [f"s3://{bucket}/k.zst", "--endpoint-url", s3_endpoint, "--compress", "zstd",
            "--encrypt-to", recipient(keys, "alice"), "--json"]  # fmt: skip
    result = run(args, env, data=data)
    assert result.returncode == 0, result.stderr
    frame = age_decrypt(body(s3_client, bucket, "k.zst"), keys["alice"])
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(frame)) as reader:
        assert reader.read() == data
    record = json.loads(result.stdout)
    assert (record["compression"], record["encryption"]) == ("zstd:3", "age")


def test_fifo_and_file_mode_encrypt_too(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """--fifo with a writer in exec mode, and --file PATH (read in order through the
    encryptor): both store what `age -d` decrypts to the input."""
    data = pattern(6 * MiB + 3)
    path = tmp_path / "dump.bin"
    path.write_bytes(data)
    common = ["--endpoint-url", s3_endpoint, "--part-size", "5MiB",
              "--encrypt-to", recipient(keys, "carol")]  # fmt: skip
    fifo = tmp_path / "db.fifo"
    code = (
        "import shutil, sys; shutil.copyfileobj(open(sys.argv[1], 'rb'), open(sys.argv[2], 'wb'))"
    )
    by_fifo = run([f"s3://{bucket}/fifo", *common, "--fifo", str(fifo),
                   "--", sys.executable, "-c", code, str(path), str(fifo)], env)  # fmt: skip
    assert by_fifo.returncode == 0, by_fifo.stderr
    by_file = run([f"s3://{bucket}/file", *common, "--file", str(path)], env)
    assert by_file.returncode == 0, by_file.stderr
    for key in ("fifo", "file"):
        assert age_decrypt(body(s3_client, bucket, key), keys["carol"]) == data


@pytest.mark.parametrize(
    "bad",
    [
        ["--encrypt-to", "age1qqqqnotarecipient"],
        ["--encrypt-to", "ssh-dss AAAAB3NzaC1kc3MAAACBAP"],
        ["--encrypt-to-file", "/nonexistent/recipients"],
    ],
    ids=["malformed", "dsa", "missing-file"],
)
def test_a_bad_recipient_exits_2_before_the_producer_starts(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path,
    bad: list[str],
) -> None:  # fmt: skip
    """Exit 2, one error line naming the option, the producer never run, nothing stored."""
    marker = tmp_path / "ran"
    producer = ["--", "sh", "-c", 'touch "$1"; echo data', "sh", str(marker)]
    result = run([f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, *bad, *producer], env)
    assert result.returncode == 2, result.stderr
    assert bad[0].encode() in result.stderr
    assert not marker.exists()
    assert_nothing_written(s3_client, bucket)


def test_a_secret_key_given_as_recipient_is_refused_and_not_shown(
    s3_endpoint: str, bucket: str, env: dict[str, str], keys: dict[str, Path]
) -> None:
    """An AGE-SECRET-KEY pasted into --encrypt-to: exit 2, and the key is not echoed."""
    secret = next(
        line for line in keys["alice"].read_text().splitlines() if line.startswith("AGE-SECRET")
    )
    result = run([f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--encrypt-to", secret,
                  "--json"], env, data=b"x")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert secret.encode() not in result.stdout + result.stderr
    assert "age-keygen -y" in json.loads(result.stdout)["message"]


def test_resumable_with_encryption_exits_2(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], keys: dict[str, Path]
) -> None:
    """--resumable --encrypt-to: refused (a new file key each upload, never kept)."""
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--resumable",
            "--encrypt-to", recipient(keys, "alice")]  # fmt: skip
    result = run(args, env, data=b"data")
    assert result.returncode == 2, result.stderr
    assert b"--encrypt-to cannot be combined with --resumable" in result.stderr
    assert_nothing_written(s3_client, bucket)


def test_an_encrypted_stream_stays_in_bounded_memory(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """64 MiB through --encrypt-to at --part-size 5MiB -j 2 --max-memory 15MiB: the peak RSS
    stays far below the stream (the encryptor holds at most a chunk beside the parts)."""
    data = pattern(64 * MiB)
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB",
            "-j", "2", "--max-memory", "15MiB", "-q",
            "--encrypt-to", recipient(keys, "alice")]  # fmt: skip
    code, stderr, peak = run_measured(args, env, data, tmp_path)
    assert code == 0, stderr
    assert peak < 150 * MiB, f"peak RSS {peak / MiB:.0f} MiB"
    assert age_decrypt(body(s3_client, bucket, "k"), keys["alice"]) == data
