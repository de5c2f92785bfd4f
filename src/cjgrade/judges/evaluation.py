"""Evaluate a judge against human scores: CJ on a sample of each essay set, then QWK/Spearman.

For each essay set (prompt) of a dataset with human scores (ASAP-AES layout: ``essay_id,
essay_set, essay, domain1_score``, optionally ``rater1_domain1, rater2_domain1``): sample
essays, pair them in random rounds so each meets about ``C`` others, judge every pair, fit
Bradley-Terry to the soft outcomes, map the abilities onto the sample's human score
distribution (quantile matching) and compare: quadratic weighted kappa and Spearman's rho. The
two human raters' own QWK on the same sample is reported as a ceiling when both are present.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cjgrade.errors import InputError, JudgeError
from cjgrade.judges.base import Judge, JudgeRequest, Verdict
from cjgrade.stats.agreement import (
    map_to_score_distribution,
    quadratic_weighted_kappa,
    spearman_rho,
)
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry

__all__ = [
    "ScoredEssay",
    "SetResult",
    "evaluate_judge",
    "evaluate_set",
    "load_scored_essays",
    "schedule_pairs",
]

REQUIRED_COLUMNS = ("essay_id", "essay_set", "essay", "domain1_score")
EVAL_INSTRUCTIONS = (
    "Both essays answer the same writing task. Judge which one a trained teacher would give "
    "the higher holistic score: content, organisation, style and conventions."
)


@dataclass(frozen=True)
class ScoredEssay:
    """An essay with its human score(s)."""

    essay_id: str
    essay_set: int
    text: str
    score: int
    rater1: int | None = None
    rater2: int | None = None


@dataclass(frozen=True)
class SetResult:
    """Agreement on one essay set."""

    essay_set: int
    n_essays: int
    n_comparisons: int
    n_failed: int
    qwk: float
    spearman: float
    human_qwk: float | None
    """QWK between the two human raters on the same sample (a ceiling), when available."""
    score_min: int
    score_max: int


def _int_or_none(value: str | None) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


def load_scored_essays(path: str | Path) -> list[ScoredEssay]:
    """Read a TSV (``.tsv``/``.tab``) or CSV file of scored essays.

    Raises
    ------
    InputError
        Missing file, missing columns (named), or a row with a non-integer set or score.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"dataset {file} does not exist")
    delimiter = "\t" if file.suffix.lower() in {".tsv", ".tab"} else ","
    csv.field_size_limit(sys.maxsize)
    essays: list[ScoredEssay] = []
    with file.open(encoding="utf-8", errors="strict", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                f"dataset {file} lacks columns {missing}; expected at least "
                f"{', '.join(REQUIRED_COLUMNS)} (the ASAP-AES layout)"
            )
        for line, row in enumerate(reader, start=2):
            essay_set = _int_or_none(row["essay_set"])
            score = _int_or_none(row["domain1_score"])
            if essay_set is None or score is None:
                raise InputError(f"{file}:{line}: essay_set and domain1_score must be integers")
            essays.append(ScoredEssay(row["essay_id"], essay_set, row["essay"], score,
                                      _int_or_none(row.get("rater1_domain1")),
                                      _int_or_none(row.get("rater2_domain1"))))
    if not essays:
        raise InputError(f"dataset {file} has no essays")
    return essays


def schedule_pairs(n: int, comparisons_per_essay: int,
                   rng: np.random.Generator) -> list[tuple[int, int]]:
    """Random rounds of disjoint pairs: each essay takes part in about one pair per round.

    With ``n`` odd a different essay sits out each round. Order within a pair is random, so A/B
    positions are balanced on average.
    """
    if n < 2 or comparisons_per_essay < 1:
        raise InputError("need at least 2 essays and 1 comparison per essay")
    pairs: list[tuple[int, int]] = []
    for _ in range(comparisons_per_essay):
        perm = rng.permutation(n)
        pairs.extend((int(perm[k]), int(perm[k + 1])) for k in range(0, n - 1, 2))
    return pairs


def make_request(essay_set: int, text_a: str, text_b: str) -> JudgeRequest:
    """The comparison request used by the evaluation (no essay ids, only texts)."""
    return JudgeRequest(
        system_prompt="",
        student_prompt=f"Essay set {essay_set} of the ASAP-AES collection (prompt not shown).",
        instructions=EVAL_INSTRUCTIONS,
        rubric="",
        essay_a=text_a,
        essay_b=text_b,
    )


