"""``s3sink uploads lifecycle``: show the rule that aborts incomplete uploads, add or update
s3sink's own, keep every other rule; against moto, the fault proxy for the store's errors."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from s3sink import cli
from s3sink._store import bucket_lifecycle as _lifecycle
from s3sink._store.bucket_lifecycle import RULE_ID, merge_rule, rule_scope, s3sink_rule
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import DUMMY_CREDENTIALS

LIFECYCLE = r"\?lifecycle"  # the fault proxy's path regex for the lifecycle requests

# Rules another tool put there: a prefix expiration, a tag-filtered transition with noncurrent
# versions, an expiration by date, a disabled rule, and an abort rule on one prefix.
OTHER_RULES: list[dict[str, Any]] = [
    {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
    {
        "ID": "archive",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "data/", "Tags": [{"Key": "tier", "Value": "cold"}]}},
        "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 10},
    },
    {
        "ID": "tmp-by-date",
        "Status": "Enabled",
        "Filter": {"Prefix": "tmp/"},
        "Expiration": {"Date": dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)},
    },
    {"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}},
    {
        "ID": "scratch-abort",
        "Status": "Enabled",
        "Filter": {"Prefix": "scratch/"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, no profile/config files, no proxies: only 127.0.0.1 is reachable."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "*")
    for name in list(os.environ):
        if name.startswith("S3SINK_"):
            monkeypatch.delenv(name)


def lifecycle(endpoint: str, *args: str) -> Result:
    """Run ``s3sink uploads lifecycle ARGS --endpoint-url ENDPOINT`` in-process."""
    return CliRunner().invoke(
        cli.uploads_app,
        ["lifecycle", *args, "--endpoint-url", endpoint],
        catch_exceptions=False,
    )


def rules(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules on the server ([] without a configuration)."""
    try:
        found: list[dict[str, Any]] = client.get_bucket_lifecycle_configuration(Bucket=bucket)[
            "Rules"
        ]
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
            raise
        return []
    return found


def ours(client: Any, bucket: str) -> list[dict[str, Any]]:
    return [r for r in rules(client, bucket) if r.get("ID") == RULE_ID]


def others(client: Any, bucket: str) -> list[dict[str, Any]]:
    return [r for r in rules(client, bucket) if r.get("ID") != RULE_ID]


def put_rules(client: Any, bucket: str, new: list[dict[str, Any]]) -> None:
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": new})


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("s3sink: error: ")]


