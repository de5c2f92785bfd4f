"""Embedded-mode engine benchmark: throughput and where the time goes.

Runs a real batch (real store, real loop, real refits) with the simulated judge ``sim/bt`` at a
fixed latency, in process, and reports comparisons per second against the latency-bound limit
(concurrency / latency), and the share of wall time spent in refits, in pair selection and in
storing outcomes.

    python benchmarks/bench_engine.py                        # the default scenarios
    python benchmarks/bench_engine.py --essays 2000 --per-essay 20 --latency 0 --concurrency 32
    python benchmarks/bench_engine.py --database-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import cjgrade.engine.ledger as ledger_module
import cjgrade.engine.loop as loop_module
from cjgrade.domain import Essay
from cjgrade.engine.dispatch import InProcessDispatcher
from cjgrade.engine.loop import BatchEngine
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.judges import get_judge
from cjgrade.store import open_store

TIMES: dict[str, float] = defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(fn):
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                TIMES[name] += time.perf_counter() - start
        return wrapper_async

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - start
    return wrapper


def _instrument() -> None:
    loop_module.fit_round = _timed("refit", loop_module.fit_round)  # type: ignore[attr-defined]
    loop_module.select_pairs = _timed("select_pairs", loop_module.select_pairs)  # type: ignore[attr-defined]
    cls = ledger_module.BatchLedger
    cls.record_outcomes = _timed("store_outcome", cls.record_outcomes)  # type: ignore[method-assign]
    cls.add_round = _timed("store_round", cls.add_round)  # type: ignore[method-assign]
    cls.record_fit = _timed("store_fit", cls.record_fit)  # type: ignore[method-assign]


def _spec(n: int, per_essay: int, rng: np.random.Generator, concurrency: int
          ) -> tuple[BatchSpec, dict[str, float]]:
    truth = rng.normal(0.0, 1.5, n)
    essays = tuple(
        Essay(id=f"e{i:05d}", text=f"Essay {i}: " + "words " * 20 + f"[{i}]") for i in range(n)
    )
    options = BatchOptions(budget=per_essay * n // 2, target_reliability=None,
                           stability_threshold=None,
                           seed=1, concurrency=concurrency)
    spec = BatchSpec(essays=essays, instructions="Pick the better essay.", judge="sim/bt",
                     grade_scale=None, grades_requested=False, options=options)
    return spec, {e.text: float(t) for e, t in zip(essays, truth, strict=True)}


async def run_scenario(n: int, per_essay: int, latency: float, concurrency: int,
                       url: str) -> dict[str, float]:
    rng = np.random.default_rng(20261121)
    spec, abilities = _spec(n, per_essay, rng, concurrency)
    judge = get_judge("sim/bt", options={"abilities": abilities, "seed": 7,
                                         "latency_s": latency},
                      policy_overrides={"max_concurrency": concurrency})
    store = await open_store(url)
    TIMES.clear()
    try:
        engine = BatchEngine(store, InProcessDispatcher(judge, concurrency=concurrency))
        uid = await engine.create(spec)
        start = time.perf_counter()
        result = await engine.run(uid)
        wall = time.perf_counter() - start
    finally:
        await store.close()
    done = len(result.comparisons)
    truth = np.array([abilities[e.text] for e in spec.essays])
    est = np.array([next(x.theta for x in result.essays if x.essay_id == e.id)
                    for e in spec.essays])
    return {
        "essays": n, "comparisons": done, "wall_s": wall, "per_s": done / wall,
        "limit_per_s": concurrency / latency if latency > 0 else float("nan"),
        "refit_share": TIMES["refit"] / wall, "select_share": TIMES["select_pairs"] / wall,
        "store_share": (TIMES["store_outcome"] + TIMES["store_round"] + TIMES["store_fit"])
        / wall,
        "rounds": len(result.rounds),
        "pearson_truth": float(np.corrcoef(truth, est)[0, 1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--essays", type=int, nargs="*", default=[60, 200])
    parser.add_argument("--per-essay", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    _instrument()
    print("essays comps  wall_s  comps/s  limit/s  refit%  select%  store%  rounds  r(truth)")
    for n in args.essays:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
            r = asyncio.run(run_scenario(n, args.per_essay, args.latency, args.concurrency, url))
        print(f"{r['essays']:6d} {r['comparisons']:5d} {r['wall_s']:7.1f} {r['per_s']:8.1f} "
              f"{r['limit_per_s']:8.1f} {100 * r['refit_share']:6.1f} "
              f"{100 * r['select_share']:7.1f} {100 * r['store_share']:6.1f} {r['rounds']:7d} "
              f"{r['pearson_truth']:9.3f}")


if __name__ == "__main__":
    main()
