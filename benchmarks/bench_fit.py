"""Benchmark: cjgrade's Bradley-Terry fit against choix on the same synthetic data.

Run:  .venv/bin/python benchmarks/bench_fit.py [--repeats N] [--sizes 100x2000,1000x20000,...]
                                               [--mode fit|process|both]
                                               [--process-sizes 1000x20000,10000x200000]

``--mode fit`` (in-process, below) times the fitting functions; ``--mode process`` times whole
processes as a user runs them (see :func:`bench_processes`); ``both`` (default) does both.

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
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
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


CHOIX_SCRIPT = """\
import csv, json, sys
import choix
with open(sys.argv[1], newline="") as fh:
    rows = list(csv.DictReader(fh))
ids = {}
pairs = [(ids.setdefault(r["candidate_chosen"], len(ids)),
          ids.setdefault(r["candidate_not_chosen"], len(ids))) for r in rows]
params = choix.ilsr_pairwise(len(ids), pairs)
json.dump(dict(zip(ids, params.tolist())), sys.stdout)
"""


def write_csv(path: Path, pairs: list[tuple[int, int]]) -> None:
    """The decisions as ``cjgrade fit`` reads them (20 judges, ids ``e<index>``)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("judge,candidate_chosen,candidate_not_chosen\n")
        fh.writelines(f"j{k % 20},e{w},e{lo}\n" for k, (w, lo) in enumerate(pairs))


def run_process(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one child process; it must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def cjgrade_command() -> list[str]:
    """The ``cjgrade`` console script next to this interpreter (as a user would run it)."""
    script = Path(sys.executable).with_name("cjgrade")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cjgrade.cli.main import main; main()"]


def bench_processes(sizes: list[tuple[int, int]], repeats: int, seed: int) -> None:
    """Whole-process times: ``cjgrade fit CSV`` (default flags) against a choix script.

    The CSVs are generated into a temporary directory. The choix script reads the same CSV with
    the ``csv`` module and calls ``choix.ilsr_pairwise`` (its import of numpy and scipy is part
    of what a user waits for, as cjgrade's is). Runs alternate between the two commands; the
    median and the minimum of ``repeats`` runs are printed, wall-clock and CPU time.
    """
    print("\n== whole processes (median / min of", repeats, "runs; wall and CPU seconds)")
    floor = [sys.executable, "-c", "import numpy, scipy.sparse, scipy.special, scipy.linalg"]
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import numpy + scipy.sparse/special/linalg": floor,
        "import cjgrade.cli.fit_report": [sys.executable, "-c", "import cjgrade.cli.fit_report"],
    }
    _time_commands(commands, repeats)
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmp:
        script = Path(tmp) / "choix_fit.py"
        script.write_text(CHOIX_SCRIPT, encoding="utf-8")
        for n, m in sizes:
            _, pairs, used = make_data(n, m, seed)
            csv_path = Path(tmp) / f"decisions_{n}x{m}.csv"
            write_csv(csv_path, pairs)
            print(f"-- {n} items, {m} comparisons (seed {used}), {csv_path.stat().st_size} bytes")
            commands = {"cjgrade fit": [*cjgrade_command(), "fit", str(csv_path)]}
            if choix is not None and n <= 2000:
                commands["choix script"] = [sys.executable, str(script), str(csv_path)]
            times = _time_commands(commands, repeats)
            if "choix script" in times:
                ratio = times["choix script"][0] / times["cjgrade fit"][0]
                print(f"   choix script / cjgrade fit (medians, wall): {ratio:.1f}x")


def _time_commands(commands: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, ...]]:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for name, argv in commands.items():
        run_process(argv)  # warm the file cache
    for _ in range(repeats):
        for name, argv in commands.items():
            runs[name].append(run_process(argv))
    out = {}
    for name, got in runs.items():
        wall = [w for w, _ in got]
        cpu = [c for _, c in got]
        out[name] = (statistics.median(wall), min(wall), statistics.median(cpu), min(cpu))
        print(
            f"   {name:44s} wall {out[name][0]:6.3f} / {out[name][1]:6.3f}   "
            f"cpu {out[name][2]:6.3f} / {out[name][3]:6.3f}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default="100x2000,1000x20000,10000x200000")
    parser.add_argument("--process-sizes", default="1000x20000,10000x200000")
    parser.add_argument("--mode", choices=("fit", "process", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cpus={os.cpu_count()} load1={load:.2f} repeats={args.repeats} "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )

    def parse(sizes: str) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in (x.lower().split("x") for x in sizes.split(","))]

    if args.mode in ("fit", "both"):
        for n, m in parse(args.sizes):
            bench_size(n, m, args.repeats, args.seed)
    if args.mode in ("process", "both"):
        bench_processes(parse(args.process_sizes), args.repeats, args.seed)


if __name__ == "__main__":
    main()