def assert_one_error_line(result: Result) -> str:
    """Exit 1, nothing on stdout, exactly one line on stderr: the error, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("s3sink: error: ")
    return line


# -- showing ------------------------------------------------------------------------------------
def test_show_without_configuration(aws_env: None, s3_client: Any, bucket: str) -> None:
    """No configuration: exit 1, nothing on stdout, the exact command that adds a rule."""
    endpoint = s3_client.meta.endpoint_url
    result = lifecycle(endpoint, f"s3://{bucket}")
    assert result.exit_code == 1
    assert result.stdout == ""
    command = f"s3sink uploads lifecycle s3://{bucket} --add --endpoint-url {endpoint}"
    assert result.stderr == (
        f"s3sink: s3://{bucket} has no lifecycle configuration: unfinished uploads stay until "
        f"someone aborts them; add a rule: {command}\n"
    )
    shown = lifecycle(endpoint, f"s3://{bucket}", "--json")
    assert shown.exit_code == 1
    assert json.loads(shown.stdout) == {
        "bucket": bucket,
        "uri": f"s3://{bucket}",
        "configured": False,
        "covered": False,
        "days_after_initiation": None,
        "rules": [],
        "add_command": command,
    }


def test_show_rules_that_do_not_cover_the_bucket(
    aws_env: None, s3_client: Any, bucket: str
) -> None:
    """An abort rule on a prefix and a disabled whole-bucket one are listed, but exit 1."""
    disabled = {
        "ID": "off-abort",
        "Status": "Disabled",
        "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 4},
    }
    put_rules(s3_client, bucket, [*OTHER_RULES, disabled])
    result = lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}")
    assert result.exit_code == 1
    header, *table = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "SCOPE", "DAYS"]
    assert [row.split() for row in table] == [
        ["scratch-abort", "Enabled", "prefix", "scratch/", "1"],
        ["off-abort", "Disabled", "whole", "bucket", "4"],
    ]
    assert "has no enabled lifecycle rule that aborts incomplete uploads" in result.stderr
    shown = json.loads(lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--json").stdout)
    assert [(r["id"], r["whole_bucket"], r["covers_bucket"]) for r in shown["rules"]] == [
        ("scratch-abort", False, False),
        ("off-abort", True, False),
    ]
    assert (shown["configured"], shown["covered"]) == (True, False)


def test_show_a_covering_rule_of_another_tool(aws_env: None, s3_client: Any, bucket: str) -> None:
    """Another tool's whole-bucket rule (Filter {}) covers it: exit 0; --add keeps it, says so."""
    foreign = {
        "ID": "abort-incomplete-uploads",
        "Status": "Enabled",
        "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    }
    put_rules(s3_client, bucket, [foreign])
    endpoint = s3_client.meta.endpoint_url
    result = lifecycle(endpoint, f"s3://{bucket}")
    assert result.exit_code == 0
    assert result.stderr == (
        f"s3sink: incomplete uploads in s3://{bucket} are aborted 2 days after they started "
        "(rule abort-incomplete-uploads)\n"
    )
    shown = json.loads(lifecycle(endpoint, f"s3://{bucket}", "--json").stdout)
    assert (shown["covered"], shown["days_after_initiation"], shown["add_command"]) == (
        True,
        2,
        None,
    )
    added = lifecycle(endpoint, f"s3://{bucket}", "--add", "--json")
    assert added.exit_code == 0
    assert json.loads(added.stdout)["also_covered_by"] == ["abort-incomplete-uploads"]
    assert "rule abort-incomplete-uploads also aborts incomplete uploads" in added.stderr
    assert others(s3_client, bucket) == [foreign]


# -- adding -------------------------------------------------------------------------------------
def test_add_with_the_default_days(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--add on a bucket without configuration: s3sink's rule, 7 days; then show exits 0."""
    endpoint = s3_client.meta.endpoint_url
    result = lifecycle(endpoint, f"s3://{bucket}", "--add")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"added rule {RULE_ID} to s3://{bucket}: incomplete uploads are aborted 7 days after "
        "they started (0 other rules kept)\n"
    )
    assert rules(s3_client, bucket) == [s3sink_rule(7)]
    shown = lifecycle(endpoint, f"s3://{bucket}")
    assert shown.exit_code == 0
    assert f"aborted 7 days after they started (rule {RULE_ID})" in shown.stderr


def test_add_with_days_keeps_every_other_rule(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--days 3 adds the rule; every other rule reads back exactly as before."""
    put_rules(s3_client, bucket, OTHER_RULES)
    before = rules(s3_client, bucket)
    assert len(before) == len(OTHER_RULES)
    result = lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--days", "3", "--json")
    assert result.exit_code == 0, result.output
    assert others(s3_client, bucket) == before
    (rule,) = ours(s3_client, bucket)
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    assert rule["Status"] == "Enabled"
    assert json.loads(result.stdout) == {
        "bucket": bucket,
        "uri": f"s3://{bucket}",
        "action": "added",
        "rule": {
            "id": RULE_ID,
            "status": "Enabled",
            "scope": "whole bucket",
            "whole_bucket": True,
            "filter": {"Prefix": ""},
            "days_after_initiation": 3,
            "covers_bucket": True,
            "s3sink": True,
        },
        "previous_days": None,
        "other_rules": len(OTHER_RULES),
        "also_covered_by": [],
    }


def test_add_twice_is_idempotent(
    aws_env: None, fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A second --add finds the rule in place: no Put, still one s3sink rule."""
    put_rules(s3_client, bucket, OTHER_RULES[:2])
    first = lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}", "--add")
    assert first.exit_code == 0, first.output
    after_first = rules(s3_client, bucket)
    fault_proxy.clear_log()
    second = lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}", "--add", "--json")
    assert second.exit_code == 0, second.output
    record = json.loads(second.stdout)
    assert (record["action"], record["previous_days"]) == ("unchanged", 7)
    assert [e.method for e in fault_proxy.log] == ["GET"]
    assert rules(s3_client, bucket) == after_first
    assert len(ours(s3_client, bucket)) == 1


