"""The doctor's recommendations (s3sink._doctor.probe.recommend) from a table of verdicts,
without a store: the flags each kind of store calls for, and the warning when nothing can
verify a part. The probe against real servers: tests/wire/test_doctor.py (moto) and
tests/stores/test_doctor_stores.py."""

from __future__ import annotations

import pytest

from s3sink._doctor.probe import Report, Verdict, recommend
from tests.support.doctor import MOTO

PART, MD5 = "upload_part.checksum.crc64nvme", "content_md5"


@pytest.mark.parametrize(
    ("store", "changes", "flags"),
    [
        ("checks parts", {PART: "validated"}, ()),
        ("checks Content-MD5", {MD5: "validated"}, ("--checksum", "md5")),
        # moto: a wrong part checksum echoed, Content-MD5 ignored: not "md5", which the
        # table says the store ignores; "off" compares ETags and signs payloads.
        ("echoes wrong values", {}, ("--checksum", "off")),
        ("no checksum headers", {PART: "unsupported"}, ("--checksum", "off")),
        ("nor Content-MD5", {PART: "unsupported", MD5: "unsupported"}, ("--checksum", "off")),
        ("echoes, no MD5", {MD5: "unsupported"}, ("--checksum", "off")),
        (
            "equal parts only",
            {PART: "validated", "unequal_part_sizes": "unsupported"},
            ("--fixed-part-size",),
        ),
    ],
)
def test_recommendations(store: str, changes: dict[str, Verdict], flags: tuple[str, ...]) -> None:
    """The recommended flags follow the rules in the module docstring."""
    facts = {"echoes": {"upload_part_wrong": store.startswith("echoes")}}
    facts["etag_is_md5"] = {"upload_part": True}
    assert recommend({**MOTO, **changes}, facts) == (flags, [])


def test_no_verification_left_is_a_warning() -> None:
    """No check on receipt and ETags that are not MD5s: the report warns."""
    facts = {"echoes": {}, "etag_is_md5": {"upload_part": False}}
    flags, warnings = recommend(MOTO, facts)
    assert flags == ()
    assert warnings == [
        "verification impossible: the store checks no checksum of a part, and part ETags are "
        "not the MD5 of their bytes"
    ]


def test_report_capabilities() -> None:
    """Report.capabilities maps each finding's name to its verdict."""
    from s3sink._doctor.probe import Finding

    report = Report(None, "b", "", (Finding("content_md5", "validated", "BadDigest"),), (), {}, ())
    assert report.capabilities() == {"content_md5": "validated"}
