"""The public surface is a contract: ``s3sink.__all__``, the error tree and the command's
entry point stay as they are, whatever the modules behind them (httpx's
``test_exported_members``)."""

from __future__ import annotations

import s3sink
import s3sink.errors

PUBLIC = {
    "AbortFailedError",
    "CompleteError",
    "CompressionError",
    "DecompressError",
    "DecompressedReader",
    "DecryptedReader",
    "DecryptError",
    "IdentityError",
    "IntegrityError",
    "InvalidLocationError",
    "NoIdentityError",
    "NotCompressedError",
    "ObjectChangedError",
    "PartLimitError",
    "PartUploadError",
    "PreconditionFailed",
    "Progress",
    "RateLimiter",
    "ReadError",
    "ReadResult",
    "RecipientError",
    "S3MultipartWriter",
    "S3Reader",
    "S3SinkError",
    "SourceChangedError",
    "State",
    "UploadCancelled",
    "UploadError",
    "UploadResult",
    "UsageError",
    "__version__",
    "download_file",
    "open",
    "upload_file",
}


def test_all_is_pinned() -> None:
    """``s3sink.__all__`` names exactly the public names, and each of them exists."""
    assert set(s3sink.__all__) == PUBLIC
    assert len(s3sink.__all__) == len(PUBLIC)  # no name listed twice
    for name in PUBLIC:
        assert getattr(s3sink, name) is not None


def test_public_classes_say_they_are_public() -> None:
    """Each public class and function is the one its own module defines, under s3sink: no
    private module's name leaks into reprs and tracebacks as a second spelling."""
    for name in PUBLIC - {"__version__"}:
        assert getattr(s3sink, name).__module__.startswith("s3sink")


def test_errors_module_exports_the_tree() -> None:
    """Every error class of the public surface is importable from ``s3sink.errors`` too and
    derives from S3SinkError."""
    for name in PUBLIC:
        value = getattr(s3sink, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert getattr(s3sink.errors, name) is value
            assert issubclass(value, s3sink.errors.S3SinkError)


def test_command_entry_points() -> None:
    """``s3sink = "s3sink.cli:main"`` and ``python -m s3sink`` reach the same function."""
    import s3sink.__main__ as dunder_main
    import s3sink.cli

    assert callable(s3sink.cli.main)
    assert dunder_main.main is s3sink.cli.main
