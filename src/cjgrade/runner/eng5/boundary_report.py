"""The boundary report of ``--mode boundary-test``: Markdown and artefact section.

One section per caller-specified pair (a higher-graded and a lower-graded anchor), asked
``N`` times in each order. The figures are :func:`cjgrade.stats.boundary.boundary_metrics`:
win rate of the higher grade (soft outcomes counted as their probability) with Wilson's 95 %
interval, hard wins with the exact Clopper-Pearson interval and a binomial test against 50 %,
the first-position win rate with an exact binomial test against 50 %, agreement across
repeats and the mean stated confidence. Every call is listed with its justification.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from cjgrade.display import markdown_text
from cjgrade.stats.boundary import BoundaryDecision, BoundaryMetrics, boundary_metrics
from cjgrade.store.records import ComparisonRecord

__all__ = ["CACHE_NOTE", "SOFT_RULE", "BoundaryPairResult", "boundary_markdown",
           "boundary_section", "pair_result"]

SOFT_RULE = (
    "A verdict enters the win rate of the higher grade as the judge's probability that the "
    "higher-graded essay is better: 1 or 0 for a hard verdict, the probability itself for a "
    "soft one (token log-probabilities or a stated confidence), so a soft 0.7 counts as 0.7 "
    "of a win. Its interval is Wilson's score interval on that fractional count (exact for hard "
    "verdicts, an approximation for soft ones). Hard wins (the essay the judge named), the "
    "exact Clopper-Pearson interval and the binomial tests count named winners only.")
CACHE_NOTE = (
    "Every call was sent to the judge: the boundary test runs without the response cache, "
    "whose key (provider, model, settings, SHA-256 of the rendered request) is the same for "
    "every repeat of a pair and order, so with it a repeat would return the first answer "
    "instead of asking again. The attempts column counts the requests actually sent.")


@dataclass(frozen=True)
class BoundaryPairResult:
    """One pair: who is higher, its calls (records), and the figures of its decisions."""

    higher_id: str
    higher_name: str
    higher_grade: str
    lower_id: str
    lower_name: str
    lower_grade: str
    spec: str
    """The pair as the caller wrote it (``HIGHER:LOWER``)."""
    records: tuple[ComparisonRecord, ...]
    metrics: BoundaryMetrics

    @property
    def n_calls(self) -> int:
        return len(self.records)

    @property
    def n_failed(self) -> int:
        return sum(1 for r in self.records if r.status != "succeeded")

    def verdict(self) -> str:
        """A one-line reading of the figures (95 % level)."""
        m = self.metrics
        if m.n == 0:
            return "no decision: every call failed"
        assert m.hard_win_interval is not None and m.first_position_p_value is not None
        low, high = m.hard_win_interval
        if low > 0.5:
            order = "the judge separates the pair in the expected order"
        elif high < 0.5:
            order = "the judge prefers the LOWER grade (an inversion)"
        else:
            order = f"the judge does not separate the pair at this number of repeats (n = {m.n})"
        if m.first_position_p_value < 0.05:
            order += f"; position bias: the first-shown essay won {m.first_position_wins} of {m.n}"
        return order


def pair_result(higher: tuple[str, str, str], lower: tuple[str, str, str], spec: str,
                records: list[tuple[ComparisonRecord, int, bool]]) -> BoundaryPairResult:
    """The result of one pair from its records, each with its repeat index and whether the
    higher-graded essay was shown first. ``higher``/``lower`` are ``(id, name, grade)``."""
    decisions = []
    for record, repeat, higher_first in records:
        if record.status != "succeeded" or record.p_a is None or record.winner is None:
            continue
        a_won = record.winner == "A"
        decisions.append(BoundaryDecision(
            repeat=repeat, higher_first=higher_first, higher_won=a_won == higher_first,
            p_higher=record.p_a if higher_first else 1.0 - record.p_a,
            confidence=record.confidence))
    return BoundaryPairResult(
        higher_id=higher[0], higher_name=higher[1], higher_grade=higher[2],
        lower_id=lower[0], lower_name=lower[1], lower_grade=lower[2], spec=spec,
        records=tuple(r for r, _, _ in records), metrics=boundary_metrics(decisions))


def _metrics_dict(m: BoundaryMetrics) -> dict[str, Any]:
    out = asdict(m)
    for key in ("win_rate_interval", "hard_win_interval", "confidence_interval"):
        out[key] = list(out[key]) if out[key] is not None else None
    return out


def boundary_section(pairs: list[BoundaryPairResult], *, iterations: int) -> dict[str, Any]:
    """The artefact's ``boundary_test`` section (JSON types only)."""
    return {
        "iterations": iterations,
        "calls_per_pair": 2 * iterations,
        "response_cache": "off",
        "cache_note": CACHE_NOTE,
        "soft_outcomes": SOFT_RULE,
        "level": 0.95,
        "pairs": [
            {
                "spec": p.spec,
                "higher": {"essay_id": p.higher_id, "file_name": p.higher_name,
                           "grade": p.higher_grade},
                "lower": {"essay_id": p.lower_id, "file_name": p.lower_name,
                          "grade": p.lower_grade},
                "n_calls": p.n_calls, "n_failed": p.n_failed,
                "comparison_ids": [r.id for r in p.records],
                "reading": p.verdict(),
                "metrics": _metrics_dict(p.metrics),
            }
            for p in pairs
        ],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _interval(bounds: tuple[float, float] | None, pct: bool = True) -> str:
    if bounds is None:
        return "-"
    low, high = bounds
    return f"[{low:.1%}, {high:.1%}]" if pct else f"[{low:.2f}, {high:.2f}]"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3g}"


