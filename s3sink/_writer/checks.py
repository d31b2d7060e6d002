"""Checks of the writer's arguments, made at construction, before any request.

S3 would refuse a bad header, metadata name or tag set only at the first request — by then a
producer may have streamed gigabytes (and moto even stores an object whose tags it then
refuses). Untyped callers get a ``TypeError`` here instead of an obscure failure later (a float
part size at the first write, a bytes key at ``close()``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from .._sizes import format_size
from .._store.objectlock import check_object_lock
from .._store.transport import ALLOWED_EXTRA_ARGS
from ..errors import UsageError

# S3's limits on user metadata (keys and values, in bytes) and on tags.
MAX_METADATA_BYTES = 2048
MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Control characters and lone surrogates (undecodable argv bytes) cannot travel in a header.
HEADER_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# Metadata goes out as "x-amz-meta-NAME: VALUE": NAME must be an HTTP token.
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PRINTABLE_ASCII_RE = re.compile(r"[\x20-\x7e]*")

_Kind = type[object] | tuple[type[object], ...]


def check_writer_options(
    *,
    part_size: int,
    concurrency: int,
    max_memory: int | None,
    expected_size: int | None,
    extra_args: Mapping[str, Any] | None,
    on_progress: object,
    checksum: str | None,
    if_none_match: str | None,
    if_match: str | None,
    abort_timeout: float,
) -> None:
    """Raise ``TypeError`` or :class:`UsageError` for anything S3 or the writer would refuse.

    The annotations are what typed callers pass; the checks are for everyone else.
    """
    _check_types(
        (
            ("part_size", part_size, int, "an int (bytes)"),
            ("concurrency", concurrency, int, "an int"),
            ("max_memory", max_memory, (int, type(None)), "an int (bytes) or None"),
            ("expected_size", expected_size, (int, type(None)), "an int (bytes) or None"),
            ("extra_args", extra_args, (Mapping, type(None)), "a mapping or None"),
            ("checksum", checksum, (str, type(None)), "a str or None"),
            ("if_none_match", if_none_match, (str, type(None)), "a str or None"),
            ("if_match", if_match, (str, type(None)), "a str or None"),
            ("abort_timeout", abort_timeout, (int, float), "a number of seconds"),
        )
    )
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, not {type(on_progress).__name__}")
    if isinstance(concurrency, bool) or concurrency < 1:
        raise UsageError(f"concurrency must be a whole number of at least 1 ({concurrency!r})")
    for name, size in (("part_size", part_size), ("max_memory", max_memory)):
        if size is not None and size < 0:  # format_size() in later messages refuses them
            raise UsageError(f"{name} must not be negative ({size})")
    if max_memory is not None and not budget_holds_a_part(part_size, max_memory):
        raise UsageError(
            f"max_memory {format_size(max_memory)} is smaller than one part "
            f"({format_size(part_size)})"
        )
    if not 0 <= abort_timeout < float("inf"):  # NaN fails too
        raise UsageError(f"abort_timeout must be a finite number of seconds ({abort_timeout})")
    check_extra_args(extra_args or {})
    check_object_lock(extra_args or {}, checksum)
    _check_conditions(if_none_match, if_match)


def budget_holds_a_part(part_size: int, max_memory: int) -> bool:
    """The memory budget can hold one part (the rule the writer and the command share)."""
    return max_memory >= part_size


def tag_problem(tags: Sequence[tuple[str, str]]) -> Literal["count", "key", "length"] | None:
    """Which of S3's tag rules ``tags`` break: more than MAX_TAGS (``count``), a repeated or
    empty key (``key``), a key or value too long (``length``); None when they keep them."""
    if len(tags) > MAX_TAGS:
        return "count"
    if len({k for k, _ in tags}) != len(tags) or any(not k for k, _ in tags):
        return "key"
    if any(len(k) > MAX_TAG_KEY or len(v) > MAX_TAG_VALUE for k, v in tags):
        return "length"
    return None


def _check_types(table: tuple[tuple[str, object, _Kind, str], ...]) -> None:
    for name, value, kind, what in table:
        # A bool is an int, but True bytes is a mistake (concurrency=True is refused as a
        # UsageError with the other bad counts).
        if not isinstance(value, kind) or (isinstance(value, bool) and name != "concurrency"):
            raise TypeError(f"{name} must be {what}, not {type(value).__name__}")


def check_extra_args(extra_args: Mapping[str, Any]) -> None:
    """Known names, header-safe values, and metadata and tags within S3's rules."""
    unknown = sorted(set(extra_args) - ALLOWED_EXTRA_ARGS)
    if unknown:
        raise UsageError(f"unsupported extra_args: {', '.join(unknown)}")
    for name, value in extra_args.items():
        if name != "SSECustomerKey" and isinstance(value, str) and HEADER_UNSAFE_RE.search(value):
            raise UsageError(
                f"extra_args[{name!r}] {value!r} holds a control character or undecodable "
                "byte, which an HTTP header cannot carry"
            )
    metadata: object = extra_args.get("Metadata")
    if metadata is not None:
        _check_metadata(metadata)
    tagging: object = extra_args.get("Tagging")
    if tagging is not None:
        _check_tagging(tagging)


