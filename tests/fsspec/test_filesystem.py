"""``S3SinkFileSystem`` on moto: storage options checked when it is made, the abort-safe writer
behind every write mode, exclusive create, the verified reader made seekable, the listing
operations and their cache, server-side copies, pickling, threads, and the entry point."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec
import pytest

from s3sink._fsspec import clients
from s3sink._store import objects
from s3sink.errors import UsageError
from s3sink.fsspec import S3SinkFileSystem
from tests.support.clirun import body, cli_env, keys, pending

MiB = 1 << 20
DATA = os.urandom(12 * MiB)


# -- storage options --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"part_size": "lots"}, UsageError, "invalid size"),
        ({"part_size": -1}, UsageError, "part_size"),
        ({"part_size": "64MiB", "max_memory": "16MiB"}, UsageError, "smaller than one part"),
        ({"concurrency": 0}, UsageError, "concurrency"),
        ({"checksum": "crc7"}, UsageError, "crc7"),
        ({"compress": "lzma"}, UsageError, "lzma"),
        ({"endpoint_url": "ftp://127.0.0.1"}, UsageError, "endpoint_url"),
        ({"part_sise": "8MiB"}, UsageError, "part_sise"),
        ({"upload_id": "x"}, UsageError, "one file's"),
        ({"no_overwrite": "yes"}, TypeError, "no_overwrite"),
        ({"read_options": {"concurrency": 0}}, UsageError, "concurrency"),
        ({"read_options": {"version_id": "v1"}}, UsageError, "version_id"),
    ],
)
def test_storage_options_are_checked_when_the_filesystem_is_made(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    """A bad option fails where the job is built, not in a worker's first write."""
    with pytest.raises(error, match=match):
        S3SinkFileSystem(skip_instance_cache=True, **options)


def test_sizes_may_be_strings_and_reach_the_writer(
    s3_endpoint: str, fs_bucket: str, aws_env: None
) -> None:
    """``"5MiB"`` as in a configuration file: the writer cuts 5 MiB parts with that budget."""
    fs = S3SinkFileSystem(
        endpoint_url=s3_endpoint,
        part_size="5MiB",
        max_memory="20MiB",
        concurrency=2,
        fixed_part_size=True,
        skip_instance_cache=True,
    )
    with fs.open(f"{fs_bucket}/k", "wb") as f:
        assert f.max_memory == 20 * MiB
        assert f.schedule.size_of(1) == 5 * MiB
        f.write(DATA)
    assert fs.cat_file(f"{fs_bucket}/k") == DATA


# -- writing ------------------------------------------------------------------------------------
def _partial_write(fs: S3SinkFileSystem, path: str, mode: str) -> None:
    with fs.open(path, mode) as f:
        f.write(DATA[: 7 * MiB] if "b" in mode else "x" * (7 * MiB))
        raise RuntimeError("the task failed half-way")


@pytest.mark.parametrize("mode", ["wb", "w", "xb"])
def test_an_exception_inside_with_publishes_nothing(
    s3_endpoint: str, s3_client: Any, fs_bucket: str, aws_env: None, mode: str
) -> None:
    """7 MiB written (a 5 MiB part sent), then an error: no object, no pending upload, in
    binary mode and through fsspec's own TextIOWrapper for text."""
    fs = S3SinkFileSystem(endpoint_url=s3_endpoint, part_size="5MiB", skip_instance_cache=True)
    with pytest.raises(RuntimeError, match="half-way"):
        _partial_write(fs, f"{fs_bucket}/part-0", mode)
    assert keys(s3_client, fs_bucket) == []
    assert pending(s3_client, fs_bucket) == []


def test_a_garbage_collected_writer_publishes_nothing(
    s3fs_: S3SinkFileSystem, s3_client: Any, fs_bucket: str
) -> None:
    """A task's file object dropped without close() (a killed task's frame): aborted."""
    f = s3fs_.open(f"{fs_bucket}/dropped", "wb", part_size=5 * MiB)
    f.write(DATA[: 7 * MiB])
    with pytest.warns(ResourceWarning, match="garbage-collected"):
        del f
        gc.collect()
    assert keys(s3_client, fs_bucket) == []
    assert pending(s3_client, fs_bucket) == []


def test_exclusive_create_refuses_an_existing_object(
    s3fs_: S3SinkFileSystem, s3_client: Any, fs_bucket: str
) -> None:
    """``"xb"`` is If-None-Match: FileExistsError at open when the object exists, and at
    close when it appeared meanwhile (the first one stays)."""
    path = f"{fs_bucket}/once"
    s3fs_.pipe_file(path, b"first")
    with pytest.raises(FileExistsError):
        s3fs_.open(path, "xb")
    late = f"{fs_bucket}/late"
    f = s3fs_.open(late, "xb")
    f.write(b"mine")
    s3_client.put_object(Bucket=fs_bucket, Key="late", Body=b"theirs")
    with pytest.raises(FileExistsError):
        f.close()
    assert body(s3_client, fs_bucket, "late") == b"theirs"
    assert pending(s3_client, fs_bucket) == []