def boundary_markdown(pairs: list[BoundaryPairResult], *, label: str, batch_uuid: str,
                      judge: str, iterations: int, generated_at: str) -> str:
    """The report file's text."""
    lines = [
        f"# Boundary test report: {markdown_text(label)}", "",
        f"- Run: `{batch_uuid}`",
        f"- Judge: {markdown_text(judge)}",
        f"- Repeats: {iterations} per order, {2 * iterations} calls per pair",
        f"- Generated: {generated_at}", "",
        CACHE_NOTE, "", SOFT_RULE, "",
        "## Summary", "",
        "| Pair | Decisions (failed) | Win rate of the higher grade [95 % Wilson] | "
        "First-position win rate (p vs 50 %) | Order consistency | Mean confidence |",
        "|---|---|---|---|---|---|",
    ]
    for p in pairs:
        m = p.metrics
        lines.append(
            f"| {_pair_name(p)} | {m.n} ({p.n_failed}) | {_pct(m.win_rate)} "
            f"{_interval(m.win_rate_interval)} | {_pct(m.first_position_rate)} "
            f"(p {_p(m.first_position_p_value)}) | {_pct(m.order_consistency)} | "
            f"{'-' if m.mean_confidence is None else f'{m.mean_confidence:.2f}'} |")
    for p in pairs:
        lines += _pair_section(p)
    return "\n".join(lines) + "\n"


def _pair_name(p: BoundaryPairResult) -> str:
    return (f"{markdown_text(p.higher_name)} ({markdown_text(p.higher_grade)}) vs "
            f"{markdown_text(p.lower_name)} ({markdown_text(p.lower_grade)})")


def _pair_section(p: BoundaryPairResult) -> list[str]:
    m = p.metrics
    conf = ("-" if m.mean_confidence is None else
            f"{m.mean_confidence:.2f} over {m.n_confidence} decision(s) stating one"
            + ("" if m.confidence_interval is None
               else f", 95 % t-interval {_interval(m.confidence_interval, pct=False)}"))
    lines = [
        "", f"## {_pair_name(p)}", "",
        f"Given as `{markdown_text(p.spec)}`. Reading: {markdown_text(p.verdict())}.", "",
        "| Figure | Value |", "|---|---|",
        f"| Calls (succeeded / failed) | {m.n} / {p.n_failed} |",
        f"| Win rate of the higher grade (soft) | {_pct(m.win_rate)} "
        f"{_interval(m.win_rate_interval)} |",
        f"| Hard wins of the higher grade | {m.hard_wins} of {m.n} ({_pct(m.hard_win_rate)}, "
        f"exact {_interval(m.hard_win_interval)}, p vs 50 % {_p(m.hard_win_p_value)}) |",
        f"| Win rate when the higher grade is shown first / second | "
        f"{_pct(m.win_rate_higher_first)} / {_pct(m.win_rate_lower_first)} |",
        f"| First-position win rate (hard) | {m.first_position_wins} of {m.n} "
        f"({_pct(m.first_position_rate)}, exact binomial p vs 50 % "
        f"{_p(m.first_position_p_value)}) |",
        f"| First-position win rate (soft) | {_pct(m.soft_first_position_rate)} |",
        f"| Agreement: decisions naming the majority winner | {_pct(m.modal_agreement)} |",
        f"| Agreement: pairs of same-order repeats agreeing | {_pct(m.pairwise_agreement)} |",
        f"| Order consistency (both orders of a repeat name the same essay) | "
        f"{_pct(m.order_consistency)} of {m.n_repeats_both_orders} repeat(s) |",
        f"| Mean stated confidence (1-5) | {conf} |",
        f"| Soft outcomes present | {'yes' if m.soft else 'no'} |",
        "", "| # | Repeat | Shown first | Winner | P(higher) | Confidence | Attempts | "
        "Justification or error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {p.higher_id: "higher", p.lower_id: "lower"}
    for r in p.records:
        first = names.get(r.essay_a, r.essay_a)
        if r.status != "succeeded" or r.p_a is None:
            lines.append(f"| {r.id} | {r.round} | {first} | failed | - | - | "
                         f"{r.attempts} | {_cell(r.error_reason or r.error_code or r.status)} |")
            continue
        winner_id = r.essay_a if r.winner == "A" else r.essay_b
        p_higher = r.p_a if r.essay_a == p.higher_id else 1.0 - r.p_a
        conf_text = "-" if r.confidence is None else f"{r.confidence:g}"
        lines.append(f"| {r.id} | {r.round} | {first} | {names[winner_id]} | "
                     f"{p_higher:.2f} | {conf_text} | {r.attempts} | "
                     f"{_cell(r.justification or '')} |")
    return lines


def _cell(value: str) -> str:
    return markdown_text(" ".join(str(value).split()))
