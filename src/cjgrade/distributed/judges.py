"""The judges a worker may use: built on first request, cached, limited by an allow list."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cjgrade.errors import ConfigError
from cjgrade.judges.base import Judge

__all__ = ["JudgeFactory", "WorkerJudges", "load_judge_options"]

JudgeFactory = Callable[[str], Judge]
"""``judge name -> Judge``; raises ConfigError for a judge it cannot build."""


class WorkerJudges:
    """Judges by name for one worker.

    Parameters
    ----------
    allow : ``fnmatch`` patterns of judge names this worker serves (None: any).
    options : adapter options per judge name (``sim/bt``: abilities, latency_s, ...).
    concurrency : the runtime's concurrency limit (the worker's own limit by default, so the
        manifest's per-provider default does not throttle a worker below its setting).
    factory : builds a judge (default :func:`cjgrade.judges.get_judge` with the above).
    """

    def __init__(
        self,
        *,
        allow: Sequence[str] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        concurrency: int = 8,
        factory: JudgeFactory | None = None,
    ) -> None:
        self.allow = tuple(allow) if allow else None
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.concurrency = concurrency
        self.factory = factory or self._build
        self._judges: dict[str, Judge] = {}

    def allowed(self, name: str) -> bool:
        return self.allow is None or any(fnmatch.fnmatchcase(name, p) for p in self.allow)

    def get(self, name: str) -> Judge:
        """The judge ``name``; ConfigError when it is not allowed here or cannot be built."""
        if not self.allowed(name):
            raise ConfigError(
                f"this worker does not serve judge {name!r} (allowed: "
                f"{', '.join(self.allow or ())}); start a worker with --judge-allow matching it"
            )
        judge = self._judges.get(name)
        if judge is None:
            judge = self._judges[name] = self.factory(name)
        return judge

    def _build(self, name: str) -> Judge:
        from cjgrade.judges import get_judge

        return get_judge(name, options=self.options.get(name),
                         policy_overrides={"max_concurrency": self.concurrency})

    async def aclose(self) -> None:
        for judge in self._judges.values():
            closer = getattr(judge, "aclose", None)
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
