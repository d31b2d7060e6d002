"""Credentials in URLs: hidden in any text, and left out of the name of a store."""

from __future__ import annotations

import json
import shlex

import pytest

from s3sink._store.redact import redact, strip_userinfo


@pytest.mark.parametrize(
    "text",
    [
        "http://user:SECRET@127.0.0.1:9/bkt/k?uploads",
        'Could not connect to the endpoint URL: "http://user:SECRET@127.0.0.1:9/bkt"',
        shlex.join(["s3sink", "--endpoint-url", "http://user:p@SECRET@h:1", "-q"]),
        shlex.join(["--endpoint-url", "http://user:it's-SECRET@h:1/"]),
        json.dumps({"endpoint": "http://user:SECRET@h:1", "bucket": "b"}),
    ],
)
def test_the_password_of_a_url_never_survives(text: str) -> None:
    """Also a password holding '@' or a quote (as shlex quotes it), and URLs in JSON."""
    assert "SECRET" not in redact(text)
    assert "***@h" in redact(text) or "***@127.0.0.1" in redact(text)


def test_text_without_credentials_is_unchanged() -> None:
    text = "s3://bucket/key@x http://host:9/path@x https://h/"
    assert redact(text) == text


def test_strip_userinfo_names_the_store_the_same_with_or_without_credentials() -> None:
    assert strip_userinfo("http://user:p@ss@h:1/p?q") == "http://h:1/p?q"
    assert strip_userinfo("http://***@h:1") == "http://h:1"
    assert strip_userinfo("https://h") == "https://h"
