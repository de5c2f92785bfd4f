"""The judges a worker may use: built on first request, cached, limited by allow lists.

A request may name an OpenAI-compatible server (the batch's ``base_url``, for a self-hosted
model). A worker sends its provider key to that server, so it serves only the servers its
operator allowed (``--allow-base-url``); any other is refused with a message naming the flag.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cjgrade.errors import ConfigError
from cjgrade.judges.base import Judge

__all__ = ["JudgeFactory", "WorkerJudges", "load_judge_options"]

JudgeFactory = Callable[..., Judge]
"""``(judge name, base_url=None) -> Judge``; raises ConfigError for a judge it cannot build.
A factory that takes only the name serves requests without a ``base_url``."""


class WorkerJudges:
    """Judges by name for one worker.

    Parameters
    ----------
    allow : ``fnmatch`` patterns of judge names this worker serves (None: any).
    options : adapter options per judge name (``sim/bt``: abilities, latency_s, ...).
    concurrency : the runtime's concurrency limit (the worker's own limit by default, so the
        manifest's per-provider default does not throttle a worker below its setting).
    factory : builds a judge (default :func:`cjgrade.judges.get_judge` with the above).
    base_urls : ``fnmatch`` patterns of the OpenAI-compatible servers this worker may call
        (a request's ``base_url``); none by default.
    """

    def __init__(
        self,
        *,
        allow: Sequence[str] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        concurrency: int = 8,
        factory: JudgeFactory | None = None,
        base_urls: Sequence[str] | None = None,
    ) -> None:
        self.allow = tuple(allow) if allow else None
        self.base_urls = tuple(base_urls or ())
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.concurrency = concurrency
        self.factory = factory or self._build
        self._judges: dict[tuple[str, str | None], Judge] = {}

    def allowed(self, name: str) -> bool:
        return self.allow is None or any(fnmatch.fnmatchcase(name, p) for p in self.allow)

    def get(self, name: str, *, base_url: str | None = None) -> Judge:
        """The judge ``name`` (on ``base_url``); ConfigError when it is not allowed here or
        cannot be built."""
        if not self.allowed(name):
            raise ConfigError(
                f"this worker does not serve judge {name!r} (allowed: "
                f"{', '.join(self.allow or ())}); start a worker with --judge-allow matching it"
            )
        if base_url is not None and not any(fnmatch.fnmatchcase(base_url, p)
                                            for p in self.base_urls):
            raise ConfigError(
                f"this worker does not call the server {base_url!r} (it would send its provider "
                "key there); start a worker with --allow-base-url matching it"
            )
        key = (name, base_url)
        judge = self._judges.get(key)
        if judge is None:
            judge = self._judges[key] = (self.factory(name) if base_url is None
                                         else self.factory(name, base_url=base_url))
        return judge

    def _build(self, name: str, *, base_url: str | None = None) -> Judge:
        from cjgrade.judges import get_judge

        return get_judge(name, base_url=base_url, options=self.options.get(name),
                         policy_overrides={"max_concurrency": self.concurrency})

    async def aclose(self) -> None:
        for judge in self._judges.values():
            closer = getattr(judge, "aclose", None)  # the Judge protocol leaves it optional
            if callable(closer):
                await closer()


def load_judge_options(path: Path) -> dict[str, dict[str, Any]]:
    """Read ``{"judge name": {option: value}}`` from a JSON file (e.g. sim abilities)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read judge options {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"judge options {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(
            f"judge options {path} must map judge names to option objects, e.g. "
            '{"sim/bt": {"latency_s": 0.2, "abilities": {...}}}'
        )
    return data
