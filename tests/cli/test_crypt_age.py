"""Interoperability of s3sink's age format (``s3sink._crypt``) with the ``age`` binary,
both ways: what s3sink encrypts ``age -d -i`` decrypts; what ``age -r``/``-R`` encrypts
s3sink decrypts. X25519, ssh-ed25519 and ssh-rsa (keys from ``age-keygen``/``ssh-keygen``),
several recipients, an empty plaintext, plaintexts ending on a 64 KiB boundary, and one
64 MiB stream through both, in bounded memory. Needs ``age``/``age-keygen`` and
``ssh-keygen`` (Debian: age, openssh-client; .ci/run installs them): skipped without them,
failed under ``CI=true``."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3sink._crypt import (
    Decryptor,
    Encryptor,
    Recipient,
    parse_recipient,
    read_identities,
    read_recipients_file,
)

CHUNK = 64 * 1024


def _need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {', '.join(missing)} missing (.ci/run installs them)")
        pytest.skip(f"{', '.join(missing)} not installed")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two age identities and an ssh-ed25519 key pair, made by the real tools."""
    _need("age", "age-keygen", "ssh-keygen")
    root = tmp_path_factory.mktemp("keys")
    for name in ("alice", "bob"):
        subprocess.run(["age-keygen", "-o", root / name], check=True, capture_output=True)
        public = subprocess.run(
            ["age-keygen", "-y", root / name], check=True, capture_output=True, text=True
        ).stdout
        (root / f"{name}.pub").write_text(public)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "carol", "-f", root / "carol"],
        check=True,
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", root / "dave"],
        check=True,
    )
    return {
        "dave": root / "dave",
        "dave.pub": root / "dave.pub",
        "alice": root / "alice",
        "bob": root / "bob",
        "carol": root / "carol",
        "alice.pub": root / "alice.pub",
        "bob.pub": root / "bob.pub",
        "carol.pub": root / "carol.pub",
    }


def _ours(data: bytes, recipients: list[Recipient]) -> bytes:
    encryptor = Encryptor(recipients)
    return encryptor.update(data) + encryptor.finish()


def _age_decrypt(blob: bytes, identity: Path) -> bytes:
    done = subprocess.run(
        ["age", "-d", "-i", identity], input=blob, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _our_decrypt(blob: bytes, identity: Path) -> bytes:
    decryptor = Decryptor(read_identities(identity))
    return decryptor.update(blob) + decryptor.finish()


def _recipient(keys: dict[str, Path], name: str) -> Recipient:
    return parse_recipient(keys[f"{name}.pub"].read_text())


SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("who", ["alice", "carol", "dave"])
def test_age_decrypts_ours(keys: dict[str, Path], who: str, size: int) -> None:
    """``age -d -i KEY`` decrypts what s3sink encrypted to an X25519, ssh-ed25519 or ssh-rsa
    key."""
    data = os.urandom(size)
    assert _age_decrypt(_ours(data, [_recipient(keys, who)]), keys[who]) == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("who", ["alice", "carol", "dave"])
def test_we_decrypt_ages(keys: dict[str, Path], who: str, size: int) -> None:
    """s3sink decrypts what ``age -r`` encrypted, with an age identity file or an OpenSSH
    private key."""
    data = os.urandom(size)
    recipient = keys[f"{who}.pub"].read_text().strip()
    blob = subprocess.run(
        ["age", "-r", recipient], input=data, check=True, capture_output=True
    ).stdout
    assert _our_decrypt(blob, keys[who]) == data


def test_several_recipients_both_ways(keys: dict[str, Path], tmp_path: Path) -> None:
    """A recipients file of three (with comments) read by ``age -R`` and by s3sink: each
    of the three keys decrypts either side's file."""
    listing = tmp_path / "recipients"
    listing.write_text(
        "# the team\n"
        + keys["alice.pub"].read_text()
        + "\n"
        + keys["bob.pub"].read_text()
        + keys["carol.pub"].read_text()
    )
    data = os.urandom(CHUNK * 2)
    theirs = subprocess.run(
        ["age", "-R", listing], input=data, check=True, capture_output=True
    ).stdout
    ours = _ours(data, read_recipients_file(listing))
    for who in ("alice", "bob", "carol"):
        assert _our_decrypt(theirs, keys[who]) == data
        assert _age_decrypt(ours, keys[who]) == data


def test_age_refuses_tampered_ours(keys: dict[str, Path]) -> None:
    """Our MAC and tags are real: ``age`` refuses our file with one bit flipped."""
    blob = bytearray(_ours(os.urandom(1000), [_recipient(keys, "alice")]))
    blob[-3] ^= 1
    done = subprocess.run(
        ["age", "-d", "-i", keys["alice"]], input=bytes(blob), capture_output=True, check=False
    )
    assert done.returncode != 0


def test_passphrase_protected_ssh_key_is_refused(tmp_path: Path) -> None:
    """An SSH key with a passphrase: a clear IdentityError, not a prompt."""
    _need("ssh-keygen")
    from s3sink.errors import IdentityError

    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", key], check=True)
    with pytest.raises(IdentityError, match="passphrase"):
        read_identities(key)


def _pattern(total: int) -> Iterator[bytes]:
    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
    for _ in range(total // len(block)):
        yield block


@pytest.mark.slow
def test_streaming_64_mib_both_ways_in_bounded_memory(keys: dict[str, Path]) -> None:
    """64 MiB encrypted by s3sink straight into ``age -d``'s stdin, and ``age``'s
    encryption of the same decrypted by s3sink as it streams: the same bytes, and no side
    holds more than a few MiB (the method is the same at any size)."""
    total = 64 << 20
    whole = hashlib.sha256()
    for block in _pattern(total):
        whole.update(block)
    expected = whole.hexdigest()
    age = subprocess.Popen(
        ["age", "-d", "-i", keys["alice"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert age.stdin is not None
    assert age.stdout is not None
    digest = hashlib.sha256()

    def drain() -> None:
        assert age.stdout is not None
        while chunk := age.stdout.read(1 << 20):
            digest.update(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    encryptor = Encryptor([_recipient(keys, "alice")])
    largest = 0
    for block in _pattern(total):
        out = encryptor.update(block)
        largest = max(largest, len(out))
        age.stdin.write(out)
    age.stdin.write(encryptor.finish())
    age.stdin.close()
    reader.join()
    assert age.wait() == 0
    age.stdout.close()
    assert digest.hexdigest() == expected
    assert largest <= (1 << 20) + 2 * CHUNK  # one update's worth, never the stream

    recipient = keys["alice.pub"].read_text().strip()
    encrypting = subprocess.Popen(
        ["age", "-r", recipient], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert encrypting.stdin is not None
    assert encrypting.stdout is not None

    def feed() -> None:
        assert encrypting.stdin is not None
        for block in _pattern(total):
            encrypting.stdin.write(block)
        encrypting.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    decryptor = Decryptor(read_identities(keys["alice"]))
    digest = hashlib.sha256()
    while chunk := encrypting.stdout.read(1 << 20):
        digest.update(decryptor.update(chunk))
    digest.update(decryptor.finish())
    writer.join()
    assert encrypting.wait() == 0
    encrypting.stdout.close()
    assert digest.hexdigest() == expected
