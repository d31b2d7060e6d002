"""The engines that write through ``s3sink://``, checked by their own calls on moto: pandas
``to_parquet``/``read_parquet``, and a Dask cluster of two worker processes on 127.0.0.1
(``to_parquet`` of a multi-partition DataFrame, a bag's ``to_textfiles``, read back equal).
A task that fails half-way through its partition publishes nothing and leaves no pending
upload. (The same task through s3fs leaves a truncated object: the README's side by side,
measured with s3fs 2026.9.0 on 2026-12-05; s3fs is kept out of the test venv, see
pyproject.toml.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clirun import body, keys, pending
from tests.support.fsspec_tasks import PARTITION_MIB, chunk, write_partition
from tests.support.motoserver import DUMMY_CREDENTIALS, MotoServer

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
db = pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.slow,
    # Dask 2026.8's read_parquet calls set_index and reset_index with inplace=True,
    # deprecated by pandas 3.1 (a Pandas4Warning): not ours to fix.
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame"),
    pytest.mark.filterwarnings("ignore:An error occurred while calling the read_parquet"),
]


@pytest.fixture(scope="module")
def dask_client(moto_server: MotoServer) -> Iterator[Any]:
    """One LocalCluster for the module: two worker processes, one thread each, on
    127.0.0.1, no dashboard; the workers inherit dummy credentials and two attempts a
    request (see conftest's _few_attempts)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in DUMMY_CREDENTIALS.items():
            mp.setenv(name, value)
        mp.setenv("AWS_MAX_ATTEMPTS", "2")
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("NO_PROXY", "*")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


def _frame(rows: int = 4000) -> Any:
    return pd.DataFrame(
        {
            "id": range(rows),
            "name": [f"row-{i}" for i in range(rows)],
            "value": [i * 0.5 for i in range(rows)],
        }
    )


def test_pandas_round_trip(module_s3: Any, module_bucket: str, aws_env: None) -> None:
    """pandas writes and reads Parquet through s3sink:// with storage options only."""
    endpoint = module_s3.meta.endpoint_url
    url = f"s3sink://{module_bucket}/pandas/frame.parquet"
    frame = _frame()
    frame.to_parquet(url, storage_options={"endpoint_url": endpoint})
    back = pd.read_parquet(url, storage_options={"endpoint_url": endpoint})
    pd.testing.assert_frame_equal(back, frame)
    frame.to_csv(
        f"s3sink://{module_bucket}/pandas/frame.csv",
        index=False,
        storage_options={"endpoint_url": endpoint},
    )
    csv = pd.read_csv(
        f"s3sink://{module_bucket}/pandas/frame.csv", storage_options={"endpoint_url": endpoint}
    )
    pd.testing.assert_frame_equal(csv, frame)


def test_dask_to_parquet_and_to_textfiles(
    dask_client: Any, module_s3: Any, module_bucket: str, aws_env: None
) -> None:
    """A 4-partition DataFrame and a 3-partition bag written by the workers, read back."""
    options = {"endpoint_url": module_s3.meta.endpoint_url, "part_size": "5MiB"}
    frame = _frame()
    ddf = dd.from_pandas(frame, npartitions=4)
    ddf.to_parquet(f"s3sink://{module_bucket}/table/", storage_options=options)
    back = dd.read_parquet(f"s3sink://{module_bucket}/table/", storage_options=options)
    # Dask reads strings back as pyarrow strings (NA as pd.NA): compare the values.
    result = back.compute().sort_values("id").reset_index(drop=True)
    assert result.to_dict("list") == frame.to_dict("list")
    assert len([k for k in keys(module_s3, module_bucket) if k.endswith(".parquet")]) == 4
    lines = [f"line {i}" for i in range(300)]
    bag = db.from_sequence(lines, npartitions=3)
    bag.to_textfiles(f"s3sink://{module_bucket}/text/*.txt", storage_options=options)
    read = db.read_text(f"s3sink://{module_bucket}/text/*.txt", storage_options=options)
    assert [line.rstrip("\n") for line in read.compute()] == lines
    assert pending(module_s3, module_bucket) == []


def _run_partitions(client: Any, prefix: str, options: dict[str, Any]) -> list[str]:
    """Four partition tasks, the third failing after 7 MiB; the statuses of the tasks."""
    futures = [
        client.submit(
            write_partition,
            f"{prefix}/part-{i}",
            i,
            7 if i == 2 else None,
            options,
            pure=False,
        )
        for i in range(4)
    ]
    distributed.wait(futures)
    statuses = [f.status for f in futures]
    with pytest.raises(RuntimeError, match="partition 2 failed after 7 MiB"):
        futures[2].result()
    return statuses


def _partition(index: int, mib: int = PARTITION_MIB) -> bytes:
    return b"".join(chunk(index, m) for m in range(mib))


def test_a_failed_task_leaves_nothing_through_s3sink(
    dask_client: Any, module_s3: Any, module_bucket: str
) -> None:
    """The failed partition has no object and no pending upload (its 5 MiB part was sent,
    then aborted); the other partitions are complete."""
    options = {"endpoint_url": module_s3.meta.endpoint_url, "part_size": "5MiB"}
    statuses = _run_partitions(dask_client, f"s3sink://{module_bucket}/out", options)
    assert statuses == ["finished", "finished", "error", "finished"]
    assert sorted(keys(module_s3, module_bucket)) == ["out/part-0", "out/part-1", "out/part-3"]
    assert pending(module_s3, module_bucket) == []
    for i in (0, 1, 3):
        assert body(module_s3, module_bucket, f"out/part-{i}") == _partition(i)
