"""Soft outcomes in simulation: reliability, coverage, prior variance and cost, per judge.

Runs :func:`cjgrade.stats.simulation.simulate_run` (the statistics the engine runs each
round: empirical-Bayes refit, posterior-sampled reliability, pair selection) for a judge whose
belief is the true difference plus Gaussian noise on the logit scale, and prints per strategy:

- the reported reliability minus the truth-based one (squared correlation of the estimates
  with the true abilities), mean over seeds, at every fifth round from round 3;
- the coverage of the 95% intervals at the same rounds;
- the empirical-Bayes prior variance over the true abilities' variance at round 10
  (10 comparisons per essay);
- comparisons per essay to Spearman 0.9 (mean; unreached runs count as max rounds + 1).

Usage::

    python benchmarks/bench_soft_outcomes.py --outcome logprob --seeds 96
    python benchmarks/bench_soft_outcomes.py --outcome confidence --power 2 --seeds 24
    python benchmarks/bench_soft_outcomes.py --outcome sampled --max-rounds 30 --seeds 24

Figures are recorded in ``docs/benchmarks.md`` and ``docs/decisions/soft-outcomes.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from cjgrade.stats.simulation import Scenario, simulate_run


def run(scenario: Scenario, strategy: str, seeds: range) -> dict[str, object]:
    traces = [simulate_run(scenario, strategy, s, stop_when_reached=False) for s in seeds]
    rounds = sorted({r.round for t in traces for r in t.rounds})
    per_round = {}
    for k in rounds:
        rows = [r for t in traces for r in t.rounds if r.round == k]
        per_round[k] = {
            "gap": float(np.mean([r.reported_reliability - r.truth_reliability for r in rows])),
            "truth": float(np.mean([r.truth_reliability for r in rows])),
            "coverage": float(np.mean([r.coverage for r in rows])),
            "tau2_ratio": float(np.mean([r.prior_variance / r.truth_variance for r in rows])),
        }
    first = [t.first_reaching("spearman", scenario.spearman_target) for t in traces]
    to_rho = [scenario.max_rounds + 1.0 if math.isnan(f) else f for f in first]
    return {
        "strategy": strategy,
        "seeds": len(traces),
        "to_spearman_mean": float(np.mean(to_rho)),
        "to_spearman_median": float(np.median(to_rho)),
        "unreached": int(sum(math.isnan(f) for f in first)),
        "rounds": per_round,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outcome", default="logprob")
    parser.add_argument("--power", type=float, default=1.0)
    parser.add_argument("--belief-noise", type=float, default=1.0)
    parser.add_argument("--essays", type=int, default=60)
    parser.add_argument("--sd", type=float, default=1.5)
    parser.add_argument("--seeds", type=int, default=96)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--max-rounds", type=int, default=25)
    parser.add_argument("--strategies", default="random,default")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    scenario = Scenario(
        n_essays=args.essays, sd=args.sd, outcome=args.outcome, belief_noise=args.belief_noise,
        power=args.power, max_rounds=args.max_rounds,
    )
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = []
    for strategy in args.strategies.split(","):
        start = time.perf_counter()
        res = run(scenario, strategy, seeds)
        res["seconds"] = time.perf_counter() - start
        results.append(res)
        print(f"{args.outcome} (power {args.power}, belief noise {args.belief_noise}), "
              f"{strategy}, {res['seeds']} seeds, {res['seconds']:.0f} s: to Spearman 0.9 "
              f"mean {res['to_spearman_mean']:.2f} median {res['to_spearman_median']:.1f} "
              f"(unreached {res['unreached']})")
        rounds = res["rounds"]
        assert isinstance(rounds, dict)
        for k in range(3, args.max_rounds + 1, 5):
            if k in rounds:
                r = rounds[k]
                print(f"  round {k:2d}: reported - truth {r['gap']:+.3f} (truth {r['truth']:.3f})"
                      f", coverage {r['coverage']:.3f}, tau2/truth {r['tau2_ratio']:.3f}")
        if 10 in rounds:
            print(f"  round 10: tau2/truth {rounds[10]['tau2_ratio']:.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"scenario": vars(args), "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