def _check_metadata(metadata: object) -> None:
    if not isinstance(metadata, Mapping) or not all(
        isinstance(item, str) for pair in metadata.items() for item in pair
    ):
        raise TypeError("extra_args['Metadata'] must map str keys to str values")
    seen: dict[str, str] = {}
    for name, value in metadata.items():
        if _TOKEN_RE.fullmatch(name) is None:
            raise UsageError(
                f"metadata key {name!r} is not a valid name: use ASCII letters, "
                "digits and - _ . (no spaces, no '=')"
            )
        if name.lower() in seen:  # S3 lower-cases names: these would be one
            raise UsageError(
                f"metadata keys {seen[name.lower()]!r} and {name!r} are the same name "
                "to S3 (it ignores case)"
            )
        seen[name.lower()] = name
        if _PRINTABLE_ASCII_RE.fullmatch(value) is None:  # botocore refuses the rest
            raise UsageError(
                f"metadata value {value!r} (key {name!r}) must be printable ASCII; "
                "encode other text first (e.g. percent-encoding)"
            )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise UsageError(
            f"metadata is {size} bytes; S3 allows {MAX_METADATA_BYTES} bytes of "
            "user metadata (keys and values)"
        )


def _check_tagging(tagging: object) -> None:
    if not isinstance(tagging, str):
        raise TypeError("extra_args['Tagging'] must be a URL-encoded str (k1=v1&k2=v2)")
    if tag_problem(parse_qsl(tagging, keep_blank_values=True)) is not None:
        raise UsageError(
            f"extra_args['Tagging'] {tagging!r}: S3 takes at most {MAX_TAGS} tags with "
            f"distinct keys of 1 to {MAX_TAG_KEY} characters and values of at most "
            f"{MAX_TAG_VALUE}"
        )


def _check_conditions(if_none_match: object, if_match: object) -> None:
    if if_none_match is not None and if_none_match != "*":
        raise UsageError(
            f"if_none_match must be '*' (S3 supports nothing else), not {if_none_match!r}"
        )
    if isinstance(if_match, str) and (not if_match.strip() or HEADER_UNSAFE_RE.search(if_match)):
        raise UsageError(f"if_match must be an ETag, not {if_match!r}")
    if if_none_match is not None and if_match is not None:
        raise UsageError("if_none_match and if_match cannot be combined")


# botocore's own check of region names (it skips it for an empty one, which then breaks
# request signing with an obscure error).
_REGION_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?", re.ASCII)


def check_connection_options(
    *,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    names: tuple[str, str, str] = ("--endpoint-url", "--region", "--profile"),
) -> None:
    """Refuse what botocore would accept here and fail on later, in a request (an empty
    region breaks request signing; an ftp:// endpoint fails endpoint resolution). ``names``
    are how the caller spells the three (the command's options by default)."""
    endpoint_name, region_name, profile_name = names
    if endpoint_url is not None:
        parts = urlsplit(endpoint_url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # a port that is not a number or out of range
            port_ok = False
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
            raise UsageError(
                f"invalid {endpoint_name} {endpoint_url!r}: expected http(s)://HOST[:PORT], "
                "e.g. https://s3.eu-west-1.amazonaws.com"
            )
    if region is not None and _REGION_RE.fullmatch(region) is None:
        raise UsageError(
            f"invalid {region_name} {region!r}: expected a region name such as us-east-1 "
            "(letters, digits and '-')"
        )
    if profile is not None and not profile.strip():
        raise UsageError(f"{profile_name} is empty; give a profile name or leave it out")
