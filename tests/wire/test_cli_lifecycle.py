"""``s3sink uploads lifecycle``: show the rule that aborts incomplete uploads, add or update
s3sink's own, keep every other rule; against moto, the fault proxy for the store's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import Result

from s3sink import cli
from s3sink._store import bucket_lifecycle as _lifecycle
from s3sink._store.bucket_lifecycle import RULE_ID, s3sink_rule
from tests.support.faultproxy import FaultProxy
from tests.support.inprocess import invoke_lifecycle
from tests.support.lifecycles import OTHER_RULES

LIFECYCLE = r"\?lifecycle"  # the fault proxy's path regex for the lifecycle requests


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
    result = invoke_lifecycle(endpoint, f"s3://{bucket}")
    assert result.exit_code == 1
    assert result.stdout == ""
    command = f"s3sink uploads lifecycle s3://{bucket} --add --endpoint-url {endpoint}"
    assert result.stderr == (
        f"s3sink: s3://{bucket} has no lifecycle configuration: unfinished uploads stay until "
        f"someone aborts them; add a rule: {command}\n"
    )
    shown = invoke_lifecycle(endpoint, f"s3://{bucket}", "--json")
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
    result = invoke_lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}")
    assert result.exit_code == 1
    header, *table = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "SCOPE", "DAYS"]
    assert [row.split() for row in table] == [
        ["scratch-abort", "Enabled", "prefix", "scratch/", "1"],
        ["off-abort", "Disabled", "whole", "bucket", "4"],
    ]
    assert "has no enabled lifecycle rule that aborts incomplete uploads" in result.stderr
    shown = json.loads(
        invoke_lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--json").stdout
    )
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
    result = invoke_lifecycle(endpoint, f"s3://{bucket}")
    assert result.exit_code == 0
    assert result.stderr == (
        f"s3sink: incomplete uploads in s3://{bucket} are aborted 2 days after they started "
        "(rule abort-incomplete-uploads)\n"
    )
    shown = json.loads(invoke_lifecycle(endpoint, f"s3://{bucket}", "--json").stdout)
    assert (shown["covered"], shown["days_after_initiation"], shown["add_command"]) == (
        True,
        2,
        None,
    )
    added = invoke_lifecycle(endpoint, f"s3://{bucket}", "--add", "--json")
    assert added.exit_code == 0
    assert json.loads(added.stdout)["also_covered_by"] == ["abort-incomplete-uploads"]
    assert "rule abort-incomplete-uploads also aborts incomplete uploads" in added.stderr
    assert others(s3_client, bucket) == [foreign]


# -- adding -------------------------------------------------------------------------------------
def test_add_with_the_default_days(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--add on a bucket without configuration: s3sink's rule, 7 days; then show exits 0."""
    endpoint = s3_client.meta.endpoint_url
    result = invoke_lifecycle(endpoint, f"s3://{bucket}", "--add")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"added rule {RULE_ID} to s3://{bucket}: incomplete uploads are aborted 7 days after "
        "they started (0 other rules kept)\n"
    )
    assert rules(s3_client, bucket) == [s3sink_rule(7)]
    shown = invoke_lifecycle(endpoint, f"s3://{bucket}")
    assert shown.exit_code == 0
    assert f"aborted 7 days after they started (rule {RULE_ID})" in shown.stderr


def test_add_with_days_keeps_every_other_rule(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--days 3 adds the rule; every other rule reads back exactly as before."""
    put_rules(s3_client, bucket, OTHER_RULES)
    before = rules(s3_client, bucket)
    assert len(before) == len(OTHER_RULES)
    result = invoke_lifecycle(
        s3_client.meta.endpoint_url, f"s3://{bucket}", "--days", "3", "--json"
    )
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
    first = invoke_lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}", "--add")
    assert first.exit_code == 0, first.output
    after_first = rules(s3_client, bucket)
    fault_proxy.clear_log()
    second = invoke_lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}", "--add", "--json")
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
    result = invoke_lifecycle(endpoint, f"s3://{bucket}", "--days", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"updated rule {RULE_ID} in s3://{bucket}: incomplete uploads are aborted 2 days after "
        "they started (was 7; 2 other rules kept)\n"
    )
    assert [r.get("ID") for r in rules(s3_client, bucket)] == ["logs", RULE_ID, "archive"]
    assert ours(s3_client, bucket) == [s3sink_rule(2)]
    assert others(s3_client, bucket) == before
    back = json.loads(invoke_lifecycle(endpoint, f"s3://{bucket}", "--add", "--json").stdout)
    assert (back["action"], back["previous_days"], back["rule"]["days_after_initiation"]) == (
        "updated",
        2,
        7,
    )


def test_add_to_a_legacy_configuration(aws_env: None, s3_client: Any, bucket: str) -> None:
    """Rules with a top-level Prefix (no Filter): s3sink's rule takes the same form."""
    legacy = [{"ID": "old", "Status": "Enabled", "Prefix": "old/", "Expiration": {"Days": 5}}]
    put_rules(s3_client, bucket, legacy)
    result = invoke_lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--add")
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
    line = assert_one_error_line(invoke_lifecycle(s3_client.meta.endpoint_url, *args))
    assert "bucket 'no-such-bucket-here' does not exist" in line


def test_access_denied_on_put_names_the_permission(
    aws_env: None, fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A refused Put: one line naming the IAM action; the configuration is untouched."""
    put_rules(s3_client, bucket, OTHER_RULES[:1])
    fault_proxy.respond(403, "AccessDenied", "no", method="PUT", path=LIFECYCLE, times=None)
    line = assert_one_error_line(
        invoke_lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}", "--add")
    )
    assert "access denied to PutBucketLifecycleConfiguration" in line
    assert "s3:PutLifecycleConfiguration" in line
    assert rules(s3_client, bucket) == OTHER_RULES[:1]


@pytest.mark.parametrize(("status", "code"), [(501, "NotImplemented"), (405, "MethodNotAllowed")])
def test_store_without_lifecycle_support(
    aws_env: None, fault_proxy: FaultProxy, bucket: str, status: int, code: str
) -> None:
    """A store that does not implement lifecycle: one line that says so and what to do."""
    fault_proxy.respond(status, code, method="GET", path=LIFECYCLE, times=None)
    line = assert_one_error_line(invoke_lifecycle(fault_proxy.endpoint_url, f"s3://{bucket}"))
    assert f"GetBucketLifecycleConfiguration failed: {code} (HTTP {status})" in line
    assert "does not support bucket lifecycle rules" in line
    assert f"s3sink uploads abort s3://{bucket} --older-than 7d" in line


def test_store_that_accepts_and_ignores_the_rule(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, s3_client: Any, bucket: str
) -> None:
    """A Put that the store answers 200 but does not keep: the read-back catches it, exit 1."""
    monkeypatch.setattr(_lifecycle, "_put", lambda client, bucket, lifecycle, rules: None)
    monkeypatch.setattr(_lifecycle, "VERIFY_DELAYS", (0.0, 0.0))
    line = assert_one_error_line(
        invoke_lifecycle(s3_client.meta.endpoint_url, f"s3://{bucket}", "--add")
    )
    assert f"reading it back does not show rule {RULE_ID} with 7 days" in line
