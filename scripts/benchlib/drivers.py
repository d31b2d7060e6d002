"""Library-based uploaders for the benchmark: each copies stdin (or, with ``--file PATH``, the
file by path through the library's own file upload) to s3://BUCKET/KEY and exits; and the
read table's readers (``boto3-get``, ``obstore-get``, ``s3sink-lib-get``), each copying
s3://BUCKET/KEY to stdout, a pipe.

Run with the bench venv's Python, e.g.
``cat FILE | python drivers.py boto3 --endpoint-url URL --bucket bench --key K`` or
``python drivers.py boto3 --file FILE --endpoint-url URL --bucket bench --key K``.
Credentials, region and the CA bundle come from the environment the harness sets
(AWS_ACCESS_KEY_ID, AWS_DEFAULT_REGION, AWS_CA_BUNDLE); obstore gets them passed explicitly.
Every driver reads stdin in COPY_CHUNK pieces, so the Python-side copy loop is the same for all;
with ``--file`` each library reads the file its own way (smart_open has no file upload).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

COPY_CHUNK = 1024 * 1024


def _boto_client(args: argparse.Namespace) -> Any:
    """A boto3 S3 client for the endpoint, path-style, with a pool sized to the concurrency."""
    import boto3
    from botocore.config import Config

    pool = max(10, args.concurrency or 0)
    config = Config(s3={"addressing_style": "path"}, max_pool_connections=pool)
    return boto3.client("s3", endpoint_url=args.endpoint_url, config=config)


def run_boto3(args: argparse.Namespace) -> None:
    """boto3's managed upload (s3transfer, classic client) straight from stdin, or with
    ``--file`` its ``upload_file`` (parts read from the file by s3transfer's own threads)."""
    from boto3.s3.transfer import TransferConfig

    client = _boto_client(args)
    config = TransferConfig(
        multipart_threshold=args.part_size,
        multipart_chunksize=args.part_size,
        max_concurrency=args.concurrency or 10,
        preferred_transfer_client="classic",
    )
    if args.file is not None:
        client.upload_file(str(args.file), args.bucket, args.key, Config=config)
        return
    client.upload_fileobj(sys.stdin.buffer, args.bucket, args.key, Config=config)


def run_s3sink_lib(args: argparse.Namespace) -> None:
    """s3sink.S3MultipartWriter at its defaults (it builds its own client: the endpoint comes
    from AWS_ENDPOINT_URL) fed by shutil.copyfileobj; with ``--file``, s3sink.upload_file."""
    import s3sink

    kwargs: dict[str, Any] = {"part_size": args.part_size}
    if args.concurrency:
        kwargs["concurrency"] = args.concurrency
    if args.file is not None:
        s3sink.upload_file(args.file, f"s3://{args.bucket}/{args.key}", **kwargs)
        return
    with s3sink.S3MultipartWriter(args.bucket, args.key, **kwargs) as writer:
        shutil.copyfileobj(sys.stdin.buffer, writer, COPY_CHUNK)


def run_s3sink_readinto(args: argparse.Namespace) -> None:
    """s3sink.S3MultipartWriter at its defaults fed by ``readinto_from(stdin)``: the pipe read
    straight into the part buffers (and given a 1 MiB buffer), no copy through ``write()``."""
    import s3sink

    kwargs: dict[str, Any] = {"part_size": args.part_size}
    if args.concurrency:
        kwargs["concurrency"] = args.concurrency
    with s3sink.S3MultipartWriter(args.bucket, args.key, **kwargs) as writer:
        writer.readinto_from(sys.stdin.buffer)


def run_smart_open(args: argparse.Namespace) -> None:
    """smart_open's S3 writer (sequential part uploads) fed by shutil.copyfileobj."""
    import smart_open

    if args.file is not None:
        raise SystemExit("smart_open has no upload-from-path API (pipe mode only)")
    params = {"client": _boto_client(args), "min_part_size": args.part_size}
    uri = f"s3://{args.bucket}/{args.key}"
    with smart_open.open(uri, "wb", compression="disable", transport_params=params) as out:
        shutil.copyfileobj(sys.stdin.buffer, out, COPY_CHUNK)


def run_obstore(args: argparse.Namespace) -> None:
    """obstore.open_writer (object_store's BufWriter; buffer_size is the part size); with
    ``--file``, ``obstore.put(store, key, Path)`` (its multipart put, chunk_size the part)."""
    import obstore
    from obstore.store import S3Store

    client_options: dict[str, Any] = {}
    if args.endpoint_url.startswith("http://"):
        client_options["allow_http"] = True
    ca_file = os.environ.get("AWS_CA_BUNDLE")
    if ca_file:
        client_options["root_certificate"] = Path(ca_file).read_text()
    store = S3Store(
        args.bucket,
        endpoint=args.endpoint_url,
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
        virtual_hosted_style_request=False,
        unsigned_payload=args.unsigned_payload,
        client_options=client_options,
    )
    concurrency = args.concurrency or 12
    if args.file is not None:
        obstore.put(
            store, args.key, args.file, chunk_size=args.part_size, max_concurrency=concurrency
        )
        return
    stdin = sys.stdin.buffer
    with obstore.open_writer(
        store, args.key, buffer_size=args.part_size, max_concurrency=concurrency
    ) as writer:
        while chunk := stdin.read(COPY_CHUNK):
            writer.write(chunk)


def _obstore_store(args: argparse.Namespace) -> Any:
    """An obstore S3Store for the endpoint (HTTP allowed, the bench CA for HTTPS)."""
    from obstore.store import S3Store

    client_options: dict[str, Any] = {}
    if args.endpoint_url.startswith("http://"):
        client_options["allow_http"] = True
    ca_file = os.environ.get("AWS_CA_BUNDLE")
    if ca_file:
        client_options["root_certificate"] = Path(ca_file).read_text()
    return S3Store(
        args.bucket,
        endpoint=args.endpoint_url,
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
        virtual_hosted_style_request=False,
        client_options=client_options,
    )


def get_boto3(args: argparse.Namespace) -> None:
    """boto3's managed download (s3transfer) into stdout, a pipe: ``download_fileobj`` sees a
    stream it cannot seek and writes its ranges in order (held in memory until their turn)."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=args.part_size,
        multipart_chunksize=args.part_size,
        max_concurrency=args.concurrency or 10,
        preferred_transfer_client="classic",
    )
    client = _boto_client(args)
    client.download_fileobj(args.bucket, args.key, sys.stdout.buffer, Config=config)
    sys.stdout.buffer.flush()


def get_obstore(args: argparse.Namespace) -> None:
    """``obstore.get(store, key)`` streamed to stdout (one GET, object_store's chunks)."""
    import obstore

    out = sys.stdout.buffer
    result = obstore.get(_obstore_store(args), args.key)
    for chunk in result.stream(min_chunk_size=COPY_CHUNK):
        out.write(chunk)
    out.flush()


def get_s3sink_lib(args: argparse.Namespace) -> None:
    """``s3sink.open(uri, "rb")`` (its own client; the endpoint from AWS_ENDPOINT_URL)
    copied to stdout with ``shutil.copyfileobj``."""
    import s3sink

    kwargs: dict[str, Any] = {}
    if args.concurrency:
        kwargs["concurrency"] = args.concurrency
    out = sys.stdout.buffer
    with s3sink.open(f"s3://{args.bucket}/{args.key}", "rb", **kwargs) as reader:
        shutil.copyfileobj(reader, out, COPY_CHUNK)
    out.flush()


DRIVERS = {
    "boto3": run_boto3,
    "s3sink-lib": run_s3sink_lib,
    "s3sink-readinto": run_s3sink_readinto,
    "smart_open": run_smart_open,
    "obstore": run_obstore,
    "boto3-get": get_boto3,
    "obstore-get": get_obstore,
    "s3sink-lib-get": get_s3sink_lib,
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one driver."""
    parser = argparse.ArgumentParser(
        description="Copy stdin (or a file) to S3, or (the -get drivers) an object to stdout, "
        "with one library."
    )
    parser.add_argument("driver", choices=sorted(DRIVERS))
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--part-size", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--concurrency", type=int, default=0, help="0: the library's default")
    parser.add_argument(
        "--file", type=Path, help="upload this file by path (the library's file upload)"
    )
    parser.add_argument(
        "--unsigned-payload",
        action="store_true",
        help="obstore: skip SHA-256 of payloads (botocore tools take it from AWS_CONFIG_FILE)",
    )
    args = parser.parse_args(argv)
    DRIVERS[args.driver](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
