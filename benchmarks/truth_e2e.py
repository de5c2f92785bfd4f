"""Benchmark: the product path against truth, over several seeds and both adapters.

Each run writes a synthetic input folder (60 students ~ N(0, 1.5^2) and 12 anchors over every
grade of ``swedish_8_anchor``; known grades from fixed cut points on the true ability), serves
the LLM look-alike of ``tests/judges/fakes/truth.py`` on a loopback port, and runs
``cjgrade run --judge openai/...|anthropic/... --base-url ...`` in-process through the official
SDKs and the real adapters (OpenAI: ``p_a`` from the winner token's logprobs; Anthropic: the
stated confidence). The look-alike believes ``z = theta_A - theta_B + offset + N(0, noise^2)``
and mixes in 429s, 500s and malformed replies. The artefact is then scored against the truth
(``tests/judges/fakes/truth_scenario.py``): QWK of the projected student grades with the known
ones; the reported (posterior) reliability against the squared correlation of the reported
student abilities with the true ones; Spearman; comparisons per essay.

Run:  .venv/bin/python benchmarks/truth_e2e.py [--seeds 0 1 2 3 4] [--flavours openai anthropic]
      [--budget 576] [--belief-noise 1.0] [--position-offset 0.2] [--fault-rate 0.02]
      [--json results.json]

Targets (those of ``tests/judges/test_truth_e2e.py``): QWK >= 0.8 and |reported - truth|
<= 0.05. About 30 s per run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package (the fakes)

from tests.judges.fakes.truth import Faults
from tests.judges.fakes.truth_scenario import build_scenario, run_scenario, score_run

MIN_QWK = 0.8
MAX_GAP = 0.05

COLUMNS: tuple[tuple[str, int, str], ...] = (  # header, width, format of the value
    ("flavour", -9, ""), ("seed", 4, ""), ("qwk", 6, ".3f"), ("exact", 6, ".3f"),
    ("grades", 6, ""), ("rel_rep", 7, ".3f"), ("rel_true", 8, ".3f"), ("gap", 7, "+.3f"),
    ("ssr", 6, ".3f"), ("spearman", 8, ".3f"), ("cmp/essay", 9, ".1f"), ("n_cmp", 5, ""),
    ("faults", 6, ""), ("stop", -18, ""), ("secs", 5, ".1f"),
)


def _line(values: list[Any], *, header: bool = False) -> str:
    cells = []
    for (_, width, spec), value in zip(COLUMNS, values, strict=True):
        align = "<" if width < 0 else ">"
        text = str(value) if header else format(value, spec)
        cells.append(format(text, f"{align}{abs(width)}"))
    return " ".join(cells)


def run_one(flavour: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    scenario = build_scenario(seed, n_students=args.students, n_anchors=args.anchors,
                              sd=args.sd, grade_scale=args.scale)
    rate = args.fault_rate
    faults = Faults(rate_limited=rate, server_error=rate, malformed=rate)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cjgrade-truth-") as tmp:
        outcome = run_scenario(scenario, flavour, Path(tmp), seed=seed,  # type: ignore[arg-type]
                               budget=args.budget, belief_noise=args.belief_noise,
                               position_offset=args.position_offset, faults=faults)
    seconds = time.perf_counter() - started
    if outcome.exit_code != 0 or outcome.artefact is None:
        return {"flavour": flavour, "seed": seed, "error": outcome.output[-1000:],
                "exit_code": outcome.exit_code, "secs": seconds}
    figures = score_run(outcome.artefact, scenario).row()
    return {
        "flavour": flavour, "seed": seed, **figures,
        "gap": figures["reported_reliability"] - figures["truth_reliability"],
        "faults": sum(outcome.judge.fault_counts.values()), "secs": seconds,
        "passes": bool(figures["qwk"] >= MIN_QWK and abs(
            figures["reported_reliability"] - figures["truth_reliability"]) <= MAX_GAP),
    }


def _cells(row: dict[str, Any]) -> list[Any]:
    return [row["flavour"], row["seed"], row["qwk"], row["exact"], row["n_distinct_grades"],
            row["reported_reliability"], row["truth_reliability"], row["gap"],
            row["reported_ssr"] if row["reported_ssr"] is not None else math.nan,
            row["spearman"], row["comparisons_per_essay"], row["n_comparisons"], row["faults"],
            row["stop_reason"], row["secs"]]


def print_row(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"{row['flavour']:<9} {row['seed']:>4}  run failed (exit {row['exit_code']}): "
              f"{row['error'].strip().splitlines()[-1] if row['error'].strip() else ''}")
        return
    print(_line(_cells(row)), flush=True)


def print_summary(rows: list[dict[str, Any]]) -> None:
    print("\nmean ± SD over seeds")
    for flavour in dict.fromkeys(r["flavour"] for r in rows):
        ok = [r for r in rows if r["flavour"] == flavour and "error" not in r]
        if not ok:
            print(f"{flavour:<9} every run failed")
            continue
        parts = []
        for key, label in (("qwk", "QWK"), ("reported_reliability", "reported rel"),
                           ("truth_reliability", "truth rel"), ("gap", "gap"),
                           ("spearman", "Spearman"), ("comparisons_per_essay", "cmp/essay")):
            values = np.array([r[key] for r in ok], dtype=np.float64)
            spread = values.std(ddof=1) if len(ok) > 1 else 0.0
            parts.append(f"{label} {values.mean():.3f} ± {spread:.3f}")
        passed = sum(r["passes"] for r in ok)
        print(f"{flavour:<9} " + "; ".join(parts) + f"; targets met {passed}/{len(ok)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--flavours", nargs="+", default=["openai", "anthropic"],
                        choices=["openai", "anthropic"])
    parser.add_argument("--budget", type=int, default=576,
                        help="comparisons (576 = the default 8 per essay over 72 essays)")
    parser.add_argument("--belief-noise", type=float, default=1.0)
    parser.add_argument("--position-offset", type=float, default=0.2)
    parser.add_argument("--fault-rate", type=float, default=0.02,
                        help="rate of each fault: 429, 500, malformed reply")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--anchors", type=int, default=12)
    parser.add_argument("--sd", type=float, default=1.5)
    parser.add_argument("--scale", default="swedish_8_anchor")
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args(argv)
    for flavour in args.flavours:
        try:
            __import__(flavour)
        except ImportError:
            print(f"the {flavour} SDK is not installed: pip install 'cjgrade[{flavour}]'")
            return 2
    print(_line([name for name, _, _ in COLUMNS], header=True), flush=True)
    rows = []
    for flavour in args.flavours:
        for seed in args.seeds:
            row = run_one(flavour, seed, args)
            print_row(row)
            rows.append(row)
    print_summary(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
