"""Benchmark: throughput and CPU overhead of the judge runtime (retries, limits, cache, cost).

Run:  .venv/bin/python benchmarks/bench_judges.py [--comparisons 1600] [--latency 0.2]
      [--concurrency 32] [--cpu-calls 20000] [--repeats 3]

1. Throughput: ``sim/bt`` with a fixed latency (default 200 ms) through ``get_judge`` with a
   concurrency limit (default 32); the ideal is concurrency / latency (160 comparisons/s).
   Target: at least 90 % of it.
2. The runtime's own CPU time per comparison: the same requests with zero latency, judged
   (a) by the bare adapter and (b) through the runtime, both driven the same way (gathered in
   waves of ``concurrency``); (b - a) / N with ``time.process_time`` is what the layer adds.
   Measured with everything switched on that a remote provider gets: response cache (key
   hashing, lookup and store; every request distinct, so every call is a miss), per-request
   timeout, RPM and TPM token buckets (limits set high enough never to wait), circuit breaker,
   cost and ledger. Target: under 1 ms. Best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from cjgrade.judges import JudgeRequest, get_judge
from cjgrade.judges.sim import text_key

_WORD_TEXT = ("the of and to in that is was for it with as his on be at by this had not are but "
         "from or have an they which one you were her all she there would their we him been "
         "has when who will more no if out so said what up its about into than them can only "
         "other new some could time these two may then do first any my now such like our over "
         "argument evidence because however therefore community technology students")
WORDS = _WORD_TEXT.split()


def make_essays(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct essays of about 300 words (realistic hashing and rendering sizes)."""
    return [" ".join(rng.choice(WORDS, 300)) + f" Essay {i}." for i in range(n)]


def make_requests(essays: Sequence[str], count: int,
                  rng: np.random.Generator) -> list[JudgeRequest]:
    rubric = "Judge the overall quality of the argument, its organisation and its language. " * 8
    out = []
    for _ in range(count):
        i, j = rng.choice(len(essays), 2, replace=False)
        out.append(JudgeRequest("You are an experienced examiner.", "Write a letter.",
                                "Assess the whole essay.", rubric, essays[i], essays[j]))
    return out


async def drive(call: Callable[[JudgeRequest], Awaitable[object]],
                requests: Sequence[JudgeRequest], wave: int) -> None:
    """Judge requests in waves of ``wave`` concurrent calls."""
    for start in range(0, len(requests), wave):
        await asyncio.gather(*(call(r) for r in requests[start:start + wave]))


def measure_throughput(essays: list[str], abilities: dict[str, float], args: argparse.Namespace
                       ) -> dict[str, float]:
    judge = get_judge("sim/bt", options={"abilities": abilities, "seed": 1,
                                         "latency_s": args.latency},
                      policy_overrides={"max_concurrency": args.concurrency})
    requests = make_requests(essays, args.comparisons, np.random.default_rng(2))

    async def run() -> None:
        results = await judge.judge_many(requests)
        failures = sum(1 for r in results if isinstance(r, Exception))
        if failures:
            raise RuntimeError(f"{failures} comparisons failed")

    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(run())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    limit = args.concurrency / args.latency
    rate = args.comparisons / wall
    return {"wall_s": wall, "throughput": rate, "limit": limit, "ratio": rate / limit,
            "cpu_ms_per_cmp": 1e3 * cpu / args.comparisons}


def measure_overhead(essays: list[str], abilities: dict[str, float], args: argparse.Namespace
                     ) -> dict[str, float]:
    requests = make_requests(essays, args.cpu_calls, np.random.default_rng(3))
    runtime = get_judge(
        "sim/bt",
        options={"abilities": abilities, "seed": 1},
        use_cache=True,
        policy_overrides={"max_concurrency": args.concurrency, "timeout_s": 120.0,
                          "requests_per_minute": 1e9, "tokens_per_minute": 1e12,
                          "max_attempts": 4},
    )
    bare = runtime.adapter

    def cpu_of(call: Callable[[JudgeRequest], Awaitable[object]]) -> float:
        best = float("inf")
        for _ in range(args.repeats):
            start = time.process_time()
            asyncio.run(drive(call, requests, args.concurrency))
            best = min(best, time.process_time() - start)
            if runtime.cache is not None:
                runtime.cache._data.clear()  # type: ignore[attr-defined]  # keep every call a miss
        return best

    bare_cpu = cpu_of(bare.judge)
    runtime_cpu = cpu_of(runtime.judge)
    n = len(requests)
    return {"calls": n, "bare_us": 1e6 * bare_cpu / n, "runtime_us": 1e6 * runtime_cpu / n,
            "overhead_us": 1e6 * (runtime_cpu - bare_cpu) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=1600)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cpu-calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    essays = make_essays(400, rng)
    abilities = {text_key(t): float(a) for t, a in zip(essays, rng.normal(size=400), strict=True)}

    t = measure_throughput(essays, abilities, args)
    print(f"throughput: {args.comparisons} comparisons, latency {args.latency * 1e3:.0f} ms, "
          f"concurrency {args.concurrency}")
    print(f"  wall {t['wall_s']:.2f} s -> {t['throughput']:.1f} comparisons/s "
          f"= {100 * t['ratio']:.1f} % of the {t['limit']:.0f}/s limit "
          f"(target >= 90 %: {'met' if t['ratio'] >= 0.9 else 'NOT met'})")
    print(f"  total process CPU {t['cpu_ms_per_cmp']:.3f} ms per comparison (sim judge included)")
    o = measure_overhead(essays, abilities, args)
    print(f"runtime CPU overhead: {o['calls']} calls, best of {args.repeats}")
    print(f"  bare adapter {o['bare_us']:.1f} us/call, through the runtime "
          f"{o['runtime_us']:.1f} us/call -> runtime adds {o['overhead_us']:.1f} us "
          f"(target < 1000 us: {'met' if o['overhead_us'] < 1000 else 'NOT met'})")


if __name__ == "__main__":
    main()
