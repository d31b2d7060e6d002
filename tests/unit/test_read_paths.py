"""Keys as paths below a restore's DIR (``s3sink._read.paths``): hostile keys refused with a
reason, directory markers, file/directory clashes, and the walk below DIR that follows no
symbolic link, one found there or one swapped in while the restore runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._read.outfile import OutputFile
from s3sink._read.paths import KeyRefused, TreeRoot, plan_tree, relative_path, shown

PREFIX = "backups/"


@pytest.mark.parametrize(
    ("key", "parts", "is_dir"),
    [
        ("backups/a", ("a",), False),
        ("backups/a/b/c.txt", ("a", "b", "c.txt"), False),
        ("backups/a/", ("a",), True),
        ("backups/", (), True),
        ("backups/dir\\file", ("dir\\file",), False),
        ("backups/.hidden", (".hidden",), False),
        ("backups/...", ("...",), False),
        ("backups/new\nline", ("new\nline",), False),
        ("backups/" + "é" * 127, ("é" * 127,), False),
    ],
)
def test_ordinary_keys_map_below_dir(key: str, parts: tuple[str, ...], is_dir: bool) -> None:
    """A key is its segments below DIR; a trailing / makes a directory; backslashes, dots
    inside names and control characters are ordinary bytes of a Linux name."""
    entry = relative_path(key, PREFIX)
    assert (entry.parts, entry.is_dir) == (parts, is_dir)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("backups/../x", "'..' segment"),
        ("backups/a/../../b", "'..' segment"),
        ("backups/..", "'..' segment"),
        ("backups/./a", "'.' segment"),
        ("backups//abs", "empty path segment"),
        ("backups/a//b", "empty path segment"),
        ("backups//", "empty path segment"),
        ("backups/a\x00b", "NUL"),
        ("backups/" + "x" * 256, "256 bytes"),
        ("backups/" + "é" * 128, "256 bytes"),
        ("other/x", "not below the prefix"),
    ],
)
def test_hostile_keys_are_refused_with_a_reason(key: str, reason: str) -> None:
    """A key that would leave DIR, or cannot be a name on Linux, is refused, never mended."""
    with pytest.raises(KeyRefused) as caught:
        relative_path(key, PREFIX)
    assert reason in caught.value.reason
    assert caught.value.key == key


def test_leading_slash_below_the_bucket_root_is_refused() -> None:
    """With no prefix (the whole bucket), a key starting with / is refused, not absolute."""
    with pytest.raises(KeyRefused, match="empty path segment"):
        relative_path("/etc/passwd", "")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "..", ".", "", "b\\c", "x\x00", "/"]), max_size=6))
def test_no_mapped_key_leaves_dir(segments: list[str]) -> None:
    """Whatever the key, a mapped path has no '.', '..' or empty segment, and no NUL."""
    key = PREFIX + "/".join(segments)
    try:
        entry = relative_path(key, PREFIX)
    except KeyRefused:
        return
    resolved = os.path.normpath(os.path.join("/DIR", *entry.parts))
    assert resolved == "/DIR" or resolved.startswith("/DIR/")
    assert all(p not in ("", ".", "..") and "\x00" not in p for p in entry.parts)


def test_a_file_where_a_directory_is_needed_is_refused() -> None:
    """``a`` beside ``a/b`` (or the marker ``a/``): the file is refused, the tree restored,
    though the listing puts ``a-x`` between them."""
    keys = ["backups/a", "backups/a-x", "backups/a/b", "backups/m", "backups/m/", "backups/z"]
    plan = plan_tree(PREFIX, keys)
    assert [e.key for e in plan.files] == ["backups/a-x", "backups/a/b", "backups/z"]
    assert [e.key for e in plan.dirs] == ["backups/m/"]
    assert sorted(r.key for r in plan.refused) == ["backups/a", "backups/m"]
    assert all("need a directory" in r.reason for r in plan.refused)


def test_plan_reports_hostile_keys_and_keeps_the_rest() -> None:
    """Refused keys are reported; every other key is planned."""
    plan = plan_tree(PREFIX, ["backups/ok", "backups/../escape", "backups/d/"])
    assert [e.key for e in plan.files] == ["backups/ok"]
    assert [r.key for r in plan.refused] == ["backups/../escape"]


def test_shown_escapes_control_characters() -> None:
    """A newline in a key cannot start a line of its own in a report."""
    assert shown("plain key.txt") == "plain key.txt"
    assert "\n" not in shown("evil\ns3sink: all good")


def test_walk_makes_directories_and_markers(tmp_path: Path) -> None:
    """Parents of a file and markers become directories below DIR."""
    with TreeRoot(tmp_path / "out") as root:
        root.make_dir(relative_path("backups/empty/dir/", PREFIX))
        fd = root.parent_of(relative_path("backups/a/b/c", PREFIX))
        os.close(fd)
    assert (tmp_path / "out/empty/dir").is_dir()
    assert (tmp_path / "out/a/b").is_dir()


def test_symlink_in_dir_is_refused_not_followed(tmp_path: Path) -> None:
    """A link already in DIR pointing out is refused; nothing is made outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "link").symlink_to(outside)
    with TreeRoot(target) as root:
        with pytest.raises(KeyRefused, match="symbolic link: not followed"):
            root.parent_of(relative_path("backups/link/x", PREFIX))
        with pytest.raises(KeyRefused, match="symbolic link"):
            root.make_dir(relative_path("backups/link/sub/", PREFIX))
    assert list(outside.iterdir()) == []


def test_a_file_on_the_way_is_refused(tmp_path: Path) -> None:
    """A file in DIR where a directory is needed is refused, and left alone."""
    (tmp_path / "a").write_bytes(b"mine")
    with TreeRoot(tmp_path) as root, pytest.raises(KeyRefused, match="is not a directory"):
        root.parent_of(relative_path("backups/a/b", PREFIX))
    assert (tmp_path / "a").read_bytes() == b"mine"


def test_a_link_swapped_in_after_the_walk_redirects_nothing(tmp_path: Path) -> None:
    """The directory is held by descriptor: replacing it with a link to elsewhere while the
    file is written leaves the file in the directory that was resolved."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    with TreeRoot(target) as root:
        entry = relative_path("backups/a/file", PREFIX)
        fd = root.parent_of(entry)
        try:
            (target / "a").rename(target / "a.moved")
            (target / "a").symlink_to(outside)
            with OutputFile(fd, "file", overwrite=False, shown="a/file") as out:
                out.write(b"data")
                out.commit()
        finally:
            os.close(fd)
    assert list(outside.iterdir()) == []
    assert (target / "a.moved/file").read_bytes() == b"data"


def test_dir_itself_may_be_a_link(tmp_path: Path) -> None:
    """DIR is the user's choice: a link there is followed."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    with TreeRoot(tmp_path / "via") as root:
        os.close(root.parent_of(relative_path("backups/d/f", PREFIX)))
    assert (real / "d").is_dir()
