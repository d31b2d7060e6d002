"""Retries that show: each one is logged as it happens, and an endpoint that was never
reached is not retried for a quarter of a minute.

botocore retries silently, with backoff: a store that went away looks like a hang, and so
does a mistyped endpoint, which botocore tries ten times before anyone hears of it. Two hooks
on the client's events change that:

* ``needs-retry`` (first in line): remembers why the attempt failed, and answers "do not
  retry" for a refused connection or a host name that does not resolve while no request on
  this client has ever been answered, so a wrong endpoint fails in seconds; once the store
  has answered, that is a store gone away, and botocore retries it as before (resets and
  timeouts always are).
* ``request-created``: a second or later attempt logs ``retrying UploadPart 3 (attempt 2
  of 10): <why the last one failed>`` at WARNING, once per round: when several requests are
  retried together (every part in flight, against a store that went away), the round's first
  retry says how many (``retrying UploadPart 3 and 3 more requests (attempt 2 of 10): ...``)
  and the others are logged at DEBUG only. A request answered without error ends the
  episode. Before this, a dead endpoint printed one warning per part per attempt (about 36
  for 4 parts in flight).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import causes, describe

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["watch_retries"]

log = logging.getLogger("s3sink")

_FAILURE = "s3sink.last_failure"  # key in botocore's per-request context
_PART = re.compile(r"[?&]partNumber=(\d+)")


class _Watch:
    """The state of one client: has the endpoint ever answered, and the retries of the
    current episode (the rounds already said, the requests seen retrying)."""

    def __init__(self) -> None:
        self.answered = False
        self._lock = threading.Lock()  # the hooks run on every worker thread
        self._rounds: set[int] = set()  # attempt numbers already logged in this episode
        self._retrying: list[str] = []  # requests seen retrying in this episode, in order

    def needs_retry(
        self,
        request_dict: dict[str, Any],
        response: Any = None,
        caught_exception: BaseException | None = None,
        **kwargs: Any,
    ) -> bool | None:
        """Remember why an attempt failed; refuse to retry an endpoint never reached."""
        if response is not None:
            self.answered = True
            status = response[0].status_code if isinstance(response, tuple) else None
            error = response[1].get("Error", {}) if isinstance(response, tuple) else {}
            if status is not None and status >= 300:
                request_dict["context"][_FAILURE] = f"{error.get('Code') or 'HTTP'} {status}"
            elif self._rounds:
                with self._lock:  # the store answers again: the next retry is news
                    self._rounds.clear()
                    self._retrying.clear()
            return None  # botocore's handler decides
        if caught_exception is None:
            return None
        request_dict["context"][_FAILURE] = _reason(caught_exception)
        if not self.answered and _never_connected(caught_exception):
            return False  # first_non_none_response: no retry; the error reaches the caller
        return None

    def request_created(self, request: Any, event_name: str = "", **kwargs: Any) -> None:
        """Log a second or later attempt with the reason the previous one failed."""
        context = getattr(request, "context", None) or {}
        retries = context.get("retries") or {}
        attempt = retries.get("attempt", 1)
        if attempt <= 1:
            return
        operation = event_name.rsplit(".", 1)[-1] or "request"
        part = _PART.search(getattr(request, "url", "") or "")
        what = f"{operation} {part.group(1)}" if part else operation
        limit = retries.get("max")
        of = f" of {limit}" if limit else ""
        reason = context.get(_FAILURE, "an error")
        with self._lock:
            if what not in self._retrying:
                self._retrying.append(what)
            said = attempt in self._rounds
            self._rounds.add(attempt)
            lead, others = self._retrying[0], len(self._retrying) - 1
        if said:  # this round was said already: the detail only under --debug
            log.debug("retrying %s (attempt %d%s): %s", what, attempt, of, reason)
            return
        if others:
            what = f"{lead} and {others} more request{'s' if others > 1 else ''}"
        log.warning("retrying %s (attempt %d%s): %s", what, attempt, of, reason)


# botocore's connection errors by what a person needs to read; their text repeats the whole
# URL (upload id included) on every line.
_CONNECTION_ERRORS = {
    "EndpointConnectionError": "cannot connect to",
    "ConnectionClosedError": "connection closed by",
    "ReadTimeoutError": "read timeout from",
    "ConnectTimeoutError": "connect timeout to",
}


def _reason(exc: BaseException) -> str:
    """Why an attempt failed, in one short phrase: the host for a connection error (the
    full text is --debug's), else the error's own description."""
    what = _CONNECTION_ERRORS.get(type(exc).__name__)
    kwargs = getattr(exc, "kwargs", None)
    url = kwargs.get("endpoint_url") if isinstance(kwargs, dict) else None
    if what is None or not isinstance(url, str):
        return describe(exc)
    parts = urlsplit(url)
    host, port = parts.hostname or "?", parts.port
    log.debug("%s", describe(exc))
    return f"{what} {host}{f':{port}' if port else ''}"


def _never_connected(exc: BaseException) -> bool:
    """A connection refused, or a host name that does not resolve: nothing listens there.
    (Not a reset or a timeout: a store under load may do that, and is retried.)"""
    from botocore.exceptions import EndpointConnectionError  # noqa: PLC0415  # loaded with the client

    if not isinstance(exc, EndpointConnectionError):
        return False
    return any(isinstance(c, (ConnectionRefusedError, socket.gaierror)) for c in causes(exc))


def watch_retries(client: BaseClient) -> None:
    """Make ``client``'s retries visible, and fail fast on an endpoint never reached."""
    watch = _Watch()
    events = client.meta.events
    events.register_first("needs-retry.s3", watch.needs_retry)
    events.register("request-created.s3", watch.request_created)