def test_update_days(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--days on a bucket with s3sink's rule changes its days in place, others untouched."""
    put_rules(s3_client, bucket, [OTHER_RULES[0], s3sink_rule(7), OTHER_RULES[1]])
    before = others(s3_client, bucket)
    endpoint = s3_client.meta.endpoint_url
    result = lifecycle(endpoint, f"s3://{bucket}", "--days", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"updated rule {RULE_ID} in s3://{bucket}: incomplete uploads are aborted 2 days after "
        "they started (was 7; 2 other rules kept)\n"
    )
    assert [r.get("ID") for r in rules(s3_client, bucket)] == ["logs", RULE_ID, "archive"]
    assert ours(s3_client, bucket) == [s3sink_rule(2)]
    assert others(s3_client, bucket) == before
    back = json.loads(lifecycle(endpoint, f"s3://{bucket}", "--add", "--json").stdout)
    assert (back["action"], back["previous_days"], back["rule"]["days_after_initiation"]) == (
        "updated",
        2,
        7,
    )


def test_add_to_a_legacy_configuration(aws_env: None, s3_client: Any, bucket: str) -> None:
    """Rules with a top-level Prefix (no Filter): s3sink's rule takes the same form."""
    legacy = [{"ID": "old", "Status": "Enabled", "Prefix": "old/", "Expiration": {"Days": 5}}]
    put_rules(s3_client, bucket, legacy)
    result = lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--add")
    assert result.exit_code == 0, result.output
    assert rules(s3_client, bucket) == [*legacy, s3sink_rule(7, legacy=True)]


def test_main_dispatches_lifecycle(
    aws_env: None, s3_client: Any, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``s3sink uploads lifecycle`` reaches the command through main()."""
    endpoint = s3_client.meta.endpoint_url
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["uploads", "lifecycle", f"s3://{bucket}", "--days", "5", "--json",
                  "--endpoint-url", endpoint])  # fmt: skip
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out)["rule"]["days_after_initiation"] == 5
    assert ours(s3_client, bucket) == [s3sink_rule(5)]


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("add", [False, True])
def test_missing_bucket_is_one_error_line(aws_env: None, s3_client: Any, add: bool) -> None:
    """A bucket that does not exist: exit 1 and one line, shown or added."""
    args = ["s3://no-such-bucket-here", *(["--add"] if add else [])]
    line = assert_one_error_line(lifecycle(s3_client.meta.endpoint_url, *args))
    assert "bucket 'no-such-bucket-here' does not exist" in line


def test_access_denied_on_put_names_the_permission(
    aws_env: None, fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A refused Put: one line naming the IAM action; the configuration is untouched."""
    put_rules(s3_client, bucket, OTHER_RULES[:1])
    fault_proxy.respond(403, "AccessDenied", "no", method="PUT", path=LIFECYCLE, times=None)
    line = assert_one_error_line(lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}", "--add"))
    assert "access denied to PutBucketLifecycleConfiguration" in line
    assert "s3:PutLifecycleConfiguration" in line
    assert rules(s3_client, bucket) == OTHER_RULES[:1]


@pytest.mark.parametrize(("status", "code"), [(501, "NotImplemented"), (405, "MethodNotAllowed")])
def test_store_without_lifecycle_support(
    aws_env: None, fault_proxy: FaultProxy, bucket: str, status: int, code: str
) -> None:
    """A store that does not implement lifecycle: one line that says so and what to do."""
    fault_proxy.respond(status, code, method="GET", path=LIFECYCLE, times=None)
    line = assert_one_error_line(lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}"))
    assert f"GetBucketLifecycleConfiguration failed: {code} (HTTP {status})" in line
    assert "does not support bucket lifecycle rules" in line
    assert f"s3sink uploads abort s3://{bucket} --older-than 7d" in line


def test_store_that_accepts_and_ignores_the_rule(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, s3_client: Any, bucket: str
) -> None:
    """A Put that the store answers 200 but does not keep: the read-back catches it, exit 1."""
    monkeypatch.setattr(_lifecycle, "_put", lambda client, bucket, lifecycle, rules: None)
    monkeypatch.setattr(_lifecycle, "VERIFY_DELAYS", (0.0, 0.0))
    line = assert_one_error_line(lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--add"))
    assert f"reading it back does not show rule {RULE_ID} with 7 days" in line


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
    result = lifecycle("http://127.0.0.1:9", *args)
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
