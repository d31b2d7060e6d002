"""The discard server's command line: ``python scripts/benchlib/discard_server [--https] ...``
(or, with ``scripts/`` on the path, ``python -m benchlib.discard_server``) serves until a signal,
after one JSON line (url, port, ca_file, pid) on stdout."""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

if not __package__:  # run by path: sys.path[0] is this folder; import the package from scripts/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from benchlib import discard_server  # after the path is set
from benchlib.discard_server.server import DEFAULT_RECV_BUFFER, DiscardS3Server
from benchlib.discard_server.tls import make_certificates


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    doc = discard_server.__doc__
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--https", action="store_true", help="serve TLS with a throw-away CA")
    parser.add_argument("--cert-dir", type=Path, help="where to write ca.pem/cert.pem/key.pem")
    parser.add_argument("--recv-buffer", type=int, default=DEFAULT_RECV_BUFFER)
    parser.add_argument(
        "--always-md5",
        action="store_true",
        help="hash every payload for its ETag, even one sent with an x-amz-checksum-* "
        "(default: only payloads with Content-MD5 or without a checksum)",
    )
    parser.add_argument(
        "--no-etag-md5",
        action="store_true",
        help="hash a payload only to check its Content-MD5; every other ETag is made up "
        "(benchmarks: no client checks them, and the server shares the client's cores)",
    )
    parser.add_argument("--verbose", action="store_true", help="log connection errors")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT/SIGHUP; print the endpoint as one JSON line first."""
    args = _parse_args(argv)
    stop_event = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        print(f"discard-s3: stopping on signal {signum}", file=sys.stderr, flush=True)
        stop_event.set()

    faulthandler.enable()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    with tempfile.TemporaryDirectory(prefix="discard-s3-") as scratch:
        tls_files = make_certificates(args.cert_dir or Path(scratch)) if args.https else None
        server = DiscardS3Server(
            args.host,
            args.port,
            tls_context=tls_files.server_context() if tls_files else None,
            recv_buffer=args.recv_buffer,
            always_md5=args.always_md5,
            etag_md5=not args.no_etag_md5,
            verbose=args.verbose,
        )
        with server:
            ready = {
                "url": server.url,
                "port": server.port,
                "pid": os.getpid(),
                "ca_file": str(tls_files.ca_file) if tls_files else None,
            }
            print(json.dumps(ready), flush=True)
            stop_event.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
