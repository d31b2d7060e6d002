"""Bad input to the library, table-driven: the exception type (``TypeError`` for a wrong type,
s3sink's ``UsageError`` / ``InvalidLocationError`` -- both ``ValueError`` -- for a bad value),
raised before the client sends a single request to the moto server, and nothing left on it.
The command's bad input: tests/cli/test_bad_input.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import s3sink
from s3sink import InvalidLocationError, S3MultipartWriter, UsageError
from tests.support.clirun import (
    assert_nothing_written,
)
from tests.support.motoserver import make_client

MiB = 1024 * 1024
TiB = 1024 * 1024 * MiB
DATA = b"\x00payload" * (6 * MiB // 8)  # more than a part: a write after it starts an MPU

Action = Callable[[str, Any], object]


def writer(**options: Any) -> Action:
    """Build an S3MultipartWriter for the test's bucket, key "k", 5 MiB parts, ``options``
    on top ("{bucket}" in a str option becomes the bucket name)."""

    def make(bucket: str, client: Any) -> object:
        args: dict[str, Any] = {"bucket": bucket, "key": "k", "part_size": 5 * MiB}
        for name, value in options.items():
            args[name] = value.format(bucket=bucket) if isinstance(value, str) else value
        return S3MultipartWriter(args.pop("bucket"), args.pop("key"), client=client, **args)

    return make


def opened(uri: object, mode: str = "wb", **options: Any) -> Action:
    """Call s3sink.open(uri, mode, client=..., **options)."""

    def make(bucket: str, client: Any) -> object:
        target = uri.format(bucket=bucket) if isinstance(uri, str) else uri
        return s3sink.open(target, mode, client=client, **options)

    return make


def writes(data: object) -> Action:
    """Write a full part, then ``data``, inside ``with``: the bad write aborts what was sent."""

    def make(bucket: str, client: Any) -> object:
        with S3MultipartWriter(bucket, "k", client=client, part_size=5 * MiB) as w:
            w.write(DATA)  # part 1 goes out once more data arrives
            w.write(b"more")
            w.write(data)
        return w

    return make


class NoDataYet:
    """A non-blocking source with nothing to read: readinto returns None."""

    def readinto(self, buffer: memoryview) -> None:
        return None


def reads_nonblocking(bucket: str, client: Any) -> object:
    """readinto_from a non-blocking source inside ``with``."""
    with S3MultipartWriter(bucket, "k", client=client, part_size=5 * MiB) as w:
        w.write(DATA + b"more")
        w.readinto_from(NoDataYet())
    return w


def lib(
    action: Action,
    error: type[BaseException],
    needle: str,
    *,
    sends: bool = False,
    id: str,
) -> Any:
    """One library case: what to do, the exception type, text in its message, and whether
    requests are expected (operations that fail after a part went out)."""
    return pytest.param(action, error, needle, sends, id=id)


LIBRARY_CASES = [
    # bucket and key
    lib(writer(bucket=""), InvalidLocationError, "bucket name is missing", id="bucket-empty"),
    lib(writer(bucket=None), TypeError, "bucket must be a str, not NoneType", id="bucket-none"),
    lib(
        writer(bucket="s3://{bucket}"),
        InvalidLocationError,
        "is not a bucket name",
        id="bucket-is-a-uri",
    ),
    lib(
        writer(bucket="{bucket}/dir"),
        InvalidLocationError,
        "pass the bucket and the key separately",
        id="bucket-with-slash",
    ),
    lib(
        writer(bucket="my bucket"),
        InvalidLocationError,
        "is not a bucket name",
        id="bucket-with-space",
    ),
    lib(writer(key=""), InvalidLocationError, "the object key is missing", id="key-empty"),
    lib(writer(key=b"k"), TypeError, "key must be a str, not bytes", id="key-bytes"),
    lib(writer(key=5), TypeError, "key must be a str, not int", id="key-int"),
    lib(writer(key="k" * 1025), InvalidLocationError, "1025 bytes long", id="key-1025-bytes"),
    lib(
        writer(key="\u00e9" * 513),
        InvalidLocationError,
        "1026 bytes long in UTF-8",
        id="key-1026-utf8-bytes",
    ),
    lib(writer(key="caf\udce9"), InvalidLocationError, "not valid UTF-8", id="key-lone-surrogate"),
    lib(writer(key="a\x00b"), InvalidLocationError, "control character", id="key-nul"),
    # sizes
    lib(
        writer(part_size="5MiB"),
        TypeError,
        "part_size must be an int (bytes), not str",
        id="part-size-str",
    ),
    lib(writer(part_size=5.5 * MiB), TypeError, "not float", id="part-size-float"),
    lib(writer(part_size=True), TypeError, "not bool", id="part-size-bool"),
    lib(writer(part_size=0), UsageError, "part size 0 B is outside S3's limits", id="part-size-0"),
    lib(
        writer(part_size=-1), UsageError, "part_size must not be negative", id="part-size-negative"
    ),
    lib(
        writer(part_size=5 * MiB - 1), UsageError, "outside S3's limits", id="part-size-below-5MiB"
    ),
    lib(
        writer(part_size=5 * 1024 * MiB + 1),
        UsageError,
        "outside S3's limits",
        id="part-size-above-5GiB",
    ),
    lib(writer(part_size=2**80), UsageError, "outside S3's limits", id="part-size-huge"),
    lib(
        writer(max_memory=4 * MiB),
        UsageError,
        "max_memory 4 MiB is smaller than one part (5 MiB)",
        id="max-memory-below-part",
    ),
    lib(
        writer(max_memory=-1),
        UsageError,
        "max_memory must not be negative",
        id="max-memory-negative",
    ),
    lib(writer(max_memory="1GiB"), TypeError, "max_memory must be an int", id="max-memory-str"),
    lib(writer(expected_size=-1), UsageError, "must not be negative", id="expected-size-negative"),
    lib(
        writer(expected_size=1.5),
        TypeError,
        "expected_size must be an int",
        id="expected-size-float",
    ),
    lib(
        writer(expected_size=100 * 1024 * TiB),
        UsageError,
        "exceeds S3's largest object",
        id="expected-size-above-48.8TiB",
    ),
    # concurrency
    lib(
        writer(concurrency=0),
        UsageError,
        "concurrency must be a whole number of at least 1",
        id="concurrency-0",
    ),
    lib(writer(concurrency=-2), UsageError, "at least 1 (-2)", id="concurrency-negative"),
    lib(
        writer(concurrency="4"),
        TypeError,
        "concurrency must be an int, not str",
        id="concurrency-str",
    ),
    lib(writer(concurrency=2.0), TypeError, "not float", id="concurrency-float"),
    # request parameters
    lib(
        writer(extra_args=[("ACL", "private")]),
        TypeError,
        "extra_args must be a mapping",
        id="extra-args-list",
    ),
    lib(
        writer(extra_args={"Bucket": "other"}),
        UsageError,
        "unsupported extra_args: Bucket",
        id="extra-args-unknown",
    ),
    lib(
        writer(extra_args={"ContentType": "text/plain\r\nX-Injected: 1"}),
        UsageError,
        "control character",
        id="content-type-header-injection",
    ),
    lib(
        writer(extra_args={"Metadata": [("k", "v")]}),
        TypeError,
        "must map str keys to str values",
        id="metadata-not-a-mapping",
    ),
    lib(
        writer(extra_args={"Metadata": {"k": 1}}),
        TypeError,
        "must map str keys to str values",
        id="metadata-int-value",
    ),
    lib(
        writer(extra_args={"Metadata": {"": "v"}}),
        UsageError,
        "metadata key '' is not a valid name",
        id="metadata-empty-key",
    ),
    lib(
        writer(extra_args={"Metadata": {"\u043a\u043b\u044e\u0447": "v"}}),
        UsageError,
        "is not a valid name",
        id="metadata-non-ascii-key",
    ),
    lib(
        writer(extra_args={"Metadata": {"my key": "v"}}),
        UsageError,
        "is not a valid name",
        id="metadata-space-in-key",
    ),
    lib(
        writer(extra_args={"Metadata": {"k": "\u00e9t\u00e9"}}),
        UsageError,
        "must be printable ASCII",
        id="metadata-non-ascii-value",
    ),
    lib(
        writer(extra_args={"Metadata": {"k": "a\nb"}}),
        UsageError,
        "must be printable ASCII",
        id="metadata-newline-value",
    ),
    lib(
        writer(extra_args={"Metadata": {"Owner": "1", "owner": "2"}}),
        UsageError,
        "the same name to S3",
        id="metadata-duplicate-ignoring-case",
    ),
    lib(
        writer(extra_args={"Metadata": {"k": "v" * 2100}}),
        UsageError,
        "S3 allows 2048 bytes",
        id="metadata-over-2KiB",
    ),
    lib(
        writer(extra_args={"Tagging": "&".join(f"k{i}=v" for i in range(11))}),
        UsageError,
        "at most 10 tags",
        id="tagging-eleven",
    ),
    lib(
        writer(extra_args={"Tagging": "a=1&a=2"}),
        UsageError,
        "distinct keys",
        id="tagging-duplicate",
    ),
    lib(
        writer(extra_args={"Tagging": {"a": "1"}}), TypeError, "URL-encoded str", id="tagging-dict"
    ),
    # checksums, conditions, timeouts, callbacks
    lib(
        writer(checksum="adler32"), UsageError, "unknown checksum 'adler32'", id="checksum-unknown"
    ),
    lib(writer(checksum=32), TypeError, "checksum must be a str or None", id="checksum-int"),
    lib(
        writer(if_none_match="etag"),
        UsageError,
        "if_none_match must be '*'",
        id="if-none-match-not-star",
    ),
    lib(writer(if_match=""), UsageError, "if_match must be an ETag", id="if-match-empty"),
    lib(
        writer(if_none_match="*", if_match='"e"'),
        UsageError,
        "cannot be combined",
        id="if-none-match-and-if-match",
    ),
    lib(
        writer(abort_timeout=-1),
        UsageError,
        "abort_timeout must be a finite number",
        id="abort-timeout-negative",
    ),
    lib(
        writer(abort_timeout=float("nan")),
        UsageError,
        "abort_timeout must be a finite number",
        id="abort-timeout-nan",
    ),
    lib(
        writer(abort_timeout="60"),
        TypeError,
        "abort_timeout must be a number",
        id="abort-timeout-str",
    ),
    lib(
        writer(on_progress="print"),
        TypeError,
        "on_progress must be callable",
        id="on-progress-not-callable",
    ),
    # s3sink.open
    lib(
        opened("s3://{bucket}"), InvalidLocationError, "the object key is missing", id="open-no-key"
    ),
    lib(
        opened("{bucket}/k"), InvalidLocationError, "does not start with s3://", id="open-no-scheme"
    ),
    lib(opened(b"s3://bucket/k"), TypeError, "must be a str, not bytes", id="open-bytes-uri"),
    lib(opened(None), TypeError, "must be a str, not NoneType", id="open-none"),
    lib(
        opened("s3://{bucket}/k", "ab"), UsageError, "unsupported mode 'ab'", id="open-append-mode"
    ),
    lib(
        opened("s3://{bucket}/k", "wb", encoding="utf-8"),
        UsageError,
        "text mode only",
        id="open-binary-with-encoding",
    ),
    lib(
        opened("s3://{bucket}/k", "w", part_size=MiB),
        UsageError,
        "outside S3's limits",
        id="open-text-small-part",
    ),
    # operations: the bad call raises inside `with`, which aborts what was already sent
    lib(writes("text"), TypeError, "not str", sends=True, id="write-str"),
    lib(writes(5), TypeError, "bytes-like object", sends=True, id="write-int"),
    lib(
        reads_nonblocking,
        BlockingIOError,
        "needs a blocking source",
        sends=True,
        id="readinto-nonblocking",
    ),
]


@pytest.fixture
def bucket(module_bucket: str) -> str:
    """Every case uses the module's one bucket (tests/conftest.py), emptied between cases."""
    return module_bucket


