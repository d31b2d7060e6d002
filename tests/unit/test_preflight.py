"""The bucket check before a command starts (cli._preflight over a Transport): which
answers stop the command, with what message, and which let it go on."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from s3sink._location import parse_location
from s3sink._store.errors import bucket_problem, connection_reason
from s3sink.cli._preflight import check_bucket
from s3sink.cli._report import PreflightFailed, classify
from s3sink.errors import UploadError
from tests.support.fakes import FakeS3
from tests.support.faults import FaultyStore

LOCATION = parse_location("s3://backups/db.dump")
CONNECTION = ["--endpoint-url", "http://***@store:9000", "--profile", "backup"]


@pytest.fixture
def fake() -> FakeS3:
    return FakeS3()


class Answer(Exception):
    """A botocore ClientError as s3sink reads it: code and HTTP status."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


def refused() -> EndpointConnectionError:
    return EndpointConnectionError(
        endpoint_url="http://store:9000/backups?list-type=2",
        error=ConnectionRefusedError(111, "Connection refused"),
    )


def check(faulty: FaultyStore) -> None:
    check_bucket(faulty, LOCATION, connection=CONNECTION, untouched="pg_dump was not started")


def answering(faulty: FaultyStore, cause: BaseException) -> FaultyStore:
    """``faulty`` whose bucket check raises what BotoTransport raises for ``cause``."""

    def fail() -> None:
        error = UploadError(
            "ListObjectsV2 failed", bucket=LOCATION.bucket, key=LOCATION.key, upload_id=None
        )
        raise error from cause

    faulty.before("check_bucket", fail)
    return faulty


@pytest.mark.parametrize(
    ("cause", "problem"),
    [
        (Answer("NoSuchBucket", 404), "missing-bucket"),
        (Answer("NotFound", 404), "missing-bucket"),  # something at the endpoint, not S3
        (Answer("InvalidAccessKeyId", 403), "bad-credentials"),
        (Answer("SignatureDoesNotMatch", 403), "bad-credentials"),
        (Answer("ExpiredToken", 400), "bad-credentials"),
        (refused(), "unreachable"),
        (NoCredentialsError(), "no-credentials"),
        (Answer("AccessDenied", 403), None),  # may write without listing: cannot tell
        (Answer("403", 403), None),  # a bare 403 (a HEAD's, or a proxy's)
        (Answer("InternalError", 500), None),
        (Answer("PermanentRedirect", 301), None),
    ],
)
def test_what_a_failed_bucket_check_proves(cause: BaseException, problem: str | None) -> None:
    assert bucket_problem(cause) == problem


def test_the_reason_a_connection_failed_is_the_systems() -> None:
    assert connection_reason(refused()) == "Connection refused"


def test_a_missing_bucket_stops_with_the_command_that_creates_it(faulty: FaultyStore) -> None:
    """One request, then PreflightFailed: the bucket, what was not done, and the AWS CLI's
    command with the same connection options alone on the last line."""
    answering(faulty, Answer("NoSuchBucket", 404))
    with pytest.raises(PreflightFailed) as raised:
        check(faulty)
    first, advice, command = str(raised.value).split("\n")
    assert first.startswith("bucket 'backups' does not exist at fake://s3 (NoSuchBucket)")
    assert advice.startswith("check the bucket name and the endpoint")
    assert "pg_dump was not started" in first
    assert command == (
        "  aws s3 mb s3://backups --endpoint-url 'http://***@store:9000' --profile backup"
    )


@pytest.mark.parametrize(
    ("cause", "needle"),
    [
        (Answer("InvalidAccessKeyId", 403), "refused the credentials for bucket 'backups'"),
        (refused(), "cannot reach the S3 endpoint fake://s3 for bucket 'backups' (Connection"),
        (NoCredentialsError(), "no AWS credentials found to reach bucket 'backups'"),
    ],
)
def test_refused_credentials_and_an_endpoint_out_of_reach_stop(
    faulty: FaultyStore, cause: BaseException, needle: str
) -> None:
    answering(faulty, cause)
    with pytest.raises(PreflightFailed, match="pg_dump was not started") as raised:
        check(faulty)
    first, advice = str(raised.value).split("\n")
    assert needle in first
    assert advice.startswith(("check ", "set "))


def test_access_denied_goes_on_without_a_word(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Write-only credentials may not list: the check cannot tell, and says so only under
    --debug."""
    answering(faulty, Answer("AccessDenied", 403))
    with caplog.at_level(logging.DEBUG, logger="s3sink"):
        check(faulty)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_an_answer_that_proves_nothing_warns_and_goes_on(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    answering(faulty, Answer("InternalError", 500))
    with caplog.at_level(logging.WARNING, logger="s3sink"):
        check(faulty)
    (record,) = caplog.records
    assert "could not check bucket 'backups' before starting" in record.getMessage()


def test_a_bucket_that_answers_passes_after_one_request(faulty: FaultyStore) -> None:
    check(faulty)
    assert faulty.ops() == ["check_bucket"]


def test_the_failure_is_reported_as_it_says_exit_1() -> None:
    """classify() adds nothing to the message (its last line is a command to paste)."""
    failure = PreflightFailed("bucket 'b' does not exist; create it:\n  aws s3 mb s3://b")
    code, message = classify(failure, None, precondition="", upload_started=False)
    assert (code, message) == (1, str(failure))