def test_no_overwrite_makes_every_write_conditional(
    s3_endpoint: str, fs_bucket: str, aws_env: None, tmp_path: Any
) -> None:
    """The command's ``--no-overwrite`` as a storage option: pipe, put and open all refuse."""
    fs = S3SinkFileSystem(endpoint_url=s3_endpoint, no_overwrite=True, skip_instance_cache=True)
    fs.pipe_file(f"{fs_bucket}/k", b"one")
    local = tmp_path / "f"
    local.write_bytes(b"two")
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{fs_bucket}/k", b"two")
    with pytest.raises(FileExistsError):
        fs.put_file(str(local), f"{fs_bucket}/k")
    with pytest.raises(FileExistsError), fs.open(f"{fs_bucket}/k", "wb") as f:
        f.write(b"two")
    assert fs.cat_file(f"{fs_bucket}/k") == b"one"


# -- reading ------------------------------------------------------------------------------------
def test_reads_are_verified_in_order_and_ranged_after_a_seek(
    s3fs_: S3SinkFileSystem, fs_bucket: str
) -> None:
    """Read from the start, the verified reader serves every byte; a seek goes on with
    ranged GETs (the object's ETag pinned), as pyarrow's footer read needs."""
    path = f"{fs_bucket}/big"
    with s3fs_.open(path, "wb", part_size=5 * MiB) as f:
        f.write(DATA)
    with s3fs_.open(path, "rb") as f:
        assert f.read() == DATA
        assert f.verified
    with s3fs_.open(path, "rb", block_size=MiB) as f:
        assert f.seekable()
        f.seek(-8, os.SEEK_END)
        assert f.read() == DATA[-8:]
        f.seek(3 * MiB)
        assert f.read(2 * MiB + 5) == DATA[3 * MiB : 5 * MiB + 5]
        assert f.tell() == 5 * MiB + 5
        assert not f.verified
    assert s3fs_.cat_file(path, start=10, end=20) == DATA[10:20]
    assert s3fs_.cat_file(path, start=-5) == DATA[-5:]
    assert s3fs_.cat_file(path, start=5, end=-5) == DATA[5:-5]
    with pytest.raises(FileNotFoundError):
        s3fs_.open(f"{fs_bucket}/missing", "rb")
    with pytest.raises(FileNotFoundError):
        s3fs_.cat_file(f"{fs_bucket}/missing")


# -- listings -----------------------------------------------------------------------------------
def test_listing_info_find_rm_and_the_cache(s3fs_: S3SinkFileSystem, fs_bucket: str) -> None:
    """ls, info, find, glob and rm over prefixes; a write forgets the cached listing."""
    for name in ("a/1", "a/2", "a/b/3", "c"):
        s3fs_.pipe_file(f"{fs_bucket}/{name}", name.encode())
    assert s3fs_.ls(fs_bucket, detail=False) == [f"{fs_bucket}/a", f"{fs_bucket}/c"]
    assert s3fs_.info(f"{fs_bucket}/a")["type"] == "directory"
    info = s3fs_.info(f"{fs_bucket}/a/1")
    assert (info["type"], info["size"]) == ("file", 3)
    assert s3fs_.exists(f"s3sink://{fs_bucket}/a/b")
    assert not s3fs_.exists(f"{fs_bucket}/nope")
    with pytest.raises(FileNotFoundError):
        s3fs_.info(f"{fs_bucket}/nope")
    with pytest.raises(FileNotFoundError):
        s3fs_.ls(f"{fs_bucket}/nope")
    assert s3fs_.find(fs_bucket) == [f"{fs_bucket}/{n}" for n in ("a/1", "a/2", "a/b/3", "c")]
    in_a = [f"{fs_bucket}/a/1", f"{fs_bucket}/a/2", f"{fs_bucket}/a/b"]
    assert s3fs_.glob(f"{fs_bucket}/a/*") == in_a
    s3fs_.ls(f"{fs_bucket}/a")  # cached now
    s3fs_.pipe_file(f"{fs_bucket}/a/4", b"4")
    assert f"{fs_bucket}/a/4" in s3fs_.ls(f"{fs_bucket}/a", detail=False)
    with s3fs_.open(f"{fs_bucket}/a/5", "wb") as f:
        f.write(b"5")
        assert f"{fs_bucket}/a/5" not in s3fs_.ls(f"{fs_bucket}/a", detail=False)  # cached
    assert f"{fs_bucket}/a/5" in s3fs_.ls(f"{fs_bucket}/a", detail=False)
    s3fs_.rm(f"{fs_bucket}/a", recursive=True)
    assert s3fs_.find(fs_bucket) == [f"{fs_bucket}/c"]
    s3fs_.rm_file(f"{fs_bucket}/c")
    assert s3fs_.ls(fs_bucket) == []


