"""The output file of ``cat -o`` and ``get`` (``s3sink._read.outfile``): nothing at PATH until
the commit, an existing PATH untouched on any failure (an interrupt too), no temporary file
left behind, the umask honoured, and ``--overwrite``."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from s3sink._read.outfile import OutputExists, OutputFile, temporary_name


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".s3sink-tmp"))


def test_nothing_at_path_until_commit(tmp_path: Path) -> None:
    """The bytes live under a temporary name in the same directory until commit()."""
    path = tmp_path / "restored.bin"
    out, dir_fd = OutputFile.at(path, overwrite=False)
    try:
        with out:
            out.write(b"a" * 1000)
            out.pwrite(b"b", 10)
            assert not path.exists()
            assert _leftovers(tmp_path) == [out.temp_name]
            out.commit()
    finally:
        os.close(dir_fd)
    data = path.read_bytes()
    assert data == b"a" * 10 + b"b" + b"a" * 989
    assert _leftovers(tmp_path) == []


def test_failure_leaves_existing_path_as_it_was(tmp_path: Path) -> None:
    """An exception before commit removes the temporary file; PATH keeps its old bytes."""
    path = tmp_path / "db.dump"
    path.write_bytes(b"yesterday")
    out, dir_fd = OutputFile.at(path, overwrite=True)
    with pytest.raises(RuntimeError, match="mismatch"), out:
        out.write(b"corrupt")
        raise RuntimeError("checksum mismatch")
    os.close(dir_fd)
    assert path.read_bytes() == b"yesterday"
    assert _leftovers(tmp_path) == []


def test_interrupt_removes_the_temporary_file(tmp_path: Path) -> None:
    """SIGINT while writing (a KeyboardInterrupt in the writing thread) leaves no trace."""
    path = tmp_path / "out"
    out, dir_fd = OutputFile.at(path, overwrite=False)
    with pytest.raises(KeyboardInterrupt), out:
        out.write(b"partial")
        signal.raise_signal(signal.SIGINT)
    os.close(dir_fd)
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_existing_path_refused_without_overwrite(tmp_path: Path) -> None:
    """An existing file is refused before anything is written, a dangling link too."""
    (tmp_path / "f").write_bytes(b"keep")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("f", "dangling"):
        with pytest.raises(OutputExists, match="--overwrite"):
            OutputFile.at(tmp_path / name, overwrite=False)
    assert (tmp_path / "f").read_bytes() == b"keep"
    assert not (tmp_path / "nowhere").exists()
    assert _leftovers(tmp_path) == []


def test_path_taken_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    """Without overwrite, a file that appears at PATH during the download wins: the commit
    fails and the new bytes are dropped."""
    path = tmp_path / "f"
    out, dir_fd = OutputFile.at(path, overwrite=False)
    with out:
        out.write(b"ours")
        path.write_bytes(b"theirs")
        with pytest.raises(OutputExists):
            out.commit()
    os.close(dir_fd)
    assert path.read_bytes() == b"theirs"
    assert _leftovers(tmp_path) == []


def test_overwrite_replaces_a_link_not_its_target(tmp_path: Path) -> None:
    """With overwrite, a symbolic link at PATH is replaced; what it pointed to is untouched."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    path = tmp_path / "link"
    path.symlink_to(victim)
    out, dir_fd = OutputFile.at(path, overwrite=True)
    with out:
        out.write(b"restored")
        out.commit()
    os.close(dir_fd)
    assert victim.read_bytes() == b"precious"
    assert not path.is_symlink()
    assert path.read_bytes() == b"restored"


def test_a_directory_at_path_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    """A directory at PATH is never replaced."""
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputExists, match="is a directory"):
        OutputFile.at(tmp_path / "d", overwrite=True)


def test_mode_honours_the_umask(tmp_path: Path) -> None:
    """The file is made 0666 less the umask, as any new file."""
    old = os.umask(0o027)
    try:
        out, dir_fd = OutputFile.at(tmp_path / "f", overwrite=False)
        with out:
            out.commit()
        os.close(dir_fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o640


def test_temporary_name_fits_a_long_name() -> None:
    """However long NAME is, its temporary name fits in 255 bytes."""
    name = "é" * 127  # 254 bytes
    temp = temporary_name(name)
    assert len(os.fsencode(temp)) <= 255
    assert temp.startswith(".é")
    assert temp.endswith(".s3sink-tmp")


def test_a_long_name_round_trips(tmp_path: Path) -> None:
    """A 255-byte NAME is written and committed."""
    path = tmp_path / ("n" * 255)
    out, dir_fd = OutputFile.at(path, overwrite=False)
    with out:
        out.write(b"x")
        out.commit()
    os.close(dir_fd)
    assert path.read_bytes() == b"x"


def test_no_writes_after_commit_or_discard(tmp_path: Path) -> None:
    """A committed or discarded output takes no more bytes; discard() again is nothing."""
    out, dir_fd = OutputFile.at(tmp_path / "f", overwrite=False)
    out.discard()
    out.discard()
    with pytest.raises(ValueError, match="discarded"):
        out.write(b"x")
    os.close(dir_fd)
