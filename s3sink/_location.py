"""``s3://bucket/key`` locations, checked before any network call.

A typo in a bucket name or a key that S3 cannot store should fail as a usage error that says
what is wrong, before a producer starts streaming, not as an opaque service error halfway
through an upload. Keys are kept verbatim (no URL decoding, no stripping): S3 keys may contain
slashes, spaces and any Unicode, and ``%41`` is a valid key distinct from ``A``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3sink.errors import InvalidLocationError

__all__ = ["S3Location", "check_bucket_and_key", "parse_location"]

_SCHEME = "s3://"
_EXPECTED_FORM = "expected the form s3://BUCKET/KEY"
_MAX_KEY_BYTES = 1024  # S3's limit, counted in UTF-8 bytes
_NOT_BUCKET_CHAR_RE = re.compile(r"[^a-z0-9.-]", re.ASCII)
_IP_ADDRESS_RE = re.compile(r"[0-9]+(?:\.[0-9]+){3}", re.ASCII)
# Reserved by S3 for IDN encoding and Object Lambda access points (which take no writes).
# Access point aliases ("-s3alias") stay allowed: S3 accepts them wherever a bucket goes.
_RESERVED_PREFIXES = ("xn--",)
_RESERVED_SUFFIXES = ("--ol-s3",)
# Control characters break the XML of ListObjects responses and confuse terminals.
_CONTROL_CHAR_RE = re.compile(r"[\x00-\x1f\x7f]")
# What botocore itself lets through as a bucket (besides ARNs): looser than today's naming
# rules, because buckets made before 2018 in us-east-1 may hold capitals and underscores.
_LEGACY_BUCKET_RE = re.compile(r"[A-Za-z0-9._-]{1,255}", re.ASCII)


@dataclass(frozen=True, slots=True)
class S3Location:
    """An object in a bucket; with an empty key, the bucket or a prefix in it."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        """The location as ``s3://bucket/key``; parse_location reads it back unchanged."""
        return f"{_SCHEME}{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.uri


def _bucket_problem(bucket: str) -> str | None:
    """Say what breaks S3's bucket naming rules, or return None for a valid name."""
    if not bucket:
        return "the bucket name is missing"
    bad_char = _NOT_BUCKET_CHAR_RE.search(bucket)
    if bad_char is not None:
        return (
            f"the bucket name contains {bad_char.group()!r}; "
            "only lowercase letters, digits, '.' and '-' are allowed"
        )
    rules = (
        (
            not 3 <= len(bucket) <= 63,
            f"the bucket name is {len(bucket)} characters long; S3 allows 3 to 63",
        ),
        (
            not (bucket[0].isalnum() and bucket[-1].isalnum()),
            "the bucket name must start and end with a letter or digit",
        ),
        (".." in bucket, "the bucket name contains '..'"),
        (
            _IP_ADDRESS_RE.fullmatch(bucket) is not None,
            "the bucket name is formatted as an IP address",
        ),
        (
            bucket.startswith(_RESERVED_PREFIXES),
            f"bucket names starting with {' or '.join(map(repr, _RESERVED_PREFIXES))} "
            "are reserved by S3",
        ),
        (
            bucket.endswith(_RESERVED_SUFFIXES),
            f"bucket names ending with {' or '.join(map(repr, _RESERVED_SUFFIXES))} "
            "are reserved by S3",
        ),
    )
    return next((message for broken, message in rules if broken), None)


def _key_problem(key: str, *, allow_empty: bool) -> str | None:
    """Say why S3 cannot store ``key``, or return None for a valid key."""
    if not key:
        return None if allow_empty else "the object key is missing"
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A str from a non-UTF-8 argv holds lone surrogates (surrogateescape): name the byte.
        code = ord(key[exc.start])
        what = (
            f"the undecodable byte 0x{code - 0xDC00:02x}"
            if 0xDC80 <= code <= 0xDCFF
            else f"the lone surrogate {key[exc.start]!r}"
        )
        return (
            f"the key is not valid UTF-8 ({what} at position {exc.start} of the key); "
            "check the locale or the encoding of the name"
        )
    control = _CONTROL_CHAR_RE.search(key)
    if control is not None:
        return (
            f"the key contains the control character {control.group()!r} "
            f"at position {control.start()} of the key"
        )
    if len(encoded) > _MAX_KEY_BYTES:
        return f"the key is {len(encoded)} bytes long in UTF-8; S3 allows at most {_MAX_KEY_BYTES}"
    return None


def _require_str(what: str, value: object) -> None:
    # Typed callers never get here; untyped ones passing bytes would otherwise get a
    # misleading message (b"s3://..." "does not start with s3://") or an AttributeError.
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")


def _location_error(uri: str, problem: str) -> InvalidLocationError:
    # repr() escapes lone surrogates and control characters, so the message always prints.
    return InvalidLocationError(f"invalid S3 location {uri!r}: {problem}; {_EXPECTED_FORM}")


def check_bucket_and_key(bucket: str, key: str) -> None:
    """Check a bucket and key given separately (the library's ``S3MultipartWriter``).

    The key follows the same rules as in a URI. The bucket is checked only as far as botocore
    would (legacy names with capitals or ``_``, access point ARNs and aliases all pass), so
    that a URI or a path given as the bucket fails here, before any request. Raises
    :class:`TypeError` for non-strings and :class:`InvalidLocationError` naming the problem.
    """
    _require_str("the bucket", bucket)
    _require_str("the key", key)
    if not bucket.startswith("arn:") and _LEGACY_BUCKET_RE.fullmatch(bucket) is None:
        problem = "the bucket name is missing" if not bucket else f"{bucket!r} is not a bucket name"
        if "/" in bucket:
            problem += "; pass the bucket and the key separately, or a URI to s3sink.open()"
        raise InvalidLocationError(f"invalid S3 bucket: {problem}")
    key_problem = _key_problem(key, allow_empty=False)
    if key_problem is not None:
        raise InvalidLocationError(f"invalid S3 key {key!r}: {key_problem}")


def parse_location(uri: str, *, allow_empty_key: bool = False) -> S3Location:
    """Split ``s3://bucket/key`` into an :class:`S3Location` after checking both parts.

    The scheme is case-insensitive; the bucket ends at the first ``/`` and the rest is the key,
    verbatim. ``allow_empty_key`` admits ``s3://bucket`` and ``s3://bucket/prefix/`` for
    listings. Raises :class:`InvalidLocationError` naming the problem (:class:`TypeError`
    for a non-string: ``b"s3://..."`` would otherwise be reported as a missing scheme).
    """
    _require_str("an S3 URI", uri)
    if uri[: len(_SCHEME)].lower() != _SCHEME:
        raise _location_error(uri, "it does not start with s3://")
    bucket, _, key = uri[len(_SCHEME) :].partition("/")
    problem = _bucket_problem(bucket) or _key_problem(key, allow_empty=allow_empty_key)
    if problem is not None:
        raise _location_error(uri, problem)
    return S3Location(bucket=bucket, key=key)