def test_copies_beyond_copyobject_use_uploadpartcopy(
    s3fs_: S3SinkFileSystem, s3_client: Any, fs_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects past CopyObject's limit (5 GiB; lowered here) are copied in UploadPartCopy
    ranges; nothing is left pending."""
    monkeypatch.setattr(objects, "COPY_OBJECT_LIMIT", MiB)
    monkeypatch.setattr(objects, "COPY_PART", 5 * MiB)
    s3fs_.pipe_file(f"{fs_bucket}/src", DATA)
    s3fs_.copy(f"{fs_bucket}/src", f"{fs_bucket}/dst")
    head = s3_client.head_object(Bucket=fs_bucket, Key="dst")
    assert head["ETag"].endswith('-3"')
    assert body(s3_client, fs_bucket, "dst") == DATA
    assert pending(s3_client, fs_bucket) == []


# -- pickling, threads, processes ----------------------------------------------------------------
def test_an_instance_pickles_as_its_storage_options(
    s3fs_: S3SinkFileSystem, fs_bucket: str
) -> None:
    """What Dask ships to workers: the options, never a client or a pool."""
    s3fs_.pipe_file(f"{fs_bucket}/k", b"v")  # clients built
    data = pickle.dumps(s3fs_)
    assert b"botocore" not in data
    assert b"urllib3" not in data
    assert len(data) < 1000
    S3SinkFileSystem.clear_instance_cache()
    copy = pickle.loads(data)  # noqa: S301 - our own pickle
    assert copy is not s3fs_
    assert copy.storage_options == s3fs_.storage_options
    assert copy.cat_file(f"{fs_bucket}/k") == b"v"


def test_one_instance_serves_many_threads(s3fs_: S3SinkFileSystem, fs_bucket: str) -> None:
    """Eight threads write and read back through one instance at once."""

    def one(i: int) -> bytes:
        path = f"{fs_bucket}/t/{i}"
        with s3fs_.open(path, "wb") as f:
            f.write(DATA[i * MiB : (i + 1) * MiB])
        return bytes(s3fs_.cat_file(path))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert results == [DATA[i * MiB : (i + 1) * MiB] for i in range(8)]
    assert len(s3fs_.ls(f"{fs_bucket}/t")) == 8


def test_the_client_is_built_once_per_process_under_a_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads asking at once for a client that is not built yet get the same one."""
    built: list[int] = []

    def slow_build(**kwargs: Any) -> object:
        built.append(threading.get_ident())
        time.sleep(0.05)
        return object()

    monkeypatch.setattr(clients, "build_client", slow_build)
    monkeypatch.setattr(clients, "_clients", {})
    fs = S3SinkFileSystem(endpoint_url="http://127.0.0.1:9", skip_instance_cache=True)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: fs._client("write"), range(8)))
    assert len(built) == 1
    assert all(c is got[0] for c in got)


def test_the_entry_point_needs_no_import(s3_endpoint: str, fs_bucket: str, s3_client: Any) -> None:
    """``fsspec.open("s3sink://…")`` in a fresh interpreter that imported nothing of s3sink:
    fsspec finds the class through the ``fsspec.specs`` entry point."""
    code = (
        "import sys, fsspec\n"
        "assert 's3sink' not in sys.modules\n"
        f"with fsspec.open('s3sink://{fs_bucket}/ep', 'wb', endpoint_url={s3_endpoint!r}) as f:\n"
        "    f.write(b'through the entry point')\n"
        "print(type(f).__name__, fsspec.get_filesystem_class('s3sink').__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.split() == [b"FileWriter", b"s3sink.fsspec"]
    assert body(s3_client, fs_bucket, "ep") == b"through the entry point"


def test_fsspec_open_with_storage_options(s3_endpoint: str, fs_bucket: str, aws_env: None) -> None:
    """``fsspec.open`` and ``fsspec.filesystem`` pass the storage options through."""
    with fsspec.open(f"s3sink://{fs_bucket}/t.txt", "w", endpoint_url=s3_endpoint) as f:
        f.write("text, abort-safe\n")
    fs = fsspec.filesystem("s3sink", endpoint_url=s3_endpoint)
    assert fs.cat_file(f"{fs_bucket}/t.txt") == b"text, abort-safe\n"
