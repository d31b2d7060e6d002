"""The benchmark's floor: the least a pipe-to-S3 uploader can do, to read every figure against.

``cat FILE | python floor.py --endpoint-url URL --bucket B --key K --size N [--crc]`` reads stdin
with ``readinto`` into one reused buffer (BUFFER, 256 KiB by default), fills it, and
``sendall``s it to the endpoint, over one keep-alive connection (TLS for an https:// URL, the CA
from AWS_CA_BUNDLE). ``--crc`` also runs CRC64NVME (awscrt, as s3sink does) over every byte.

Why it speaks S3 rather than writing to a raw TCP sink: so the harness runs and verifies it like
any tool. It sends the minimum of the multipart protocol (CreateMultipartUpload, one UploadPart
per part with its Content-Length, CompleteMultipartUpload) to the same discard server, over the
same TLS when the table is HTTPS, and the server's count of the parts listed at Complete must be
exactly the file's size. A raw sink would have needed its own TLS, its own count and its own
server CPU figure, and would have left out the few HTTP exchanges every real tool makes.

What it does not do, so the row is a floor and not a tool: no SigV4 (no Authorization header;
the discard server takes anonymous requests; the payload is UNSIGNED-PAYLOAD), no retries, no
parallel parts (one connection, parts in order), no part buffering beyond the one buffer (it is
told the size up front, so each part's Content-Length is known before its first byte is read),
and no checks of the answers beyond the status. It asks the discard server not to MD5 its
payloads for their ETags (``x-discard-skip-md5``; the server already skips that for any payload
sent with a checksum), so the server's share of the two cores is what it is for s3sink.

``--crc`` keeps one running CRC64NVME of the stream and sends it at Complete as the object's
FULL_OBJECT checksum (the upload is created with that algorithm and type), which S3 verifies
over the whole object; the parts carry none, so the bytes on the wire and their framing are the
plain floor's and the difference between the two rows is the CRC. On success it prints one JSON
line: size, parts, and crc64nvme (base64 of the 8 big-endian bytes, as S3 shows it) with --crc.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import ssl
import sys
from collections.abc import Callable
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

KiB = 1024
MiB = 1024 * KiB
# The buffer: measured 2026-12-01 at 81bfa53 on the 2-core bench VM (1 GiB over HTTP, median of 5,
# this process's CPU; another test run had one core busy): 64 KiB 0.46, 256 KiB 0.47, 1 MiB 0.47
# CPU s/GiB, within noise of each other, where a 16 MiB buffer filled then sent costs 2-3x as much
# (TESTING-NOTES: the cache footprint of the data path). 256 KiB is kept: as cheap as any, and 64
# of them make a 16 MiB part.
DEFAULT_BUFFER = 256 * KiB
DEFAULT_PART = 16 * MiB
SKIP_MD5_HEADER = "x-discard-skip-md5"


class FloorError(Exception):
    """The endpoint refused a request, or the input was not the size it was said to be."""


def _connection(url: str) -> http.client.HTTPConnection:
    """One keep-alive connection to the endpoint (TLS with AWS_CA_BUNDLE's CA for https)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        return http.client.HTTPSConnection(host, port, timeout=120, context=context)
    return http.client.HTTPConnection(host, port, timeout=120)


def _answer(connection: http.client.HTTPConnection, what: str) -> tuple[bytes, dict[str, str]]:
    """Read the response; FloorError unless it is 200."""
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise FloorError(f"{what}: HTTP {response.status}: {body[:300]!r}")
    return body, {k.lower(): v for k, v in response.getheaders()}


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[bytes, dict[str, str]]:
    """A small request (no payload to speak of) and its 200 answer."""
    connection.request(method, target, body=body, headers=headers)
    return _answer(connection, f"{method} {target.split('?', 1)[0]}")


def upload(
    stdin: Callable[[memoryview], int | None],
    *,
    url: str,
    bucket: str,
    key: str,
    size: int,
    part_size: int = DEFAULT_PART,
    buffer_size: int = DEFAULT_BUFFER,
    crc: bool = False,
) -> dict[str, object]:
    """Read exactly ``size`` bytes with ``stdin`` (a readinto) and upload them as parts of
    ``part_size``; return what was sent (size, parts, crc64nvme with ``crc``)."""
    crc64: Callable[[memoryview, int], int] | None = None
    if crc:
        from awscrt.checksums import crc64nvme

        crc64 = crc64nvme
    path = f"/{quote(bucket)}/{quote(key)}"
    base = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", SKIP_MD5_HEADER: "1"}
    create = dict(base)
    if crc:
        create |= {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "FULL_OBJECT"}
    buffer = bytearray(buffer_size)
    view = memoryview(buffer)
    running = 0
    etags: list[str] = []
    connection = _connection(url)
    try:
        body, _ = _request(connection, "POST", f"{path}?uploads", create)
        found = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
        if found is None:
            raise FloorError(f"CreateMultipartUpload: no UploadId in {body[:300]!r}")
        upload_id = quote(found.group(1).decode(), safe="")
        left = size
        while left > 0 or not etags:  # an empty input is still one (empty) part
            length = min(part_size, left)
            number = len(etags) + 1
            target = f"{path}?partNumber={number}&uploadId={upload_id}"
            connection.putrequest("PUT", target, skip_accept_encoding=True)
            for name, value in (*base.items(), ("Content-Length", str(length))):
                connection.putheader(name, value)
            connection.endheaders()
            todo = length
            while todo:
                want = min(buffer_size, todo)
                filled = 0
                while filled < want:
                    got = stdin(view[filled:want])
                    if not got:
                        raise FloorError(f"input ended after {size - left + filled} of {size} B")
                    filled += got
                chunk = view[:filled]
                if crc64 is not None:
                    running = crc64(chunk, running)
                connection.send(chunk)
                todo -= filled
                left -= filled
            _, headers = _answer(connection, f"UploadPart {number}")
            etags.append(headers.get("etag", ""))
        if stdin(view[:1]):
            raise FloorError(f"input is longer than the {size} B it was said to be")
        listed = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(e)}</ETag></Part>"
            for n, e in enumerate(etags, 1)
        )
        complete = dict(base)
        result: dict[str, object] = {"size": size, "parts": len(etags)}
        if crc:
            value = base64.b64encode(running.to_bytes(8, "big")).decode()
            complete |= {"x-amz-checksum-crc64nvme": value, "x-amz-checksum-type": "FULL_OBJECT"}
            result["crc64nvme"] = value
        document = f"<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>".encode()
        _request(connection, "POST", f"{path}?uploadId={upload_id}", complete, document)
    finally:
        connection.close()
    return result


def main(argv: list[str] | None = None) -> int:
    """Upload stdin; exit 1 with one line on stderr if anything failed."""
    parser = argparse.ArgumentParser(description="The bench floor: stdin to S3, minimal.")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--size", type=int, required=True, help="bytes stdin will give")
    parser.add_argument("--part-size", type=int, default=DEFAULT_PART)
    parser.add_argument("--buffer-size", type=int, default=DEFAULT_BUFFER)
    parser.add_argument("--crc", action="store_true", help="CRC64NVME of every byte (awscrt)")
    args = parser.parse_args(argv)
    if args.part_size < 5 * MiB or args.buffer_size < 1:
        parser.error("--part-size must be at least 5 MiB and --buffer-size at least 1")
    raw = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115 - stdin
    try:
        result = upload(
            raw.readinto,
            url=args.endpoint_url,
            bucket=args.bucket,
            key=args.key,
            size=args.size,
            part_size=args.part_size,
            buffer_size=args.buffer_size,
            crc=args.crc,
        )
    except (FloorError, OSError, http.client.HTTPException) as exc:
        print(f"floor: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
