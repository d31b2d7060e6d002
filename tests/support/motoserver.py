"""A moto S3 server in a separate process on 127.0.0.1, and a boto3 client that only talks to it.

``MotoServer`` runs ``python -m moto.server -H 127.0.0.1 -p PORT`` with ``sys.executable`` (so the
venv's ``awscrt`` and ``crc32c`` are importable there: without them moto silently stores CRC32
values in place of CRC64NVME / CRC32C checksums). Its environment has dummy AWS credentials and no
proxy variables, so nothing in it can reach a real AWS host.

Moto settings are read from the environment when moto is imported, so pass them as ``env``:
``S3_UPLOAD_PART_MIN_SIZE`` lowers the 5 MiB minimum part size, ``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``
keeps parts in memory instead of temporary files.

State lives only in the server process: ``reset()`` wipes it, and ``restart()`` (stop, then start
on the same port) loses it as well -- a restarted server is empty, like after ``reset()``.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import IO, Any

import boto3
from botocore.config import Config

from tests.support.localserver import HOST, LocalServer, LocalServerError, free_port

__all__ = ["HOST", "MotoServer", "MotoServerError", "free_port", "make_client", "server_env"]

REGION = "us-east-1"

#: Dummy credentials: moto accepts anything, and these can never authenticate anywhere real.
DUMMY_CREDENTIALS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

#: The secret key of the in-process command's environment (the ``aws_env`` fixture): a dummy
#: that tests look for in the command's output, where it must never appear.
SECRET = "s3sink-test-secret-never-printed"  # noqa: S105 - a dummy value, on purpose

#: Variables removed from the server's environment: proxies, and anything that could point the
#: server's own botocore at real AWS (profiles, config files, endpoints).
_REMOVED_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    # Debugging aids of the test run that would slow the server down or make it fail on its
    # own deprecation warnings.
    "PYTHONWARNINGS",
    "PYTHONTRACEMALLOC",
    "PYTHONDEVMODE",
)


#: ``python -c`` program equal to ``python -m moto.server ARGS``, plus a thread that ends the
#: process when its stdin reaches EOF, i.e. when the test process that holds the pipe is gone.
_GUARDED_MAIN = """\
import os, runpy, sys, threading

def _exit_when_parent_gone():
    while sys.stdin.buffer.read(1):
        pass
    os._exit(0)

