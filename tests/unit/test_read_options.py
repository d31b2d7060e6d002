"""The read options of ``s3sink get`` and ``verify`` (``cli/_reading.py``): the concurrency and
the memory bound are shared by the objects read at once, so a tree restore stays within
``--max-memory`` whatever the number of files; a bound too small for them is refused."""

from __future__ import annotations

import pytest

from s3sink.cli._reading import ReadOptions
from s3sink.errors import UsageError

MiB = 1024 * 1024


def test_memory_and_concurrency_are_split_between_objects() -> None:
    """Four objects at once under -j 8 and 64 MiB: two GETs and 16 MiB each."""
    options = ReadOptions(8 * MiB, 8, 64 * MiB, require_checksum=False)
    config = options.config(readers=4, if_match='"etag"')
    assert config.concurrency == 2
    assert config.max_memory == 16 * MiB
    assert 4 * config.memory <= 64 * MiB
    assert config.if_match == '"etag"'


def test_one_object_gets_it_all() -> None:
    """A single object has the whole concurrency and memory."""
    config = ReadOptions(None, 8, 96 * MiB, require_checksum=True).config()
    assert config.concurrency == 8
    assert config.memory == 96 * MiB
    assert config.require_checksum


def test_a_bound_too_small_for_the_objects_at_once_is_refused() -> None:
    """16 MiB cannot hold an 8 MiB range for each of four objects: a usage error."""
    options = ReadOptions(8 * MiB, 8, 16 * MiB, require_checksum=False)
    options.config()
    with pytest.raises(UsageError, match="for each of 4 objects"):
        options.config(readers=4)
