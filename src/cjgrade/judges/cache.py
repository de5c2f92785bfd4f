"""Response cache keys and the in-memory :class:`~cjgrade.judges.base.ResponseCache`.

The key covers the provider, the model, the generation settings and the SHA-256 of the request,
so a re-run or a resumed batch pays nothing for a comparison already made, and any change to
the texts, the rubric, the settings or the model is a miss. The database-backed cache lives in
``cjgrade.store``; both implement the same protocol.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict

from cjgrade.judges.base import JudgeRequest, JudgeSettings, Verdict

__all__ = ["MemoryResponseCache", "fingerprint_request", "make_cache_key"]


def fingerprint_request(request: JudgeRequest) -> str:
    """SHA-256 (hex) of every field of the request, settings included, in a canonical form.

    Local judges (heuristic, sim, scripted) use it as their ``request_sha256``; the runtime uses
    it in cache keys when an adapter does not offer its own rendered-request hash.
    """
    payload = json.dumps(asdict(request), sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def make_cache_key(provider: str, model: str, settings: JudgeSettings, request_sha256: str,
                   namespace: str = "") -> str:
    """The cache key: SHA-256 over provider, model, settings, request hash and a namespace.

    ``namespace`` separates entries that share all of the above but not their meaning, e.g. two
    OpenAI-compatible servers (their base URLs) or two prompt-template versions.
    """
    payload = json.dumps(
        {
            "provider": provider,
            "model": model,
            "settings": asdict(settings),
            "request_sha256": request_sha256,
            "namespace": namespace,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class MemoryResponseCache:
    """A bounded in-process cache (least recently used entries are evicted first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._data: OrderedDict[str, Verdict] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> Verdict | None:
        verdict = self._data.get(key)
        if verdict is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return verdict

    async def put(self, key: str, verdict: Verdict) -> None:
        self._data[key] = verdict
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
