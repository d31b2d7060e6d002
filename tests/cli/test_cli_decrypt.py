"""``s3sink cat``/``get`` with ``--identity`` as real processes against moto, on objects the
``age`` binary encrypted and that were uploaded as plain bytes: decrypted (X25519,
ssh-ed25519, several identities), decrypted then decompressed; a wrong identity exits 1
before a byte is written; a ciphertext altered but stored with its own checksum (so that
only the AEAD can tell) exits 5 without the last bytes (stdout short, no -o file, exec
mode's command never sees its input end); an age object read without --identity comes as
stored, with a note; a plain object read with one is refused."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

import s3sink
from tests.support.clirun import error_lines, pattern, run_cli

MiB = 1024 * 1024
DATA = pattern(9 * MiB + 5)
CONSUMER = (
    "import hashlib, sys\n"
    "h, n = hashlib.sha256(), 0\n"
    "while chunk := sys.stdin.buffer.read(1 << 20):\n"
    "    h.update(chunk); n += len(chunk)\n"
    "open(sys.argv[1], 'w').write(f'{n} {h.hexdigest()}')\n"
)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two age identities and an ssh-ed25519 key, made by age-keygen and ssh-keygen."""
    missing = [p for p in ("age", "age-keygen", "ssh-keygen") if shutil.which(p) is None]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {missing} missing (.ci/run installs them)")
        pytest.skip(f"{missing} not installed")
    root = tmp_path_factory.mktemp("keys")
    for name in ("alice", "mallory"):
        subprocess.run(["age-keygen", "-o", root / name], check=True, capture_output=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", root / "carol"], check=True
    )
    return {"alice": root / "alice", "mallory": root / "mallory", "carol": root / "carol"}


def age_encrypt(keys: dict[str, Path], data: bytes, *who: str) -> bytes:
    """``data`` encrypted by the age binary to ``who`` (age -R with their public keys)."""
    lines = []
    for name in who:
        if name == "carol":
            lines.append(Path(f"{keys['carol']}.pub").read_text())
        else:
            lines.append(
                subprocess.run(
                    ["age-keygen", "-y", keys[name]], check=True, capture_output=True, text=True
                ).stdout
            )
    listing = keys["alice"].parent / f"recipients-{'-'.join(who)}"
    listing.write_text("".join(lines))
    return subprocess.run(
        ["age", "-R", listing], input=data, check=True, capture_output=True
    ).stdout


def upload(client: Any, bucket: str, key: str, data: bytes) -> None:
    """Plain bytes, multipart (5 MiB parts), CRC64NVME of what is stored."""
    with s3sink.open(f"s3://{bucket}/{key}", "wb", client=client, part_size=5 * MiB) as writer:
        writer.write(data)


