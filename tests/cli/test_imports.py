"""What importing costs: the library and the command's help load no more than they need."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import s3sink", ("botocore", "typer", "rich", "awscrt", "zstandard", "isal")),
        ("import s3sink.cli", ("botocore", "rich", "awscrt", "s3sink._doctor.probe")),
    ],
)
def test_imports_stay_light(code: str, absent: tuple[str, ...]) -> None:
    """`import s3sink` loads neither botocore, typer nor rich; the CLI module loads neither
    botocore nor rich nor the doctor (each only when it is needed)."""
    probe = f"{code}; import sys; print(' '.join(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
