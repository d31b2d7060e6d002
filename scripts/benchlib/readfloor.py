"""The read table's floor: the least an S3-to-pipe reader can do, to read every figure against.

``python readfloor.py --endpoint-url URL --bucket B --key K [--crc] > pipe`` sends one GetObject
of the whole object over one connection (TLS for an https:// URL, the CA from AWS_CA_BUNDLE),
reads the body with ``readinto`` into one reused 256 KiB buffer and writes each piece to stdout
(``os.write``, no Python-side buffering). No SigV4 (the discard server takes anonymous
requests), no retries, no ranges, no parallelism: one GET stream, as rclone and obstore do.

``--crc`` asks for the stored checksum (``x-amz-checksum-mode: ENABLED``), runs CRC64NVME
(awscrt, as s3sink does) over every byte and compares at the end: exit 5 on a mismatch, after
all bytes went out (a floor, not a tool: it holds nothing back).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import ssl
import sys
from urllib.parse import quote, urlsplit

BUFFER = 256 * 1024


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE"))
        return http.client.HTTPSConnection(host, port, context=context)
    return http.client.HTTPConnection(host, port)


def read(url: str, bucket: str, key: str, *, crc: bool) -> int:
    """Copy the object to stdout; 0, or 5 when --crc finds a mismatch (1: refused)."""
    crc64nvme = None
    if crc:
        from awscrt.checksums import crc64nvme
    connection = _connection(url)
    headers = {"x-amz-checksum-mode": "ENABLED"} if crc else {}
    connection.request("GET", f"/{bucket}/{quote(key)}", headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        print(f"readfloor: GET answered {response.status}", file=sys.stderr)
        return 1
    stored = response.getheader("x-amz-checksum-crc64nvme")
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    out = sys.stdout.fileno()
    running = 0
    while got := response.readinto(buffer):
        if crc64nvme is not None:
            running = crc64nvme(view[:got], running)
        piece = view[:got]
        while piece:
            piece = piece[os.write(out, piece) :]
    if crc64nvme is None:
        return 0
    computed = base64.b64encode(running.to_bytes(8, "big")).decode()
    if computed != stored:
        print(f"readfloor: CRC64NVME {computed}, stored {stored}", file=sys.stderr)
        return 5
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and read."""
    parser = argparse.ArgumentParser(description="One GET of an object to stdout.")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--crc", action="store_true", help="check CRC64NVME (awscrt)")
    args = parser.parse_args(argv)
    return read(args.endpoint_url, args.bucket, args.key, crc=args.crc)


if __name__ == "__main__":
    raise SystemExit(main())