threading.Thread(target=_exit_when_parent_gone, daemon=True).start()
sys.argv[0] = "moto.server"
runpy.run_module("moto.server", run_name="__main__", alter_sys=True)
"""


def server_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Build the moto server's environment: ours, minus proxies and AWS profiles, plus dummy
    credentials, plus ``extra`` (where a None value removes the variable)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _REMOVED_ENV}
    env.update(DUMMY_CREDENTIALS)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class MotoServerError(LocalServerError):
    """The moto server process did not start, or died."""


class MotoServer(LocalServer):
    """moto's S3 server as a subprocess on ``127.0.0.1:port`` (a ``LocalServer``).

    ``env`` adds to (and overrides) the server's environment, e.g.
    ``{"S3_UPLOAD_PART_MIN_SIZE": "1024"}``; a None value removes a variable (e.g.
    ``{"S3_UPLOAD_PART_MIN_SIZE": None}`` keeps the real 5 MiB whatever our environment says).
    ``port=None`` picks a free port. The server starts in ``start()`` or ``__enter__``, never in
    the constructor. Its stderr (werkzeug's request log and any traceback) goes to a temporary
    file, read by ``stderr_text()`` and quoted in errors.

    ``orphan_guard`` (default) runs the same ``moto.server`` main through a tiny ``-c`` wrapper
    that exits when its stdin pipe from us closes, so a test run that is killed (SIGKILL, a
    timeout's ``os._exit``) leaves no moto server behind; ``False`` runs the plain
    ``python -m moto.server`` command.
    """

    name = "moto server"
    error = MotoServerError

    def __init__(
        self,
        env: Mapping[str, str | None] | None = None,
        *,
        port: int | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 5.0,
        orphan_guard: bool = True,
    ) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self._orphan_guard = orphan_guard
        self._extra_env = dict(env or {})
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the server and wait until it answers HTTP (the port is fixed at the first start
        and kept by ``restart()``).

        Raises ``MotoServerError`` with the server's stderr if it exits or does not answer within
        ``startup_timeout`` seconds. A port picked by the OS can be taken by someone else before
        moto binds it, so a server that dies at once is started again on a new free port (unless
        the port was given, or this is a restart).
        """
        fixed = self._port is not None
        attempts = 1 if fixed else 3
        for attempt in range(attempts):
            if not fixed:
                self._port = free_port()
            try:
                self._spawn_and_wait()
            except MotoServerError as exc:
                if attempt == attempts - 1 or "Address already in use" not in str(exc):
                    raise
            else:
                return
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``stop_timeout`` seconds. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(self._stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(self._stop_timeout)
            else:
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
        self._close_log()

    def restart(self) -> MotoServer:
        """Stop and start again on the same port (for "server gone, then back" tests).

        All state is lost: moto keeps it in the process, so the new server is empty, exactly as
        after ``reset()``. Buckets, objects and multipart uploads must be recreated.
        """
        port = self.port
        self.stop()
        self._port = port
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self._spawn_and_wait()
            except MotoServerError as exc:
                # The old socket may linger for a moment; try again until the deadline.
                if time.monotonic() > deadline or "Address already in use" not in str(exc):
                    raise
                time.sleep(0.2)
            else:
                return self

    def reset(self) -> None:
        """Wipe every moto backend (buckets, objects, uploads) with ``POST /moto-api/reset``."""
        status, body = self._request("POST", "/moto-api/reset", timeout=10.0)
        if status != 200:
            raise MotoServerError(f"moto reset answered {status}: {body!r}")

    def stderr_text(self) -> str:
        """What the server wrote to stderr/stdout so far (empty when it is not running)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        self._log.seek(0, os.SEEK_END)
        return text

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    # -- internals -----------------------------------------------------------------------------

    def _spawn_and_wait(self) -> None:
        self._close_log()
        self._log = tempfile.TemporaryFile(prefix="motoserver-")  # noqa: SIM115 - closed in stop()
        if self._orphan_guard:
            cmd = [sys.executable, "-c", _GUARDED_MAIN, "-H", HOST, "-p", str(self.port)]
        else:
            cmd = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]
        self._process = subprocess.Popen(
            cmd,
            env=server_env(self._extra_env),
            stdin=subprocess.PIPE if self._orphan_guard else subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            close_fds=True,
        )
        try:
            self._wait_until_ready()  # its errors quote the server's output
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        # Any HTTP answer means werkzeug is serving; moto answers GET / with ListBuckets.
        self.wait_until(
            self.answers_http, what=f"moto server on port {self._port}", alive=self._check_alive
        )

    def _check_alive(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            code = None if process is None else process.returncode
            raise MotoServerError(
                f"moto server on port {self._port} exited with {code} before answering;"
                f" its output:\n{self.stderr_text()}"
            )

    def _request(self, method: str, path: str, *, timeout: float) -> tuple[int, bytes]:
        # http.client never consults proxy variables, so this stays on 127.0.0.1.
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, headers={"Content-Length": "0"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()


def make_client(endpoint_url: str, **config_kwargs: Any) -> Any:
    """A boto3 S3 client bound to ``endpoint_url`` (a 127.0.0.1 server) and nothing else.

    Dummy credentials (no credential chain, no IMDS), region ``us-east-1``, path-style
    addressing (so the bucket never becomes part of a host name) and no proxies (an empty proxy
    map stops botocore from reading ``HTTP_PROXY``). ``config_kwargs`` go to
    ``botocore.config.Config``; an ``s3`` dict is merged over ``{"addressing_style": "path"}``.
    Close the client (``client.close()``) when done, or its pooled sockets leak.
    """
    if not endpoint_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"make_client only talks to 127.0.0.1, not {endpoint_url!r}")
    s3_config = {"addressing_style": "path", **config_kwargs.pop("s3", {})}
    config_kwargs.setdefault("proxies", {})
    config = Config(s3=s3_config, **config_kwargs)
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - a dummy value, on purpose
        aws_session_token="testing",  # noqa: S106 - a dummy value, on purpose
        region_name=REGION,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)
