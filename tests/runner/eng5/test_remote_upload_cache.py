"""The upload cache (R7) against a live API on PostgreSQL: reuse across runs, a changed server,
an id the server lost (the deferred "phase 3" check), ``--force-reupload``, a broken file."""

# ruff: noqa: F811 (the fixtures are imported from tests/runner/eng5/live_api.py)

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cjgrade.errors import ConfigError
from cjgrade.runner.eng5.upload_cache import CACHE_FILE, UploadCache, text_checksum, upload_texts
from cjgrade.store.content import content_id
from tests.runner.eng5.live_api import (  # noqa: F401
    LiveApi,
    _db_templates,
    live_api,
    pg_url,
    student_text,
)

pytestmark = pytest.mark.postgres

TEXTS = {f"essay s{i}": student_text(i) for i in range(3)}


def _upload(api: LiveApi, folder: Path, *, force: bool = False, url: str | None = None,
            role: str = "runner", texts: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with api.client(role) as client:
            cache = UploadCache.load(folder, url or client.base_url, force=force)
            return await upload_texts(client, texts or TEXTS, cache)

    return asyncio.run(go())


def _requests(api: LiveApi) -> dict[str, int]:
    """POST/GET counts of the content routes, from the server's own /metrics."""
    import httpx

    text = httpx.get(api.url + "/metrics").text
    counts = {"POST": 0, "GET": 0}
    for line in text.splitlines():
        if line.startswith("cjgrade_http_requests_total{") and "/v1/content" in line:
            method = line.split('method="')[1].split('"')[0]
            counts[method] = counts.get(method, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def test_first_run_uploads_second_run_reuses(live_api: LiveApi, tmp_path: Path) -> None:
    ids, report = _upload(live_api, tmp_path)
    assert ids == {name: content_id(text) for name, text in TEXTS.items()}
    assert (report.reused, report.uploaded, report.missing) == (0, 3, 0)
    data = json.loads((tmp_path / CACHE_FILE).read_text())
    assert data["schema_version"] == 1 and data["server_url"] == live_api.url
    assert data["entries"] == {text_checksum(t): content_id(t) for t in TEXTS.values()}
    before = _requests(live_api)
    ids2, report = _upload(live_api, tmp_path)
    after = _requests(live_api)
    assert ids2 == ids and (report.reused, report.uploaded, report.missing) == (3, 0, 0)
    assert after["POST"] == before["POST"]  # nothing uploaded again
    assert after["GET"] == before["GET"] + 3  # each reused id checked on the server
    assert report.line().startswith("Content upload cache: reused=3 uploaded=0 "
                                    "missing_on_server=0 path=")


def test_an_id_the_server_lost_is_uploaded_again(live_api: LiveApi, tmp_path: Path) -> None:
    """Phase 3: the database behind the same URL was reset; the cached ids are checked,
    found missing, and uploaded again instead of being sent in a request."""
    _upload(live_api, tmp_path)
    gone = content_id(TEXTS["essay s1"])
    live_api.sql(f"DELETE FROM content WHERE id = '{gone}'")
    ids, report = _upload(live_api, tmp_path)
    assert (report.reused, report.uploaded, report.missing) == (2, 1, 1)
    assert "1 cached id(s) were gone" in report.notes[-1]
    assert ids["essay s1"] == gone and live_api.count("content") == 3


def test_a_changed_server_invalidates_the_cache(live_api: LiveApi, tmp_path: Path) -> None:
    _upload(live_api, tmp_path, url="http://old-server:8000")
    _, report = _upload(live_api, tmp_path)
    assert (report.reused, report.uploaded) == (0, 3)
    assert any("written for http://old-server:8000" in note and "server changed" in note
               for note in report.notes)
    assert json.loads((tmp_path / CACHE_FILE).read_text())["server_url"] == live_api.url


def test_force_reupload_bypasses_reads_and_rewrites(live_api: LiveApi, tmp_path: Path) -> None:
    _upload(live_api, tmp_path, texts={"other": student_text(42)})
    _upload(live_api, tmp_path)
    before = _requests(live_api)
    _, report = _upload(live_api, tmp_path, force=True)
    after = _requests(live_api)
    assert (report.reused, report.uploaded) == (0, 3)
    assert after["POST"] == before["POST"] + 3 and after["GET"] == before["GET"]
    assert any("--force-reupload" in note for note in report.notes)
    entries = json.loads((tmp_path / CACHE_FILE).read_text())["entries"]
    assert len(entries) == 4  # the new ids merged with the entry of the other text


@pytest.mark.parametrize("content", [
    "{not json", '{"schema_version": 2, "server_url": "x", "entries": {}}',
    '{"schema_version": 1, "server_url": "x", "entries": {"short": "id"}}', "[]",
])
def test_a_broken_cache_file_is_reported_and_replaced(live_api: LiveApi, tmp_path: Path,
                                                     content: str) -> None:
    (tmp_path / CACHE_FILE).write_text(content, encoding="utf-8")
    _, report = _upload(live_api, tmp_path)
    assert report.uploaded == 3 and "ignored" in report.notes[0]
    assert json.loads((tmp_path / CACHE_FILE).read_text())["schema_version"] == 1


def test_a_read_token_cannot_upload(live_api: LiveApi, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"403.*--role runner"):
        _upload(live_api, tmp_path, role="read")
    assert live_api.count("content") == 0