@pytest.fixture(scope="module")
def recording_client(module_s3: Any) -> Iterator[tuple[Any, list[str]]]:
    """A client for the same server that records every request it is about to send."""
    client = make_client(module_s3.meta.endpoint_url)
    sent: list[str] = []

    def record(request: Any, **kwargs: Any) -> None:
        sent.append(f"{request.method} {request.url}")

    client.meta.events.register("before-send.s3", record)
    yield client, sent
    client.close()


@pytest.fixture
def counting_client(recording_client: tuple[Any, list[str]]) -> tuple[Any, list[str]]:
    """The recording client, with no request recorded yet."""
    recording_client[1].clear()
    return recording_client


@pytest.mark.parametrize(("action", "error", "needle", "sends"), LIBRARY_CASES)
def test_library_refuses_bad_input(
    module_s3: Any,
    bucket: str,
    counting_client: tuple[Any, list[str]],
    action: Action,
    error: type[BaseException],
    needle: str,
    sends: bool,
) -> None:
    """A bad argument raises the right exception naming it, before any request (operations:
    after the part already sent, which the abort removes); nothing is left on the server."""
    client, sent = counting_client
    with pytest.raises(error) as info:
        action(bucket, client)
    assert needle in str(info.value)
    if sends:
        assert any(r.startswith("PUT ") for r in sent)  # a part went out, then was aborted
    else:
        assert sent == []
    assert_nothing_written(module_s3, bucket)
