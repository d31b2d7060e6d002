"""SSE-C from the command and the library: the key file (32 raw bytes or their base64, errors
that never show it), the key's hidden repr, the writer's and the sink options' request
parameters, and a resume that is not given the key again."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from s3sink._store.ssec import CustomerKey, customer_key, read_key_file, sse_c_args
from s3sink._upload.settings import check_settings, recorded_settings
from s3sink.cli._settings import SinkOptions, extra_args
from s3sink.errors import UsageError
from tests.support.fakes import FakeS3, make_writer

KEY = bytes(range(65, 97))  # 32 printable bytes, easy to spot in any text
B64 = base64.b64encode(KEY)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "key"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data", [KEY, B64, B64 + b"\n", b"  " + B64 + b"\r\n"])
def test_a_key_file_holds_32_raw_bytes_or_their_base64(tmp_path: Path, data: bytes) -> None:
    """Raw 32 bytes, or base64 with surrounding whitespace, give the same key."""
    assert read_key_file(write(tmp_path, data)) == KEY


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (KEY[:31], "not base64"),
        (KEY + b"\n", "not base64"),
        (base64.b64encode(KEY[:16]), "base64 of 16 bytes"),
        (b"!" * 44, "not base64"),
        (b"\n", "empty"),
        (KEY * 200, "too large"),
    ],
)
def test_a_bad_key_file_is_refused_without_showing_it(
    tmp_path: Path, data: bytes, why: str
) -> None:
    """Anything but 32 bytes (raw or base64) is a usage error naming the file and the
    problem, never a byte of the file."""
    path = write(tmp_path, data)
    with pytest.raises(UsageError, match=why) as caught:
        read_key_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert KEY[:8].decode() not in message
    assert base64.b64encode(KEY[:16]).decode()[:8] not in message


def test_a_printable_raw_key_is_used_as_it_is_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """32 printable characters (a passphrase, 16 bytes in hex) are the raw key, said in a
    warning that does not show them."""
    text = b"0123456789abcdef0123456789abcdef"
    with caplog.at_level("WARNING", logger="s3sink"):
        assert read_key_file(write(tmp_path, text)) == text
    assert "used as the raw key" in caplog.text
    assert text.decode() not in caplog.text


def test_a_missing_key_file_is_a_usage_error(tmp_path: Path) -> None:
    """A key file that cannot be read: exit 2's error, with the reason."""
    with pytest.raises(UsageError, match="cannot read the key file"):
        read_key_file(tmp_path / "nope")


def test_the_key_never_shows_itself() -> None:
    """repr and str of a key (in a dataclass repr, a log line, a traceback) hide it."""
    key = customer_key(KEY)
    assert isinstance(key, bytes)
    assert key == KEY
    for text in (repr(key), str(key), repr(sse_c_args(key)), f"{key}"):
        assert KEY.decode() not in text
        assert B64.decode() not in text
        assert "32 bytes" in text


def test_a_library_key_must_be_32_bytes() -> None:
    """sse_c_key of another length or type is refused (UsageError, TypeError)."""
    with pytest.raises(UsageError, match="must be 32 bytes"):
        customer_key(b"short")
    with pytest.raises(TypeError, match="not str"):
        customer_key(KEY.decode())


def test_the_writer_sends_sse_c_parameters_with_its_config() -> None:
    """sse_c_key= becomes SSECustomerAlgorithm AES256 and the key in the upload's
    parameters, which every part and the completion repeat."""
    w = make_writer(FakeS3(), sse_c_key=KEY)
    try:
        spec = w.config.spec
        assert spec.extra["SSECustomerAlgorithm"] == "AES256"
        assert spec.extra["SSECustomerKey"] == KEY
        assert spec.part_extra["SSECustomerKey"] == KEY
        assert KEY.decode() not in repr(w.config)
    finally:
        w.abort()


@pytest.mark.parametrize(
    "extra",
    [{"ServerSideEncryption": "AES256"}, {"SSECustomerKey": KEY}],
)
def test_the_writer_refuses_sse_c_beside_another_encryption(extra: dict[str, object]) -> None:
    """sse_c_key with SSE-S3/KMS or a key in extra_args too: refused before any I/O."""
    with pytest.raises(UsageError, match="sse_c_key cannot be combined"):
        make_writer(FakeS3(), sse_c_key=KEY, extra_args=extra)


def test_the_sink_reads_its_key_file_into_the_parameters(tmp_path: Path) -> None:
    """--sse-c-key-file: the key's parameters; with --sse, refused."""
    path = str(write(tmp_path, B64))
    extra = extra_args(SinkOptions(uri="s3://b/k", sse_c_key_file=path))
    assert extra == {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
    assert isinstance(extra["SSECustomerKey"], CustomerKey)
    with pytest.raises(UsageError, match="--sse-c-key-file cannot be combined with --sse"):
        extra_args(SinkOptions(uri="s3://b/k", sse_c_key_file=path, sse="AES256"))


def test_a_resume_without_the_key_is_told_to_give_it_again() -> None:
    """The journal records a salted digest of the key (never the key, its base64 or its
    MD5); a resume without the key is refused in words that say what is missing."""
    recorded = recorded_settings(sse_c_args(customer_key(KEY)), "upload-1")
    text = repr(recorded)
    assert KEY.decode() not in text
    assert B64.decode() not in text
    with pytest.raises(UsageError, match="created with an SSE-C key; give the same key"):
        check_settings({}, "upload-1", recorded, bucket="b", key="k")
