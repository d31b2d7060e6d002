"""Retries are said once per round: a store gone away with every part in flight gives one
line per attempt number, not one per part per attempt; the rest is --debug's."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from s3sink._store.retries import _Watch

EVENT = "request-created.s3.UploadPart"


def _request(part: int, attempt: int, reason: str = "connection refused") -> Any:
    context = {"retries": {"attempt": attempt, "max": 10}, "s3sink.last_failure": reason}
    url = f"http://127.0.0.1:9/b/k?partNumber={part}&uploadId=u"
    return SimpleNamespace(context=context, url=url)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_parts_retried_together_are_one_line_per_round(caplog: pytest.LogCaptureFixture) -> None:
    """Four parts in flight, each retried up to attempt 4: three warnings (attempts 2, 3, 4),
    the later ones counting the parts; every retry still at DEBUG."""
    watch = _Watch()
    with caplog.at_level(logging.DEBUG, logger="s3sink"):
        for attempt in (2, 3, 4):
            for part in (1, 2, 3, 4):
                watch.request_created(_request(part, attempt), event_name=EVENT)
    assert _warnings(caplog) == [
        "retrying UploadPart 1 (attempt 2 of 10): connection refused",
        "retrying UploadPart 1 and 3 more requests (attempt 3 of 10): connection refused",
        "retrying UploadPart 1 and 3 more requests (attempt 4 of 10): connection refused",
    ]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 9  # the retries not said at WARNING


def test_an_answer_ends_the_episode(caplog: pytest.LogCaptureFixture) -> None:
    """Once the store answers a request, the next retry is said again, on its own."""
    watch = _Watch()
    response = (SimpleNamespace(status_code=200), {})
    with caplog.at_level(logging.WARNING, logger="s3sink"):
        watch.request_created(_request(1, 2), event_name=EVENT)
        watch.request_created(_request(2, 2), event_name=EVENT)
        watch.needs_retry({"context": {}}, response=response)
        watch.request_created(_request(3, 2, "SlowDown 503"), event_name=EVENT)
    assert _warnings(caplog) == [
        "retrying UploadPart 1 (attempt 2 of 10): connection refused",
        "retrying UploadPart 3 (attempt 2 of 10): SlowDown 503",
    ]
