"""Lifecycle rules another tool put on a bucket, for the tests of ``s3sink uploads lifecycle``
(tests/unit/test_bucket_lifecycle.py, tests/wire/test_cli_lifecycle.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