def cat(
    env: dict[str, str], endpoint: str, uri: str, *args: str, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    return run_cli(
        ["cat", uri, "--endpoint-url", endpoint, "--part-size", "4MiB", *args], env, **kwargs
    )


def test_cat_decrypts_what_age_encrypted(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """An object ``age -R`` encrypted to an X25519 and an ssh-ed25519 key: each identity
    alone decrypts it to stdout; --json says encryption "age", the summary too."""
    upload(s3_client, bucket, "k.age", age_encrypt(keys, DATA, "alice", "carol"))
    for who in ("alice", "carol"):
        done = cat(env, s3_endpoint, f"s3://{bucket}/k.age", "--identity", str(keys[who]),
                   "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert digest(done.stdout) == digest(DATA)
        record = json.loads(done.stderr.splitlines()[-1])
        assert (record["encryption"], record["verified"], record["bytes_written"]) == (
            "age",
            True,
            len(DATA),
        )
        assert b"decrypted (age, authenticated)" in done.stderr


@pytest.mark.parametrize("size", [0, 64 * 1024, 2 * 64 * 1024])
def test_cat_o_decrypts_empty_and_chunk_boundary_plaintexts(
    env: dict[str, str],
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    keys: dict[str, Path],
    tmp_path: Path,
    size: int,
) -> None:
    """-o PATH with several --identity (the first does not match), S3SINK_IDENTITY too: an
    empty plaintext and ones ending on a 64 KiB chunk boundary."""
    data = DATA[:size]
    upload(s3_client, bucket, "b.age", age_encrypt(keys, data, "alice"))
    target = tmp_path / "out"
    done = cat(env, s3_endpoint, f"s3://{bucket}/b.age", "-o", str(target),
               "-i", str(keys["mallory"]), "--identity", str(keys["alice"]))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == data
    target.unlink()
    with_env = {**env, "S3SINK_IDENTITY": str(keys["alice"])}
    done = cat(with_env, s3_endpoint, f"s3://{bucket}/b.age", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == data


def test_cat_decrypts_then_decompresses(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """A zstd frame encrypted with age: --identity --decompress gives the original."""
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(DATA)
    upload(s3_client, bucket, "k.zst.age", age_encrypt(keys, frame, "alice"))
    done = cat(env, s3_endpoint, f"s3://{bucket}/k.zst.age", "--identity", str(keys["alice"]),
               "--decompress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert digest(done.stdout) == digest(DATA)


def test_get_decrypts_to_a_file(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """get --identity: the file holds the plaintext; --json says encryption "age"."""
    upload(s3_client, bucket, "k.age", age_encrypt(keys, DATA, "carol"))
    target = tmp_path / "k"
    done = run_cli(["get", f"s3://{bucket}/k.age", str(target), "--endpoint-url", s3_endpoint,
                    "--identity", str(keys["carol"]), "--json"], env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert digest(target.read_bytes()) == digest(DATA)
    assert json.loads(done.stdout)["encryption"] == "age"


def test_verify_with_identity_authenticates_the_plaintext(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """verify --identity: 0 for a good object (the line says decrypted), 5 for one whose
    ciphertext was altered although its stored checksum matches (plain verify says 0)."""
    upload(s3_client, bucket, "good.age", age_encrypt(keys, DATA, "alice"))
    upload(s3_client, bucket, "bad.age", _tampered(keys))
    args = ["--endpoint-url", s3_endpoint, "--identity", str(keys["alice"])]
    done = run_cli(["verify", f"s3://{bucket}/good.age", *args], env)
    assert done.returncode == 0, done.stderr
    assert b"decrypted (age, authenticated)" in done.stdout
    done = run_cli(["verify", f"s3://{bucket}/bad.age", *args], env)
    assert done.returncode == 5, done.stderr
    plain = run_cli(["verify", f"s3://{bucket}/bad.age", "--endpoint-url", s3_endpoint], env)
    assert plain.returncode == 0, plain.stderr


def test_a_wrong_identity_exits_1_before_a_byte_is_written(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """No identity matches: exit 1 with "no identity matches", nothing on stdout, no -o
    file, exec mode's command never started or never saw an end."""
    upload(s3_client, bucket, "k.age", age_encrypt(keys, DATA, "alice"))
    uri = f"s3://{bucket}/k.age"
    done = cat(env, s3_endpoint, uri, "--identity", str(keys["mallory"]), "--json")
    assert done.returncode == 1
    assert done.stdout == b""
    [line] = error_lines(done.stderr)
    assert "no identity matches" in line
    assert json.loads(done.stderr.splitlines()[-1])["reason"] == "read-failed"
    target = tmp_path / "out"
    done = cat(env, s3_endpoint, uri, "--identity", str(keys["mallory"]), "-o", str(target))
    assert done.returncode == 1
    assert list(tmp_path.iterdir()) == []
    seen = tmp_path / "seen"
    done = cat(env, s3_endpoint, uri, "--identity", str(keys["mallory"]), "--",
               sys.executable, "-c", CONSUMER, str(seen))  # fmt: skip
    assert done.returncode == 1
    assert not seen.exists()


def _tampered(keys: dict[str, Path]) -> bytes:
    blob = bytearray(age_encrypt(keys, DATA, "alice"))
    blob[len(blob) // 2] ^= 0x01  # a chunk in the middle: its tag no longer matches
    return bytes(blob)


def test_a_tampered_ciphertext_exits_5_without_the_last_bytes(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """A flipped bit stored with a checksum of its own (so the store's check passes): the
    AEAD catches it, exit 5; stdout got a strict prefix of the plaintext; -o leaves no
    file; exec mode's command is stopped before its input ends."""
    upload(s3_client, bucket, "t.age", _tampered(keys))
    uri = f"s3://{bucket}/t.age"
    identity = ["--identity", str(keys["alice"])]
    done = cat(env, s3_endpoint, uri, *identity, "--json")
    assert done.returncode == 5, done.stderr
    assert len(done.stdout) < len(DATA) // 2
    assert done.stdout == DATA[: len(done.stdout)]
    assert "does not authenticate" in error_lines(done.stderr)[0]
    record = json.loads(done.stderr.splitlines()[-1])
    assert (record["exit"], record["reason"]) == (5, "integrity")
    target = tmp_path / "out"
    done = cat(env, s3_endpoint, uri, *identity, "-o", str(target))
    assert done.returncode == 5
    assert list(tmp_path.iterdir()) == []
    seen = tmp_path / "seen"
    done = cat(env, s3_endpoint, uri, *identity, "--", sys.executable, "-c", CONSUMER, str(seen))
    assert done.returncode == 5
    assert not seen.exists()
    assert b"stopped before the end of its input" in done.stderr


def test_a_truncated_ciphertext_never_ends_cleanly(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """The ciphertext cut at a chunk boundary (its final chunk gone), stored with its own
    checksum: the chunks before the cut authenticate and are written, and the missing end
    is exit 5 ("truncated"), never a clean end."""
    blob = age_encrypt(keys, DATA, "alice")
    header = blob.index(b"\n---") + 49 + 16  # the MAC line, then the payload's nonce
    cut = blob[: header + 100 * (64 * 1024 + 16)]
    upload(s3_client, bucket, "cut.age", cut)
    done = cat(env, s3_endpoint, f"s3://{bucket}/cut.age", "--identity", str(keys["alice"]))
    assert done.returncode == 5
    assert done.stdout == DATA[: 100 * 64 * 1024]
    assert "truncated" in error_lines(done.stderr)[0]


def test_without_identity_an_age_object_comes_as_stored_with_a_note(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """No --identity: the ciphertext, byte for byte (``age -d`` can take it), and a warning
    saying it is encrypted; -q silences it."""
    blob = age_encrypt(keys, DATA, "alice")
    upload(s3_client, bucket, "k.age", blob)
    done = cat(env, s3_endpoint, f"s3://{bucket}/k.age")
    assert done.returncode == 0, done.stderr
    assert done.stdout == blob
    assert b"age-encrypted: written as stored" in done.stderr
    quiet = cat(env, s3_endpoint, f"s3://{bucket}/k.age", "-q")
    assert b"age-encrypted" not in quiet.stderr


def test_decompress_without_identity_says_it_is_encrypted(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """--decompress of an age object without --identity: exit 1 before any output, and
    the message says to give --identity."""
    frame = zstandard.ZstdCompressor().compress(DATA)
    upload(s3_client, bucket, "k.zst.age", age_encrypt(keys, frame, "alice"))
    done = cat(env, s3_endpoint, f"s3://{bucket}/k.zst.age", "--decompress")
    assert done.returncode == 1
    assert done.stdout == b""
    assert "age-encrypted" in error_lines(done.stderr)[0]
    assert "--identity" in error_lines(done.stderr)[0]


def test_get_of_a_tree_with_identity(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """get of a prefix with --identity: the age objects restored decrypted; a plain object
    among them is refused (exit 5) and leaves no file."""
    upload(s3_client, bucket, "t/a.age", age_encrypt(keys, DATA[:1000], "alice"))
    upload(s3_client, bucket, "t/b.age", age_encrypt(keys, DATA, "carol"))
    args = ["--endpoint-url", s3_endpoint, "-i", str(keys["alice"]), "-i", str(keys["carol"])]
    done = run_cli(["get", f"s3://{bucket}/t/", str(tmp_path / "out"), *args], env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "a.age").read_bytes() == DATA[:1000]
    assert digest((tmp_path / "out" / "b.age").read_bytes()) == digest(DATA)
    upload(s3_client, bucket, "t/plain", DATA[:10])
    done = run_cli(["get", f"s3://{bucket}/t/", str(tmp_path / "again"), *args], env)
    assert done.returncode == 5
    assert not (tmp_path / "again" / "plain").exists()
    assert (tmp_path / "again" / "a.age").read_bytes() == DATA[:1000]


def test_with_identity_a_plain_object_is_refused(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, keys: dict[str, Path]
) -> None:
    """--identity on an object that is not age: exit 5 and nothing written (a store could
    otherwise substitute unauthenticated bytes for an encrypted backup)."""
    upload(s3_client, bucket, "plain", DATA)
    done = cat(env, s3_endpoint, f"s3://{bucket}/plain", "--identity", str(keys["alice"]))
    assert done.returncode == 5
    assert done.stdout == b""
    assert "not an age-encrypted object" in error_lines(done.stderr)[0]


@pytest.mark.parametrize("content", ["missing", "garbage", "passphrase"])
def test_an_unusable_identity_file_exits_2_before_reading(
    env: dict[str, str], s3_endpoint: str, tmp_path: Path, keys: dict[str, Path], content: str
) -> None:
    """A missing, malformed or passphrase-protected identity file: exit 2, said in one line
    that quotes no key, before the object is asked for (the bucket does not exist)."""
    path = tmp_path / "id"
    if content == "garbage":
        path.write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    elif content == "passphrase":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pw", "-f", path], check=True)
    done = cat(env, s3_endpoint, "s3://no-such-bucket/k", "--identity", str(path))
    assert done.returncode == 2, done.stderr
    [line] = error_lines(done.stderr)
    assert str(path) in line
    assert "NOTAKEY" not in line
