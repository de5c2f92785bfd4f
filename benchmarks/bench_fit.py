"""Benchmark: cjgrade's Bradley-Terry fit against choix on the same synthetic data.

Run:  .venv/bin/python benchmarks/bench_fit.py [--repeats N] [--sizes 100x2000,1000x20000,...]

For each size (items x comparisons) it draws abilities ~ N(0, 1), random pairs and outcomes
from the BT model (re-drawing the seed until the maximum-likelihood estimate exists, so every
method fits the same unregularised problem), then reports min-of-N wall-clock and CPU
(process) times -- CPU time is the fairer figure on a busy shared machine -- for:

- ``cjgrade`` theta only (``se_method="none"``), with sirt-style diagonal SEs, and with exact
  sum-to-zero Fisher SEs (dense: only up to a few thousand items);
- ``choix.ilsr_pairwise`` and ``choix.opt_pairwise`` (Newton-CG) where they finish in reasonable
  time (both build dense n x n matrices, so they are skipped at 10,000 items);
- the wall-clock ratio of each method to cjgrade's theta-only fit;
- max |theta - reference| after centring, where the reference is cjgrade's Newton solution
  at tol 1e-13 whose score equations are checked independently here (max |gradient| printed);
- peak traced memory (tracemalloc) of cjgrade's fit and bytes per comparison.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit

from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.btsolver import aggregate_pairs

try:
    import choix
except ImportError:  # pragma: no cover - choix is a dev dependency
    choix = None


def make_data(n: int, m: int, seed: int) -> tuple[PairwiseData, list[tuple[int, int]], int]:
    """BT data whose MLE exists; returns (data, choix-style (winner, loser) list, seed used)."""
    from cjgrade.errors import ConvergenceError

    while True:
        rng = np.random.default_rng(seed)
        theta = rng.normal(0.0, 1.0, n)
        a = rng.integers(0, n, m)
        b = (a + rng.integers(1, n, m)) % n
        won = rng.random(m) < expit(theta[a] - theta[b])
        data = PairwiseData.build(n, a, b, won.astype(float))
        try:
            fit_bradley_terry(data, se_method="none", max_iter=3)
        except ConvergenceError as exc:
            if "did not converge" not in str(exc):
                seed += 1
                continue
        winners = np.where(won, a, b)
        losers = np.where(won, b, a)
        return data, list(zip(winners.tolist(), losers.tolist(), strict=True)), seed


def max_gradient(data: PairwiseData, theta: np.ndarray) -> float:
    """Independent check of the score equations: max |d loglik / d theta|."""
    r = data.y - expit(theta[data.a] - theta[data.b])
    n = data.n_items
    return float(np.max(np.abs(np.bincount(data.a, r, n) - np.bincount(data.b, r, n))))


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Min-of-N wall-clock and CPU (process) time; CPU time is less hurt by a busy machine."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def peak_memory(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def centred(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float) - float(np.mean(x))


def bench_size(n: int, m: int, repeats: int, seed: int) -> None:
    data, pairs, used = make_data(n, m, seed)
    agg = aggregate_pairs(
        n, data.a, data.b, data.y, data.weight, data.position_known, keep_orientation=False
    )
    ref = fit_bradley_terry(data, se_method="none", tol=1e-13)
    print(
        f"\n== {n} items, {m} comparisons ({agg.n_groups} distinct pairs, seed {used}); "
        f"reference max|gradient| = {max_gradient(data, ref.theta):.1e}"
    )
    nan = float("nan")
    rows: list[tuple[str, float, float, float, str]] = []

    t, c, fit = best_time(lambda: fit_bradley_terry(data, se_method="none"), repeats)
    base = t
    rows.append(("cjgrade theta only", t, c, np.max(np.abs(fit.theta - ref.theta)), ""))
    t, c, fit = best_time(lambda: fit_bradley_terry(data, se_method="diagonal"), repeats)
    rows.append(("cjgrade + diagonal SE", t, c, np.max(np.abs(fit.theta - ref.theta)), ""))
    if n <= 4000:
        t, c, fit = best_time(lambda: fit_bradley_terry(data, se_method="fisher"), repeats)
        rows.append(("cjgrade + exact SE", t, c, np.max(np.abs(fit.theta - ref.theta)), ""))
    else:
        rows.append(("cjgrade + exact SE", nan, nan, nan, "skipped: dense n x n"))

    if choix is None:
        rows.append(("choix", nan, nan, nan, "not installed"))
    elif n > 2000:
        gb = 8 * n * n / 1e9
        note = f"not run: dense {n}x{n} Markov chain ({gb:.1f} GB) + LU every iteration"
        rows.append(("choix.ilsr_pairwise", nan, nan, nan, note))
        note = f"not run: dense {n}x{n} Hessian ({gb:.1f} GB) every Newton-CG step"
        rows.append(("choix.opt_pairwise", nan, nan, nan, note))
    else:
        reps = max(1, repeats // 3)
        t, c, th = best_time(lambda: choix.ilsr_pairwise(n, pairs, alpha=0.0), reps)
        rows.append(("choix.ilsr_pairwise", t, c, np.max(np.abs(centred(th) - ref.theta)), ""))
        t, c, th = best_time(lambda: choix.opt_pairwise(n, pairs, alpha=1e-9), reps)
        rows.append(("choix.opt_pairwise", t, c, np.max(np.abs(centred(th) - ref.theta)), ""))

    print(f"{'method':26s} {'wall ms':>9s} {'cpu ms':>9s} {'x ours':>8s} {'max|dtheta|':>12s}")
    for name, t, c, err, note in rows:
        if np.isnan(t):
            print(f"{name:26s} {'-':>9s} {'-':>9s} {'-':>8s} {'-':>12s}  {note}")
        else:
            print(f"{name:26s} {t * 1e3:9.1f} {c * 1e3:9.1f} {t / base:8.1f} {err:12.1e}")
    for label, method in (("theta only", "none"), ("diagonal SE", "diagonal")):
        peak = peak_memory(lambda method=method: fit_bradley_terry(data, se_method=method))
        print(f"peak traced memory, {label:12s}: {peak / 1e6:7.2f} MB = {peak / m:6.0f} B/comp.")
    if n <= 4000:
        peak = peak_memory(lambda: fit_bradley_terry(data, se_method="fisher"))
        print(f"peak traced memory, {'exact SE':12s}: {peak / 1e6:7.2f} MB (dense n x n)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default="100x2000,1000x20000,10000x200000")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cpus={os.cpu_count()} load1={load:.2f} repeats={args.repeats} "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    for size in args.sizes.split(","):
        n, m = (int(x) for x in size.lower().split("x"))
        bench_size(n, m, args.repeats, args.seed)


if __name__ == "__main__":
    main()
