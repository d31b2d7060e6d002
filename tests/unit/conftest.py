"""tests/unit: no sockets, no subprocesses: the fast loop (``scripts/test --fast``).

The rule is enforced, not only claimed: while a unit test runs, connecting or binding a
socket and starting a process (``subprocess``, ``os.system``, ``os.fork``, ``os.posix_spawn``)
raise ``OutsideTheUnit``, whichever thread tries. A test that needs a server belongs in
tests/wire, one that needs a process in tests/cli. ``socket.socketpair()`` stays allowed: it
is a pipe, not a network.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from typing import Any, NoReturn

import pytest

from tests.support.fakes import FakeS3
from tests.support.faults import FaultyStore
from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``unit`` marker."""
    mark_folder(items, __file__, pytest.mark.unit)


class OutsideTheUnit(AssertionError):
    """A unit test opened a socket or started a process."""


def _refuse(what: str, elsewhere: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise OutsideTheUnit(f"a unit test called {what}: such a test belongs in {elsewhere}")

    return refuse


def _refuse_socket(name: str) -> Callable[..., NoReturn]:
    refuse = _refuse(f"socket.{name}", "tests/wire")

    def method(sock: socket.socket, *args: Any, **kwargs: Any) -> NoReturn:
        # Closed here: callers close a socket only on OSError (socket.create_connection), and
        # a leaked one would bury this error under a ResourceWarning.
        sock.close()
        refuse()

    return method


@pytest.fixture(autouse=True)
def _no_sockets_no_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the socket and process calls raise for the length of each unit test."""
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse_socket(name))
    # Popen's one way to a child: run, call, check_output and Popen itself all come here.
    monkeypatch.setattr(
        subprocess.Popen, "_execute_child", _refuse("subprocess.Popen", "tests/cli")
    )
    for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse(f"os.{name}", "tests/cli"))


@pytest.fixture
def faulty(fake: FakeS3) -> FaultyStore:
    """The test's ``fake`` behind a FaultyStore (tests/support/faults.py): the writer gets this
    one, to meet the faults the test adds; the fake keeps what reached the store."""
    return FaultyStore(fake)
