"""Tests for s3sink._location: s3:// URI parsing and S3's bucket and key rules."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._location import S3Location, parse_location
from s3sink.errors import InvalidLocationError, UsageError

EXPECTED_FORM = "expected the form s3://BUCKET/KEY"


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://bucket/key", "bucket", "key"),
        ("S3://bucket/key", "bucket", "key"),
        ("s3://my.bucket-1/key", "my.bucket-1", "key"),
        ("s3://abc/k", "abc", "k"),
        ("s3://" + "a" * 63 + "/k", "a" * 63, "k"),
        ("s3://1bucket9/k", "1bucket9", "k"),
        ("s3://bucket/dir/sub/file.tar.gz", "bucket", "dir/sub/file.tar.gz"),
        ("s3://bucket/a b  c ", "bucket", "a b  c "),
        ("s3://bucket/ leading", "bucket", " leading"),
        ("s3://bucket//double", "bucket", "/double"),
        ("s3://bucket/%41%2F+x", "bucket", "%41%2F+x"),
        (
            "s3://bucket/caf\u00e9/\u65e5\u672c/\U0001f600",
            "bucket",
            "caf\u00e9/\u65e5\u672c/\U0001f600",
        ),
        ("s3://bucket/tab\u00a0nbsp", "bucket", "tab\u00a0nbsp"),
        ("s3://bucket/s3://nested", "bucket", "s3://nested"),
        ("s3://bucket/" + "k" * 1024, "bucket", "k" * 1024),
        ("s3://bucket/" + "\u00e9" * 512, "bucket", "\u00e9" * 512),
        ("s3://192.168.5.4x/k", "192.168.5.4x", "k"),
        ("s3://1.2.3/k", "1.2.3", "k"),
        ("s3://my-s3alias-bucket/k", "my-s3alias-bucket", "k"),
        ("s3://my-ap-abc123-s3alias/k", "my-ap-abc123-s3alias", "k"),
        ("s3://axn--b/k", "axn--b", "k"),
    ],
)
def test_parse_location_accepts(uri: str, bucket: str, key: str) -> None:
    """A valid URI splits at the first slash, and the key is kept verbatim."""
    assert parse_location(uri) == S3Location(bucket=bucket, key=key)


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("s3://bucket", ""),
        ("s3://bucket/", ""),
        ("s3://bucket/prefix/", "prefix/"),
        ("s3://bucket/prefix", "prefix"),
    ],
)
def test_parse_location_allow_empty_key(uri: str, key: str) -> None:
    """With allow_empty_key, a bare bucket or a prefix is a valid location."""
    assert parse_location(uri, allow_empty_key=True) == S3Location(bucket="bucket", key=key)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "does not start with s3://"),
        ("bucket/key", "does not start with s3://"),
        ("s3:/bucket/key", "does not start with s3://"),
        ("s3:bucket/key", "does not start with s3://"),
        ("https://bucket.s3.amazonaws.com/key", "does not start with s3://"),
        (" s3://bucket/key", "does not start with s3://"),
        ("s3a://bucket/key", "does not start with s3://"),
        ("s3://", "bucket name is missing"),
        ("s3:///key", "bucket name is missing"),
        ("s3://bucket", "object key is missing"),
        ("s3://bucket/", "object key is missing"),
        ("s3://ab/key", "2 characters long"),
        ("s3://" + "a" * 64 + "/key", "64 characters long"),
        ("s3://MyBucket/key", "contains 'M'"),
        ("s3://my_bucket/key", "contains '_'"),
        ("s3://my bucket/key", "contains ' '"),
        ("s3://b\u00fccket/key", "contains '\u00fc'"),
        ("s3://bucket:9000/key", "contains ':'"),
        ("s3://bu\udcffcket/key", "contains '\\udcff'"),
        ("s3://-bucket/key", "start and end with a letter or digit"),
        ("s3://bucket-/key", "start and end with a letter or digit"),
        ("s3://.bucket/key", "start and end with a letter or digit"),
        ("s3://bucket./key", "start and end with a letter or digit"),
        ("s3://my..bucket/key", "contains '..'"),
        ("s3://192.168.5.4/key", "IP address"),
        ("s3://10.0.0.1/key", "IP address"),
        ("s3://xn--bucket/key", "'xn--'"),
        ("s3://bucket--ol-s3/key", "'--ol-s3'"),
        ("s3://bucket/" + "k" * 1025, "1025 bytes"),
        ("s3://bucket/" + "\u00e9" * 513, "1026 bytes"),
        ("s3://bucket/a\x00b", "'\\x00' at position 1"),
        ("s3://bucket/line\nbreak", "'\\n' at position 4"),
        ("s3://bucket/tab\there", "'\\t'"),
        ("s3://bucket/\x1f", "'\\x1f'"),
        ("s3://bucket/del\x7f", "'\\x7f'"),
        ("s3://bucket/caf\udce9", "undecodable byte 0xe9 at position 3"),
        ("s3://bucket/x\ud800", "lone surrogate '\\ud800'"),
    ],
)
def test_parse_location_rejects(uri: str, reason: str) -> None:
    """Bad schemes, bucket names and keys raise InvalidLocationError saying what is wrong."""
    with pytest.raises(InvalidLocationError) as info:
        parse_location(uri)
    message = str(info.value)
    assert repr(uri) in message
    assert reason in message
    assert EXPECTED_FORM in message


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/caf\udce9", "s3://bucket/\ud800", "s3://bu\udcffcket/key", "s3://bucket/\x00"],
)
def test_parse_location_error_message_is_printable(uri: str) -> None:
    """The error for a key or bucket from a non-UTF-8 argv can itself be encoded and printed."""
    with pytest.raises(InvalidLocationError) as info:
        parse_location(uri)
    assert str(info.value).encode("utf-8").isascii()


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("gs://bucket/", "does not start with s3://"),
        ("s3:///", "bucket name is missing"),
        ("s3://MyBucket/prefix/", "contains 'M'"),
        ("s3://bucket/pre\x00fix/", "'\\x00'"),
        ("s3://bucket/" + "p" * 1025, "1025 bytes"),
    ],
)
def test_allow_empty_key_still_checks(uri: str, reason: str) -> None:
    """allow_empty_key admits only an empty key; scheme, bucket and key rules still apply."""
    with pytest.raises(InvalidLocationError, match=re.escape(reason)):
        parse_location(uri, allow_empty_key=True)


def test_invalid_location_is_a_usage_error() -> None:
    """A bad location is a UsageError and a ValueError, so the CLI exits with status 2."""
    with pytest.raises(InvalidLocationError) as info:
        parse_location("nope")
    assert isinstance(info.value, UsageError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("location", "text"),
    [
        (S3Location("bucket", "key"), "s3://bucket/key"),
        (S3Location("bucket", "a/b c/\u00e9"), "s3://bucket/a/b c/\u00e9"),
        (S3Location("bucket", ""), "s3://bucket/"),
    ],
)
def test_location_str_and_uri(location: S3Location, text: str) -> None:
    """str() and .uri both give the s3://bucket/key form."""
    assert str(location) == text
    assert location.uri == text


def test_location_is_frozen_and_slotted() -> None:
    """S3Location is immutable and hashable, so it can be shared and used as a dict key."""
    location = S3Location("bucket", "key")
    with pytest.raises(dataclasses.FrozenInstanceError):
        location.key = "other"  # type: ignore[misc]
    assert not hasattr(location, "__dict__")
    assert {location: 1}[S3Location("bucket", "key")] == 1


_BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True).filter(
    lambda b: not b.startswith("xn--") and not b.endswith(("-s3alias", "--ol-s3"))
)
_KEYS = st.text(
    # Any UTF-8-encodable character except the ASCII controls \x00-\x1f and \x7f.
    alphabet=st.characters(codec="utf-8", min_codepoint=0x20, exclude_characters="\x7f"),
    min_size=1,
    max_size=200,
)


@settings(database=None)
@given(bucket=_BUCKETS, key=_KEYS)
def test_uri_round_trips(bucket: str, key: str) -> None:
    """parse_location reads back exactly the bucket and key that S3Location.uri wrote."""
    location = S3Location(bucket, key)
    assert parse_location(location.uri) == location
