"""build_client's start-up: the data loader answers for s3 alone (no walk of every service
botocore has), still from its search paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from s3sink._store.client import _s3_only, build_client


@pytest.mark.usefixtures("aws_env")
def test_a_client_is_built_without_listing_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    def walk(*_: Any) -> list[str]:
        raise AssertionError("botocore walked every service directory")

    monkeypatch.setattr(botocore.loaders.Loader, "list_available_services", walk)
    client = build_client(concurrency=1, endpoint_url="http://127.0.0.1:9", region="us-east-1")
    assert client.meta.service_model.service_name == "s3"
    assert "upload_part" in dir(client)


class _Files:
    def exists(self, path: str) -> bool:
        return Path(path + ".json").is_file()


class _Loader:
    def __init__(self, *paths: Path) -> None:
        self.search_paths = [str(p) for p in paths]
        self.file_loader = _Files()


def test_s3_is_listed_only_where_a_search_path_has_its_model(tmp_path: Path) -> None:
    empty, custom = tmp_path / "empty", tmp_path / "custom"
    (empty / "s3" / "2006-03-01").mkdir(parents=True)  # a version folder without the file
    (custom / "s3" / "2006-03-01").mkdir(parents=True)
    (custom / "s3" / "2006-03-01" / "service-2.json").write_text("{}")
    assert _s3_only(_Loader(empty))("service-2") == []
    assert _s3_only(_Loader(tmp_path / "missing", empty, custom))("service-2") == ["s3"]
    assert _s3_only(_Loader(custom))("paginators-1") == []
