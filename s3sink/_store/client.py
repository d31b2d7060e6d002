"""The one function that builds a botocore S3 client (:func:`build_client`), for the writer
given none, the library's ``endpoint_url=``, the command and the doctor alike. botocore is
imported here lazily: ``import s3sink`` and ``s3sink --help`` do not pay for it.

:data:`S3Client` is the type the rest of s3sink names a client by, so that no module outside
:mod:`s3sink._store` imports botocore, even for its types."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import UsageError
from .checksums import DEFAULT_ALGORITHM, resolve_mode
from .connections import tune_connections
from .errors import is_setup_problem
from .retries import watch_retries

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["DEFAULT_MAX_ATTEMPTS", "S3Client", "build_client"]

S3Client: TypeAlias = "BaseClient"


DEFAULT_MAX_ATTEMPTS = 10


def build_client(
    *,
    concurrency: int,
    checksum: str | None = DEFAULT_ALGORITHM,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int | None = None,
    sign_payload: bool | None = None,
) -> S3Client:
    """An S3 client with settings fit for streaming: a connection per part in flight,
    botocore's standard retries (backoff with jitter) and timeouts that catch stalls.

    ``max_attempts`` counts every try of a request. Without it, ``AWS_MAX_ATTEMPTS`` or the
    AWS config file's ``max_attempts`` apply if set, else 10; ``AWS_RETRY_MODE`` /
    ``retry_mode`` likewise replace the standard mode.

    ``checksum`` is the writer's ``checksum=`` mode, which decides which headers botocore
    may add and whether payloads are signed. With ``checksum=None`` (off) botocore sends no
    checksum headers of its own either (``when_required``), for S3-compatible stores that
    reject them. ``"md5"`` sends none either, but every part carries Content-MD5, so
    payloads are not signed either.

    A configuration the client cannot be built from (a missing profile, a bad endpoint URL)
    is a :class:`UsageError`; botocore's error is its cause.

    ``sign_payload=None`` (the default) signs payloads only when no checksum is sent:
    s3sink sends every part's CRC itself, and the store refuses a part whose bytes do not
    match it, so a SHA-256 of every byte for the signature (botocore's choice whenever it
    did not compute the checksum itself, and always over plain HTTP) costs ~1 CPU second
    per GiB and adds no integrity. ``True`` keeps SHA-256 signing, the one thing it adds
    being tamper-evidence on plain-HTTP networks. A ``payload_signing_enabled`` in the
    AWS config file's ``s3`` section wins over the automatic choice.
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    algorithm, content_md5 = resolve_mode(checksum)
    try:
        return _build(
            concurrency=concurrency,
            checksum=algorithm is not None,
            content_md5=content_md5,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            max_attempts=max_attempts,
            sign_payload=sign_payload,
        )
    except Exception as exc:
        if is_setup_problem(exc):  # ProfileNotFound, a bad endpoint URL
            raise UsageError(f"cannot set up the S3 client: {exc}") from exc
        raise


def _build(
    *,
    concurrency: int,
    checksum: bool,
    content_md5: bool,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    max_attempts: int | None,
    sign_payload: bool | None,
) -> S3Client:
    # botocore alone, not boto3: boto3 adds nothing a client needs here, and its import
    # (s3transfer, multiprocessing) costs start-up time and memory.
    import botocore.session  # noqa: PLC0415  # slow to import; only needed once a client is built
    from botocore.config import Config  # noqa: PLC0415

    session = botocore.session.Session(profile=profile)
    loader = session.get_component("data_loader")
    loader.list_available_services = _s3_only(loader)
    # Only what the user did not configure: an explicit Config value would override them.
    retries: dict[str, Any] = {}
    if not _user_configured(session, "retry_mode", "AWS_RETRY_MODE"):
        retries["mode"] = "standard"
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    elif not _user_configured(session, "max_attempts", "AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    s3: dict[str, Any] = {}
    if sign_payload is not None:
        s3["payload_signing_enabled"] = sign_payload
    elif "payload_signing_enabled" not in (session.get_config_variable("s3") or {}):
        # Auto, unless the user's AWS config file chose: sign only when nothing else
        # guards the bytes (no checksum header, no Content-MD5).
        s3["payload_signing_enabled"] = not (checksum or content_md5)
    config = Config(
        max_pool_connections=concurrency + 2,
        retries=retries,
        connect_timeout=10,
        read_timeout=120,
        tcp_keepalive=True,
        request_checksum_calculation="when_supported" if checksum else "when_required",
        response_checksum_validation="when_supported" if checksum else "when_required",
        s3=s3,
    )
    client = session.create_client(
        "s3", region_name=region, endpoint_url=endpoint_url, config=config
    )
    watch_retries(client)  # every retry logged; an endpoint never reached is not retried
    tune_connections(client)  # 1 MiB sends, TLS records batched
    return client


def _s3_only(loader: Any) -> Callable[[str], list[str]]:
    """The data loader's ``list_available_services``, for a session that only makes S3
    clients. botocore's own walks every service it knows (~400 directories, ~4,000 ``stat``
    calls: 18 ms of a 210 ms start-up, measured 2026-12-05) to find "s3" among them, twice
    per client. Still answered from the loader's search paths (a model in the AWS config's
    ``data_path`` or ``~/.aws/models`` counts, as before)."""

    def list_available_services(type_name: str) -> list[str]:
        for root in loader.search_paths:
            folder = os.path.join(root, "s3")
            if os.path.isdir(folder) and any(
                loader.file_loader.exists(os.path.join(folder, version, type_name))
                for version in os.listdir(folder)
            ):
                return ["s3"]
        return []

    return list_available_services


def _user_configured(session: Any, name: str, env_var: str) -> bool:
    """Whether the environment or the profile in the AWS config file sets ``name``."""
    return bool(os.environ.get(env_var)) or name in session.get_scoped_config()
