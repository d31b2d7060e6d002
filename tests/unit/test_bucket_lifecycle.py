"""s3sink's bucket lifecycle rule (s3sink._store.bucket_lifecycle) without a store: merging it
among other rules, what a rule covers, waiting for the read-back; and the usage errors of
``s3sink uploads lifecycle``, which end before anything is sent. Against moto:
tests/wire/test_cli_lifecycle.py."""

from __future__ import annotations

from typing import Any

import pytest

from s3sink._store import bucket_lifecycle as _lifecycle
from s3sink._store.bucket_lifecycle import merge_rule, rule_scope, s3sink_rule
from tests.support.inprocess import error_lines, invoke_lifecycle
from tests.support.lifecycles import OTHER_RULES


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["s3://bucket/some/prefix"], "give s3://bucket, not s3://bucket/some/prefix"),
        (["s3://bucket", "--days", "0"], "'0' is not a whole number of at least 1"),
        (["s3://bucket", "--days", "week"], "'week' is not a whole number of at least 1"),
    ],
)
def test_usage_errors_exit_2(aws_env: None, args: list[str], needle: str) -> None:
    """A key prefix or a bad --days is a usage error; nothing is sent (port 9: discard)."""
    result = invoke_lifecycle("http://127.0.0.1:9", *args)
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert needle in line


# -- the pure functions -------------------------------------------------------------------------
def test_merge_rule_replaces_only_ours() -> None:
    """Ours replaced where it was (a duplicate dropped), or appended; others are the same
    objects; a rule with neither Filter nor Prefix gets the empty prefix it means."""
    bare = {"ID": "bare", "Status": "Enabled", "Expiration": {"Days": 9}}
    given = [OTHER_RULES[0], s3sink_rule(7), OTHER_RULES[1], s3sink_rule(9), bare]
    merged = merge_rule(given, 3)
    assert merged == [
        OTHER_RULES[0],
        s3sink_rule(3),
        OTHER_RULES[1],
        {**bare, "Filter": {"Prefix": ""}},
    ]
    assert merged[0] is OTHER_RULES[0]
    assert merged[2] is OTHER_RULES[1]
    assert given[1] == s3sink_rule(7)  # the input is not changed
    assert merge_rule(OTHER_RULES, 7) == [*OTHER_RULES, s3sink_rule(7)]
    assert merge_rule([], 1) == [s3sink_rule(1)]
    legacy = [{"ID": "old", "Status": "Enabled", "Prefix": "a/", "Expiration": {"Days": 1}}]
    assert merge_rule([*legacy, bare], 2) == [
        *legacy,
        {**bare, "Prefix": ""},
        s3sink_rule(2, legacy=True),
    ]


@pytest.mark.parametrize(
    ("scope", "words", "whole"),
    [
        ({}, "whole bucket", True),
        ({"Filter": {}}, "whole bucket", True),
        ({"Filter": {"Prefix": ""}}, "whole bucket", True),
        ({"Prefix": ""}, "whole bucket", True),
        ({"Filter": {"And": {"Prefix": ""}}}, "whole bucket", True),
        ({"Prefix": "logs/"}, "prefix logs/", False),
        ({"Filter": {"Prefix": "logs/"}}, "prefix logs/", False),
        ({"Filter": {"Tag": {"Key": "k", "Value": "v"}}}, "tag k=v", False),
        ({"Filter": {"ObjectSizeGreaterThan": 10}}, "size > 10 B", False),
        (
            {"Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}]}}},
            "prefix a/, tag k=v",
            False,
        ),
        ({"Filter": {"SomethingNew": 1}}, "SomethingNew 1", False),
    ],
)
def test_rule_scope(scope: dict[str, Any], words: str, whole: bool) -> None:
    """What a rule applies to, and whether that is every key; only then does it cover."""
    rule = {"Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
    rule.update(scope)
    assert rule_scope(rule) == (words, whole)
    assert _lifecycle.covers_bucket(rule) is whole
    assert _lifecycle.covers_bucket({**rule, "Status": "Disabled"}) is False


class FakeClient:
    """Answers Get with the configurations queued (the last one repeats); records Puts."""

    def __init__(self, *configurations: dict[str, Any]) -> None:
        self.answers = list(configurations)
        self.puts: list[dict[str, Any]] = []

    def get_bucket_lifecycle_configuration(self, **kwargs: Any) -> dict[str, Any]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def put_bucket_lifecycle_configuration(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)


def test_ensure_rule_waits_for_the_read_back_and_keeps_the_object_size() -> None:
    """A read-back that still shows the old configuration is asked again after a pause;
    TransitionDefaultMinimumObjectSize goes back with the rules."""
    size = {"TransitionDefaultMinimumObjectSize": "varies_by_storage_class"}
    old = {"Rules": OTHER_RULES[:1], **size}
    new = {"Rules": [OTHER_RULES[0], s3sink_rule(4)]}
    client = FakeClient(old, old, old, new)
    pauses: list[float] = []
    change = _lifecycle.ensure_rule(client, "bkt", 4, sleep=pauses.append)
    assert (change.action, change.kept, change.rule) == ("added", 1, s3sink_rule(4))
    assert pauses == list(_lifecycle.VERIFY_DELAYS[:2])
    (put,) = client.puts
    assert put == {
        "Bucket": "bkt",
        "LifecycleConfiguration": {"Rules": [OTHER_RULES[0], s3sink_rule(4)]},
        **size,
    }
