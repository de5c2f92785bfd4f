"""Benchmark: the whole ASAP table of ``cjgrade eval`` and the pipeline targets of issue 13.

Run:  .venv/bin/python benchmarks/bench_eval_asap.py [--judges heuristic] [--seeds 1]
      [--students 40] [--anchors-per-level 2] [--out DIR]

Reads ``../shared/data/asap/asap_fold0.tsv`` (relative to the repository; exits with a message
when it is absent) and runs the evaluation exactly as ``cjgrade eval`` does (same planning,
batches through the engine, figures and report), for every one of the eight sets.

1. Time: the whole table with the heuristic judge (default), wall clock and CPU time, with
   the machine's load average before and after (the target, under 10 minutes on two cores,
   is read against it). Target: under 600 s.
2. Pipeline targets (``--judges scores``: ``sim/scores``, belief noise 1.0, soft outcomes, 40
   students, 2 anchors per level): per set, |QWK of projected grades - QWK of the nearest
   anchor on a plain refit| <= 0.1 (or the projected grades better), and |reported
   reliability - truth-based reliability| <= 0.1. Printed per set and seed with PASS/FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from cjgrade.evaluation.datasets import load_dataset
from cjgrade.evaluation.plan import plan_evaluation, run_plan
from cjgrade.evaluation.report import markdown_table, summarise
from cjgrade.evaluation.run import JudgeSetup

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "asap" / "asap_fold0.tsv"
TIME_TARGET_S = 600.0
GAP_TARGET = 0.1


def _n(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", default="heuristic",
                        help="baselines to run, comma-separated (heuristic, scores, random, "
                             "length)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--anchors-per-level", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write eval.json and eval.md")
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"skipped: real data not available ({DATA.resolve()} is absent)")
        return 0
    load_before = os.getloadavg()
    wall, cpu = time.perf_counter(), time.process_time()
    setups = [JudgeSetup.baseline(k.strip()) for k in args.judges.split(",") if k.strip()]
    plan = plan_evaluation(load_dataset(DATA), setups, sets=None, students=args.students,
                           anchors_per_level=args.anchors_per_level, seeds=args.seeds)
    figures, stopped = asyncio.run(run_plan(plan))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load_after = os.getloadavg()
    doc = summarise(figures, meta={"dataset": str(DATA), "students": args.students,
                                   "anchors_per_level": args.anchors_per_level,
                                   "seeds": list(plan.seeds), "sets": list(plan.sets),
                                   "judges": [s.label for s in setups], "stopped": stopped})
    print(markdown_table(doc))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "eval.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
        (args.out / "eval.md").write_text(markdown_table(doc), encoding="utf-8")
    print(f"batches: {len(plan.jobs)}; wall {wall:.1f} s, CPU {cpu:.1f} s (this process), "
          f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) before "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{', '.join(f'{x:.2f}' for x in load_after)}")
    ok = stopped is None and wall < TIME_TARGET_S
    print(f"time target (< {TIME_TARGET_S:.0f} s): {'PASS' if wall < TIME_TARGET_S else 'FAIL'}")
    if any(s.kind == "scores" for s in setups):
        for f in figures:
            if not f.judge.startswith("sim/scores"):
                continue
            qwk_gap = (None if f.qwk is None or f.nearest_anchor_qwk is None
                       else f.qwk - f.nearest_anchor_qwk)
            rel_gap = (None if f.reliability is None or f.truth_reliability is None
                       else f.reliability - f.truth_reliability)
            good = (qwk_gap is not None and qwk_gap >= -GAP_TARGET and rel_gap is not None
                    and abs(rel_gap) <= GAP_TARGET)
            ok = ok and good
            print(f"set {f.essay_set} seed {f.seed}: QWK {_n(f.qwk)} vs nearest anchor "
                  f"{_n(f.nearest_anchor_qwk)} (gap {_n(qwk_gap, '+.3f')}); reliability "
                  f"{_n(f.reliability)} vs truth {_n(f.truth_reliability)} "
                  f"(gap {_n(rel_gap, '+.3f')}): {'PASS' if good else 'FAIL'}")
    if stopped:
        print(f"stopped early: {stopped}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