async def _judge_one(judge: Judge, request: JudgeRequest) -> Verdict | JudgeError:
    try:
        return await judge.judge(request)
    except JudgeError as exc:
        return exc


async def _judge_all(judge: Judge,
                     requests: Sequence[JudgeRequest]) -> list[Verdict | JudgeError]:
    """Judge every request; the first alone, so a rejected key, an exhausted quota or an
    unknown served model (errors that retrying cannot fix) stops the evaluation after one
    call instead of failing every comparison."""
    if not requests:
        return []
    first = await _judge_one(judge, requests[0])
    if isinstance(first, JudgeError) and not first.retryable:
        raise first
    many = getattr(judge, "judge_many", None)
    if callable(many):
        rest = list(await many(requests[1:]))
    else:
        rest = [await _judge_one(judge, request) for request in requests[1:]]
    return [first, *rest]


async def evaluate_set(judge: Judge, essays: Sequence[ScoredEssay], *,
                       comparisons_per_essay: int, rng: np.random.Generator,
                       alpha: float = 0.1) -> SetResult:
    """CJ with ``judge`` on ``essays`` (one set) and agreement with their human scores."""
    n = len(essays)
    pairs = schedule_pairs(n, comparisons_per_essay, rng)
    set_id = essays[0].essay_set
    requests = [make_request(set_id, essays[i].text, essays[j].text) for i, j in pairs]
    outcomes = await _judge_all(judge, requests)
    done = [(pair, v) for pair, v in zip(pairs, outcomes, strict=True) if isinstance(v, Verdict)]
    if not done:
        first_error = next(v for v in outcomes if isinstance(v, JudgeError))
        raise JudgeError(f"essay set {set_id}: every comparison failed; the first error: "
                         f"{first_error}")
    data = PairwiseData.build(n, [p[0] for p, _ in done], [p[1] for p, _ in done],
                              [v.p_a for _, v in done],
                              soft=[0.0 < v.p_a < 1.0 for _, v in done])
    theta = fit_bradley_terry(data, alpha=alpha).theta
    human = np.array([e.score for e in essays], dtype=np.float64)
    mapped = map_to_score_distribution(theta, human)
    low, high = int(human.min()), int(human.max())
    qwk = quadratic_weighted_kappa(mapped, human, min_rating=low, max_rating=high)
    raters = [(e.rater1, e.rater2) for e in essays if e.rater1 is not None and e.rater2 is not None]
    human_qwk = None
    if len(raters) == n:
        r1 = [r[0] for r in raters]
        r2 = [r[1] for r in raters]
        human_qwk = quadratic_weighted_kappa(r1, r2)
    return SetResult(set_id, n, len(done), len(pairs) - len(done), qwk,
                     spearman_rho(theta, human), human_qwk, low, high)


def sample_sets(essays: Iterable[ScoredEssay], *, sets: Sequence[int] | None, sample: int,
                seed: int) -> dict[int, list[ScoredEssay]]:
    """Up to ``sample`` essays of each requested set, drawn with a per-set seeded generator."""
    by_set: dict[int, list[ScoredEssay]] = defaultdict(list)
    for essay in essays:
        by_set[essay.essay_set].append(essay)
    wanted = sorted(by_set) if not sets else list(sets)
    absent = [s for s in wanted if s not in by_set]
    if absent:
        raise InputError(f"essay sets {absent} are not in the dataset (it has {sorted(by_set)})")
    if sample < 2:
        raise InputError("--sample must be at least 2")
    out: dict[int, list[ScoredEssay]] = {}
    for set_id in wanted:
        pool = by_set[set_id]
        rng = np.random.default_rng([seed, set_id])
        take = rng.choice(len(pool), size=min(sample, len(pool)), replace=False)
        out[set_id] = [pool[int(i)] for i in sorted(take)]
    return out


async def evaluate_judge(judge: Judge, essays: Sequence[ScoredEssay], *,
                         sets: Sequence[int] | None = None, sample: int = 40,
                         comparisons_per_essay: int = 10, seed: int = 0,
                         alpha: float = 0.1) -> list[SetResult]:
    """Evaluate ``judge`` on each set (all sets by default); see the module docstring."""
    results = []
    for set_id, chosen in sample_sets(essays, sets=sets, sample=sample, seed=seed).items():
        rng = np.random.default_rng([seed, set_id, 1])
        results.append(await evaluate_set(
            judge, chosen, comparisons_per_essay=comparisons_per_essay, rng=rng, alpha=alpha))
    return results
