"""What importing costs: the library and the command's help load no more than they need."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        (
            "import s3sink",
            ("botocore", "typer", "rich", "awscrt", "zstandard", "isal", "cryptography"),
        ),
        (
            "import s3sink.cli",
            (
                "botocore",
                "rich",
                "awscrt",
                "typer",
                "s3sink._doctor.probe",
                "s3sink._mount.fuse",
                "cryptography",
            ),
        ),
    ],
)
def test_imports_stay_light(code: str, absent: tuple[str, ...]) -> None:
    """`import s3sink` loads neither botocore, typer, rich nor cryptography; the CLI module
    loads none of botocore, rich, typer, the doctor, libfuse or cryptography (each only when
    a command needs it)."""
    probe = f"{code}; import sys; print(' '.join(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
