"""Tests for s3sink._sizes: parsing and formatting of byte sizes and durations."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._sizes import format_duration, format_size, parse_duration, parse_size
from s3sink.errors import UsageError

KiB = 1024
MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
PiB = 1024**5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1048576),
        (1048576, 1048576),
        ("0", 0),
        (0, 0),
        ("0B", 0),
        ("512B", 512),
        ("512 b", 512),
        ("1KiB", KiB),
        ("8MiB", 8 * MiB),
        ("8mib", 8 * MiB),
        ("8 MiB", 8 * MiB),
        ("2GiB", 2 * GiB),
        ("1TiB", TiB),
        ("1PiB", PiB),
        ("4K", 4 * KiB),
        ("16M", 16 * MiB),
        ("16m", 16 * MiB),
        ("1G", GiB),
        ("3T", 3 * TiB),
        ("1KB", 1000),
        ("5MB", 5_000_000),
        ("5mb", 5_000_000),
        ("1GB", 1_000_000_000),
        ("2TB", 2_000_000_000_000),
        ("1.5GB", 1_500_000_000),
        ("1.5GiB", 1610612736),
        ("1.5 GiB", 1610612736),
        ("0.5GiB", 512 * MiB),
        ("0.25K", 256),
        ("1.0B", 1),
        ("007MiB", 7 * MiB),
        ("  16MiB\n", 16 * MiB),
    ],
)
def test_parse_size_accepts(text: str | int, expected: int) -> None:
    """Plain bytes and IEC, SI and single-letter suffixes parse to the exact byte count."""
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", None),
        ("   ", None),
        ("_", None),
        ("__", None),
        ("1_000", None),
        ("MiB", None),
        ("abc", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("0x10", None),
        (".5GiB", None),
        ("5.GiB", None),
        ("1 2", None),
        ("8 XB", "unknown unit"),
        ("8MiBs", "unknown unit"),
        ("8Mi", "unknown unit"),
        ("8 \u212aiB", None),  # Kelvin sign, which case-folds to "k" in Unicode regexes
        ("\uff11\uff12", None),  # full-width digits, which int() would accept
        ("-1", "negative"),
        ("-5MiB", "negative"),
        (-1, "non-negative"),
        (True, "non-negative"),
        ("1.3B", "whole number of bytes"),
        ("0.1K", "whole number of bytes"),
        ("1.5", "plain byte count"),
        ("1.0", "plain byte count"),
        ("9" * 65, "too long"),
    ],
)
def test_parse_size_rejects(text: str | int, reason: str | None) -> None:
    """Garbage, negatives and fractional bytes raise UsageError quoting input and example."""
    with pytest.raises(UsageError) as info:
        parse_size(text)
    message = str(info.value)
    assert repr(str(text)) in message
    assert "expected a size like 8MiB, 16M, 1.5GB or 1048576" in message
    if reason is not None:
        assert reason in message


def test_parse_size_error_is_a_value_error() -> None:
    """A bad size is also a ValueError, so generic option parsers report it as bad input."""
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("lots")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (1331, "1.3 KiB"),
        (1945, "1.9 KiB"),
        (1997, "2 KiB"),
        (MiB - 1, "1 MiB"),
        (16 * MiB, "16 MiB"),
        (5 * MiB + 1, "5 MiB"),
        (1610612736, "1.5 GiB"),
        (GiB - MiB, "1023 MiB"),
        (TiB, "1 TiB"),
        (PiB, "1 PiB"),
        (2048 * PiB, "2048 PiB"),
    ],
)
def test_format_size(n: int, expected: str) -> None:
    """Sizes print in the largest fitting IEC unit with at most one decimal and no '.0'."""
    assert format_size(n) == expected


def test_format_size_rejects_negative() -> None:
    """A negative size is a programming error, not something to print."""
    with pytest.raises(ValueError, match="negative"):
        format_size(-1)


@st.composite
def exact_sizes(draw: st.DrawFn) -> int:
    """Sizes that format_size prints without rounding: bytes, or whole and half units."""
    exponent = draw(st.integers(min_value=0, max_value=5))
    if exponent == 0:
        return draw(st.integers(min_value=0, max_value=1023))
    halves = draw(st.integers(min_value=2, max_value=2047 if exponent < 5 else 10**6))
    return halves << (10 * exponent - 1)  # halves * 1024**exponent / 2, typed as int


@settings(database=None)
@given(exact_sizes())
def test_format_size_round_trips_exact_values(n: int) -> None:
    """parse_size reads back exactly what format_size prints for whole and half units."""
    assert parse_size(format_size(n)) == n


@settings(database=None)
@given(st.integers(min_value=0, max_value=2**70))
def test_format_size_is_close_and_well_formed(n: int) -> None:
    """format_size prints 'N[.D] UNIT' within half a tenth of the unit of the true size."""
    text = format_size(n)
    match = re.fullmatch(r"(0|[1-9][0-9]*)(?:\.([1-9]))? (B|KiB|MiB|GiB|TiB|PiB)", text)
    assert match is not None, text
    whole, tenth, unit = match.groups()
    scale = 1024 ** ("B", "KiB", "MiB", "GiB", "TiB", "PiB").index(unit)
    shown_tenths = int(whole) * 10 + int(tenth or 0)
    assert abs(shown_tenths * scale - n * 10) * 2 <= scale
    if unit not in ("B", "PiB"):
        assert 10 <= shown_tenths < 10240


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0.0),
        ("45", 45.0),
        ("0.5", 0.5),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("12h", 43200.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("1.5h", 5400.0),
        ("1h30m", 5400.0),
        ("1d12h", 129600.0),
        ("1w2d3h4m5s", 788645.0),
        ("0s", 0.0),
        (" 30m ", 1800.0),
    ],
)
def test_parse_duration_accepts(text: str, expected: float) -> None:
    """Unit suffixes, combinations from large to small, and bare seconds all parse."""
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", None),
        ("   ", None),
        ("h", None),
        ("abc", None),
        ("1x", None),
        ("1H", None),
        ("1M", None),
        ("1h 30m", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("1_000s", None),
        ("-5", "negative"),
        ("-5s", "negative"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("9" * 400 + "w", "too large"),
    ],
)
def test_parse_duration_rejects(text: str, reason: str | None) -> None:
    """Garbage, negatives and out-of-order units raise UsageError quoting input and example."""
    with pytest.raises(UsageError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message
    assert "expected a duration like 90s, 30m, 12h, 7d, 2w or 1h30m" in message
    if reason is not None:
        assert reason in message


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (0.04, "0s"),
        (0.4, "0.4s"),
        (3, "3s"),
        (9.94, "9.9s"),
        (9.96, "10s"),
        (12, "12s"),
        (12.4, "12s"),
        (59.4, "59s"),
        (59.6, "1m00s"),
        (185, "3m05s"),
        (3599, "59m59s"),
        (3599.6, "1h00m"),
        (7260, "2h01m"),
        (86369, "23h59m"),
        (86370, "1d00h"),
        (273600, "3d04h"),
        (400 * 86400, "400d00h"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    """Durations print compactly in at most two units, the smaller zero-padded."""
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_format_duration_rejects_impossible(seconds: float) -> None:
    """Negative and non-finite durations are programming errors, not something to print."""
    with pytest.raises(ValueError, match="finite and non-negative"):
        format_duration(seconds)
