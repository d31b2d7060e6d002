"""The object settings an upload is created with, as a resume journal records them, and the
check that a resume asks for the same ones.

CreateMultipartUpload fixes an object's settings (Content-Type, metadata, tags, encryption,
ACL, storage class, Object Lock mode and legal hold...): neither the parts nor the Complete
can change them, so a resume that asked for others would publish the first run's, silently.
What is not recorded: the guards every request of a run repeats itself (ExpectedBucketOwner,
RequestPayer: a resume's requests carry its own), the Object Lock retention date (a duration
such as ``30d`` differs on every run; the lock is read back and extended after the commit),
and SSECustomerKeyMD5 (derived from the key). An SSE-C key is a secret: only a digest of it,
salted with the upload id, is recorded and compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from .abort import cleanup_command

__all__ = ["check_settings", "recorded_settings"]

log = logging.getLogger("s3sink")

_NOT_RECORDED = frozenset(
    {"ExpectedBucketOwner", "RequestPayer", "ObjectLockRetainUntilDate", "SSECustomerKeyMD5"}
)
_SECRET_KEY_ARG = "SSECustomerKey"  # noqa: S105  # the name of the argument, not a key

# The command's option for each setting it has one for (the library's name otherwise).
_OPTIONS = {
    "ContentType": "--content-type",
    "ContentEncoding": "--content-encoding",
    "StorageClass": "--storage-class",
    "ACL": "--acl",
    "ServerSideEncryption": "--sse",
    "SSEKMSKeyId": "--sse-kms-key-id",
    "Metadata": "--metadata",
    "Tagging": "--tag",
    "ObjectLockMode": "--object-lock-mode",
    "ObjectLockLegalHoldStatus": "--legal-hold",
    "SSECustomerAlgorithm": "--sse-c-key-file",
    "SSECustomerKey": "--sse-c-key-file",
}


def _plain(value: Any) -> Any:
    """``value`` as JSON keeps it (so that recorded and current values compare alike)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return json.loads(json.dumps(value, default=str))


def _key_digest(key: str | bytes, upload_id: str) -> str:
    raw = key.encode() if isinstance(key, str) else bytes(key)
    return "sha256:" + hashlib.sha256(upload_id.encode() + b"\n" + raw).hexdigest()


def recorded_settings(extra: Mapping[str, Any], upload_id: str) -> dict[str, Any]:
    """The settings of ``extra`` (the writer's ``extra_args``) that the upload keeps, as a
    journal records them: never a secret in clear."""
    settings: dict[str, Any] = {}
    for name in sorted(extra):
        if name in _NOT_RECORDED or extra[name] is None:
            continue
        value = extra[name]
        settings[name] = _key_digest(value, upload_id) if name == _SECRET_KEY_ARG else _plain(value)
    return settings


def _describe(name: str, then: Any, now: Any) -> str:
    option = _OPTIONS.get(name)
    label = f"{option} (extra_args {name})" if option else f"extra_args {name}"
    if name == _SECRET_KEY_ARG and now is None:
        return f"{label}: the upload was created with an SSE-C key; give the same key again"
    if name == _SECRET_KEY_ARG:
        return f"{label}: another key than the upload was created with"
    shown = [json.dumps(v) if v is not None else "none" for v in (then, now)]
    return f"{label}: {shown[0]} when the upload was created, {shown[1]} now"


def check_settings(
    extra: Mapping[str, Any],
    upload_id: str,
    recorded: Mapping[str, Any] | None,
    *,
    bucket: str,
    key: str,
) -> None:
    """Refuse (UsageError) a resume whose settings differ from those the upload was created
    with; when they are not known (found by listing, or a journal of an earlier version),
    say that the upload keeps its own."""
    if recorded is None:
        log.warning(
            "upload %s of s3://%s/%s keeps the settings it was created with (Content-Type, "
            "metadata, tags, encryption, ACL, storage class, Object Lock); this run's are not "
            "applied, and no journal here records them to compare",
            upload_id,
            bucket,
            key,
        )
        return
    ours = recorded_settings(extra, upload_id)
    changed = sorted(n for n in set(ours) | set(recorded) if ours.get(n) != recorded.get(n))
    if not changed:
        return
    listing = "; ".join(_describe(n, recorded.get(n), ours.get(n)) for n in changed)
    raise UsageError(
        f"upload {upload_id} of s3://{bucket}/{key} was created with other settings than "
        f"this run asks for, and a resume cannot change them: {listing}. Resume it with the "
        f"settings it was created with, or remove it ({cleanup_command(bucket, key, upload_id)})"
        " and start a new upload"
    )
