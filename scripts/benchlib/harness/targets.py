"""The S3 endpoints the tools upload to (``Target``): the discard server in its own process
(``DiscardTarget``: its counts, CPU and fault switch over HTTP) and a moto server for the sanity
rows (``MotoTarget``); and the machine-wide CPU a run is checked against."""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from .common import BUCKET, DISCARD_SERVER, free_port, log
from .venv import BenchVenv


class Target(Protocol):
    """An S3 endpoint the tools upload to."""

    url: str
    ca_file: str | None
    label: str

    def server_cpu(self) -> float:
        """The server process's CPU seconds so far."""
        ...

    def counters(self) -> dict[str, int]:
        """The server's counters so far (payload_hash:KIND, checksum_sent:ALGORITHM,
        payload_bytes, ...; empty if it does not tell)."""
        ...

    def object_info(self, key: str) -> tuple[int, int] | None:
        """(size, parts; 0 if unknown) the server holds for s3://bench/KEY, or None."""
        ...

    def stop(self) -> None:
        """Stop the server."""
        ...

    def ensure_running(self) -> None:
        """Restart the server if it died (or raise when that is not possible)."""
        ...


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot (/proc/stat user+nice+system, all cores).

    irq/softirq time is left out: loopback TCP work of the run itself lands there and in no
    process's rusage, so counting it would blame our own traffic on "other processes".
    """
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system = (int(f) for f in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """utime+stime of a process from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _request(
    url: str, method: str, path: str, ca_file: str | None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to a loopback server; returns (status, headers, body)."""
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rpartition(":")
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        connection = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


class DiscardTarget:
    """``discard_server`` in its own process (so its CPU is its own)."""

    def __init__(self, https: bool, workdir: Path, *, etag_md5: bool = True) -> None:
        self.label = "HTTPS" if https else "HTTP"
        # --verbose: S3 errors and broken connections go to the log file.
        self._argv = [sys.executable, str(DISCARD_SERVER), "--host", "127.0.0.1", "--verbose"]
        if not etag_md5:  # only Content-MD5 is hashed (checked): see _wants_md5 in the server
            self._argv.append("--no-etag-md5")
        if https:
            self._argv += ["--https", "--cert-dir", str(workdir / "tls")]
        self._port = 0
        self._stderr = (workdir / f"discard-{self.label.lower()}.log").open("ab")
        self.url = ""
        self.ca_file: str | None = None
        self._start()

    def _start(self) -> None:
        """Start the process (on the port it had, after a restart) and read its ready line."""
        self.proc = subprocess.Popen(
            [*self._argv, "--port", str(self._port)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None  # noqa: S101 - stdout=PIPE
        line = self.proc.stdout.readline()
        self.proc.stdout.close()
        if not line:
            self.stop()
            raise RuntimeError(f"discard server did not start; see {self._stderr.name}")
        ready = json.loads(line)
        self.url = ready["url"]
        self._port = ready["port"]
        self.ca_file = ready["ca_file"]
        log(f"discard server ({self.label}) at {self.url} pid {self.proc.pid}")

    def ensure_running(self) -> None:
        """Restart the server (on a new port) if it died; say so."""
        code = self.proc.poll()
        if code is not None:
            log(f"discard server ({self.label}) exited with {code}; restarting it on its port")
            self._start()

    def stats(self, object_name: str | None = None) -> dict[str, Any]:
        """GET /__stats (optionally for one "bucket/key")."""
        path = "/__stats"
        if object_name is not None:
            from urllib.parse import quote

            path += "?object=" + quote(object_name, safe="")
        status, _, body = _request(self.url, "GET", path, self.ca_file)
        if status != 200:
            raise RuntimeError(f"/__stats answered {status}")
        data: dict[str, Any] = json.loads(body)
        return data

    def server_cpu(self) -> float:
        """CPU seconds of the discard server process, as it measures itself."""
        cpu = self.stats("-")["cpu"]
        return float(cpu["user"]) + float(cpu["system"])

    def counters(self) -> dict[str, int]:
        """The server's counters."""
        counters: dict[str, int] = self.stats("-")["counters"]
        return counters

    def object_info(self, key: str) -> tuple[int, int] | None:
        """(bytes counted, parts) for s3://bench/KEY (None: no such completed object)."""
        record = self.stats(f"{BUCKET}/{key}").get("object")
        return None if record is None else (int(record["size"]), int(record["parts"]))

    def set_part_fault(self, above: int, prefix: str, status: int = 503) -> None:
        """Fail UploadPart above part ``above`` for keys under bench/``prefix`` with ``status``."""
        from urllib.parse import quote

        path = f"/__fault?upload_part_above={above}&status={status}"
        path += "&prefix=" + quote(f"{BUCKET}/{prefix}", safe="")
        answer, _, body = _request(self.url, "POST", path, self.ca_file)
        if answer != 200:
            raise RuntimeError(f"/__fault answered {answer}: {body[:200]!r}")

    def create_synthetic(
        self, key: str, size: int, *, part_size: int = 0, corrupt_at: int = -1
    ) -> dict[str, Any]:
        """A synthetic object at s3://bench/KEY (``discard_server/reads.py``); its record."""
        from urllib.parse import quote

        path = f"/__synthetic?bucket={BUCKET}&key={quote(key, safe='')}&size={size}"
        path += f"&part_size={part_size}&corrupt={corrupt_at}"
        answer, _, body = _request(self.url, "POST", path, self.ca_file)
        if answer != 200:
            raise RuntimeError(f"/__synthetic answered {answer}: {body[:200]!r}")
        record: dict[str, Any] = json.loads(body)
        return record

    def clear_part_fault(self) -> None:
        """Turn the fault switch off."""
        answer, _, body = _request(self.url, "DELETE", "/__fault", self.ca_file)
        if answer != 200:
            raise RuntimeError(f"/__fault answered {answer}: {body[:200]!r}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


class MotoTarget:
    """A real moto server from the bench venv, for a sanity row (not a benchmark target)."""

    def __init__(self, venv: BenchVenv, workdir: Path, env: dict[str, str]) -> None:
        self.label = "moto"
        self.ca_file: str | None = None
        self._venv = venv
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._stderr = (workdir / "moto.log").open("wb")
        argv = [str(venv.python), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        self.proc = subprocess.Popen(
            argv, stdout=self._stderr, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = _request(self.url, "PUT", f"/{BUCKET}", None, timeout=5)
            except OSError:
                status = 0
            if status == 200:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server did not start; see {self._stderr.name}")
            time.sleep(0.2)
        self._env = {**env, "AWS_ENDPOINT_URL": self.url}
        log(f"moto server at {self.url} pid {self.proc.pid}")

    def ensure_running(self) -> None:
        """moto is not restarted: a dead moto fails the remaining runs."""
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"moto exited with {code}; see {self._stderr.name}")

    def counters(self) -> dict[str, int]:
        """moto does not tell."""
        return {}

    def server_cpu(self) -> float:
        """CPU seconds of the moto process."""
        return _proc_cpu(self.proc.pid)

    def object_info(self, key: str) -> tuple[int, int] | None:
        """ContentLength from a signed HeadObject (moto refuses some unsigned HEADs with 403);
        parts unknown (0)."""
        code = (
            "import sys, boto3\n"
            "c = boto3.client('s3', endpoint_url=sys.argv[1])\n"
            "try:\n"
            "    print(c.head_object(Bucket=sys.argv[2], Key=sys.argv[3])['ContentLength'])\n"
            "except c.exceptions.ClientError as e:\n"
            "    print(-1)\n"
        )
        argv = [str(self._venv.python), "-c", code, self.url, BUCKET, key]
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=self._env, timeout=60, check=True
        )
        size = int(proc.stdout.strip())
        return None if size < 0 else (size, 0)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
