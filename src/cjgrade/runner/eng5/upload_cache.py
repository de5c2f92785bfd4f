"""The upload cache of the ENG5 NP runner (R7): texts uploaded once, reused across runs.

``<output_dir>/content_upload_cache.json`` (beside the per-run folders, so every run into the
same output folder shares it)::

    {"schema_version": 1, "server_url": "http://api:8000", "updated_at": "...",
     "entries": {"<sha256 of the text's UTF-8 bytes>": "<content id on that server>"}}

* A cache written for another server URL is ignored (and replaced), as is a file that is not
  valid JSON or not this shape; the reason is reported, nothing fails.
* ``--force-reupload`` uploads every text again without reading the entries, then records the
  new ids (merged into the entries of that server).
* The deferred "phase 3" of the original: before an id is reused, the server is asked for it
  (``GET /v1/content/{id}``); an id the server no longer has (a reset database behind the same
  URL), or that holds another text, is uploaded again and counted as ``missing``.

The file is written atomically (a temporary file, then ``os.replace``), so a crash never
leaves half a cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cjgrade.api.client import ApiAuthError, ApiClient, ApiForbidden, ApiNotFound
from cjgrade.runner.eng5.preflight import explain_api_error

__all__ = ["CACHE_FILE", "SCHEMA_VERSION", "UploadCache", "UploadReport", "text_checksum",
           "upload_texts"]

CACHE_FILE = "content_upload_cache.json"
SCHEMA_VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONCURRENCY = 8


def text_checksum(text: str) -> str:
    """SHA-256 (hex) of the text's UTF-8 bytes: the cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass
class UploadCache:
    """The cache of one output folder for one server (see the module docstring)."""

    path: Path
    server_url: str
    entries: dict[str, str] = field(default_factory=dict)
    """Text checksum -> content id, as usable for this run (empty when forced or ignored)."""
    kept: dict[str, str] = field(default_factory=dict)
    """Entries of this server read from the file (kept on save even when not read)."""
    notes: list[str] = field(default_factory=list)
    """Why the file was not used, if it was not (shown to the user)."""
    forced: bool = False

    @classmethod
    def load(cls, directory: Path, server_url: str, *, force: bool = False) -> UploadCache:
        """The cache of ``directory`` for ``server_url``; never raises for a bad file."""
        path = Path(directory) / CACHE_FILE
        cache = cls(path=path, server_url=_normal_url(server_url), forced=force)
        if not path.exists():
            return cache
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            cache.notes.append(f"{path} ignored: not readable JSON ({exc}); it will be rewritten")
            return cache
        problem = _shape_problem(data)
        if problem:
            cache.notes.append(f"{path} ignored: {problem}; it will be rewritten")
            return cache
        written_for = _normal_url(data["server_url"])
        if written_for != cache.server_url:
            cache.notes.append(f"{path} was written for {written_for}, not {cache.server_url}: "
                               "the server changed, every text is uploaded again")
            return cache
        cache.kept = dict(data["entries"])
        if force:
            cache.notes.append("--force-reupload: the cached ids are not used")
        else:
            cache.entries = dict(cache.kept)
        return cache

    def record(self, checksum: str, content_id: str) -> None:
        self.entries[checksum] = content_id
        self.kept[checksum] = content_id

    def forget(self, checksum: str) -> None:
        self.entries.pop(checksum, None)
        self.kept.pop(checksum, None)

    def save(self) -> None:
        """Write the file atomically (the parent folder is created)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "schema_version": SCHEMA_VERSION,
            "server_url": self.server_url,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "entries": dict(sorted(self.kept.items())),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("schema_version") != SCHEMA_VERSION:
        return f"schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
    if not isinstance(data.get("server_url"), str) or not data["server_url"].strip():
        return "no server_url"
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return "no entries object"
    bad = [k for k, v in entries.items()
           if not (isinstance(k, str) and _HEX64.match(k) and isinstance(v, str) and v.strip())]
    if bad:
        return f"{len(bad)} malformed entr{'y' if len(bad) == 1 else 'ies'}"
    return None


@dataclass
class UploadReport:
    """What one upload pass did."""

    path: Path
    reused: int = 0
    uploaded: int = 0
    missing: int = 0
    """Cached ids the server no longer had (uploaded again; included in ``uploaded``)."""
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"Content upload cache: reused={self.reused} uploaded={self.uploaded} "
                f"missing_on_server={self.missing} path={self.path}")

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "reused": self.reused, "uploaded": self.uploaded,
                "missing_on_server": self.missing, "notes": list(self.notes)}


async def _still_there(client: ApiClient, content_id: str, text: str) -> bool:
    """Phase 3: whether the server still holds ``text`` under ``content_id``."""
    try:
        stored = await client.get_content(content_id)
    except ApiNotFound:
        return False
    return stored == text


async def upload_texts(client: ApiClient, texts: Mapping[str, str],
                       cache: UploadCache) -> tuple[dict[str, str], UploadReport]:
    """Make every text available on the server; returns (name -> content id, report).

    Texts already in the cache are checked on the server first (phase 3) and uploaded again
    when it lost them. The cache file is saved afterwards, also after a partial failure (the
    ids uploaded so far stay known).

    Raises
    ------
    ConfigError
        401/403 with the command that mints a runner token; the client's other errors as is.
    """
    report = UploadReport(path=cache.path, notes=list(cache.notes))
    by_checksum: dict[str, str] = {}
    for text in texts.values():
        by_checksum.setdefault(text_checksum(text), text)
    ids: dict[str, str] = {}
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(checksum: str, text: str) -> None:
        async with gate:
            cached = cache.entries.get(checksum)
            if cached is not None:
                if await _still_there(client, cached, text):
                    ids[checksum] = cached
                    report.reused += 1
                    return
                cache.forget(checksum)
                report.missing += 1
            content_id = await client.upload_content(text)
            cache.record(checksum, content_id)
            ids[checksum] = content_id
            report.uploaded += 1

    outcomes = await asyncio.gather(*(one(c, t) for c, t in by_checksum.items()),
                                    return_exceptions=True)
    cache.save()  # every finished upload is kept, also when another one failed
    for outcome in outcomes:
        if isinstance(outcome, ApiAuthError | ApiForbidden):
            raise explain_api_error(outcome, client.base_url, what="uploading the texts") \
                from outcome
        if isinstance(outcome, BaseException):
            raise outcome
    if report.missing:
        report.notes.append(f"{report.missing} cached id(s) were gone from {cache.server_url} "
                            "and were uploaded again")
    return {name: ids[text_checksum(text)] for name, text in texts.items()}, report
