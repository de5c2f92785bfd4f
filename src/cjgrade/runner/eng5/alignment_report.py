"""The anchor alignment report of ``--mode anchor-align-test``: Markdown and artefact section.

Built from a finished anchor-only batch (:class:`~cjgrade.engine.results.BatchResult`) and
the prompts it sent. The figures come from :mod:`cjgrade.stats.alignment` and
:mod:`cjgrade.stats.rank_agreement`:

- Kendall's tau-b between expert grade and fitted ability (with its p-value and the largest
  value the tied grades allow), and the original system's tau (a tau-a over untied ranks,
  tied grades taken in fitted order), so a figure can be set beside the original's recorded
  runs;
- direct inversions: every decision a lower-graded anchor won against a higher-graded one,
  with the winner's justification in full;
- zero-win anchors, split into the expected one(s) (the lowest grade: in a correctly ordered
  round robin the lowest anchor loses every comparison) and the problems (any higher grade);
- per anchor: grade, wins, losses, theta, SE, fitted rank and expected rank;
- the prompts used (system prompt and rubric texts, with their sources and SHA-256);
- every comparison with its full justification (what the original's DB diagnostic report
  listed).

Wins and losses are decisions between anchors that succeeded: the side the judge's
probability favours wins (a soft verdict of 0.7 for A is a win for A); a verdict of exactly
0.5 counts for neither side. Outside text (file names, justifications, prompts) is made inert
for Markdown (:func:`cjgrade.display.markdown_text`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from cjgrade.display import markdown_text, printable
from cjgrade.engine.results import BatchResult, EssayOutcome
from cjgrade.scales import GradeScale, grade_index
from cjgrade.stats.alignment import AnchorAlignment, anchor_alignment, meets_alignment_targets
from cjgrade.stats.rank_agreement import original_expected_ranks, original_tau_a
from cjgrade.store.records import ComparisonRecord

__all__ = ["AlignmentReport", "PromptRecord", "build_alignment_report"]

MIN_TAU_B = 0.90
MAX_INVERSION_PAIRS = 1
MAX_PROBLEM_ZERO_WIN = 0
TARGETS: dict[str, float | int] = {"min_tau_b": MIN_TAU_B,
                                   "max_inversion_pairs": MAX_INVERSION_PAIRS,
                                   "max_problem_zero_win": MAX_PROBLEM_ZERO_WIN}
"""The targets set after the original's batch-108 analysis, with the zero-win target fixed:
only zero-win anchors above the lowest grade count."""


@dataclass(frozen=True)
class PromptRecord:
    """One prompt text as sent, with its source (a file, ``default`` or ``none``)."""

    source: str
    text: str
    sha256: str | None = None


@dataclass(frozen=True)
class _Decision:
    comparison: ComparisonRecord
    winner: str
    loser: str


@dataclass(frozen=True)
class AlignmentReport:
    """The report of one anchor alignment test: :meth:`section` for the artefact,
    :meth:`markdown` for the file."""

    result: BatchResult
    anchors: tuple[EssayOutcome, ...]
    grade_idx: tuple[int, ...]
    alignment: AnchorAlignment
    tau_original: float | None
    expected_rank_original: tuple[int, ...]
    decisions: tuple[_Decision, ...]
    prompts: dict[str, PromptRecord | None]
    label: str

    # --- derived ------------------------------------------------------------------------

    def _name(self, k: int) -> str:
        essay = self.anchors[k]
        return essay.file_name or essay.essay_id

    def _index(self) -> dict[str, int]:
        return {e.essay_id: k for k, e in enumerate(self.anchors)}

    def inversions(self) -> list[dict[str, Any]]:
        """Every decision won by the lower-graded anchor, in comparison order."""
        index = self._index()
        out = []
        for d in self.decisions:
            w, lo = index[d.winner], index[d.loser]
            if self.grade_idx[w] >= self.grade_idx[lo]:
                continue
            c = d.comparison
            p_a = c.p_a if c.p_a is not None else math.nan
            out.append({
                "comparison_id": c.id,
                "higher": self.anchors[lo].essay_id, "higher_grade": self.anchors[lo].anchor_grade,
                "winner": self.anchors[w].essay_id, "winner_grade": self.anchors[w].anchor_grade,
                "winner_position": "A" if c.essay_a == d.winner else "B",
                "p_winner": p_a if c.essay_a == d.winner else 1.0 - p_a,
                "confidence": c.confidence, "justification": c.justification or "",
            })
        return out

    @property
    def cache_hits(self) -> int:
        """Verdicts answered from the response cache (an identical earlier request)."""
        return sum(1 for c in self.result.comparisons if "cached" in c.flags)

    @property
    def meets_targets(self) -> bool:
        return meets_alignment_targets(
            self.alignment, min_tau=MIN_TAU_B, max_inversion_pairs=MAX_INVERSION_PAIRS,
            max_zero_win=MAX_PROBLEM_ZERO_WIN)

    def anchor_rows(self) -> list[dict[str, Any]]:
        """Per anchor, ordered by expected rank (grade, then fitted order)."""
        al = self.alignment
        rows = []
        for k, e in enumerate(self.anchors):
            rate = float(al.win_rate[k])
            rows.append({
                "essay_id": e.essay_id, "file_name": e.file_name, "grade": e.anchor_grade,
                "wins": int(al.wins[k]), "losses": int(al.losses[k]),
                "win_rate": rate if math.isfinite(rate) else None,
                "theta": e.theta, "se": e.se, "fitted_rank": int(al.fitted_rank[k]),
                "expected_rank": self.expected_rank_original[k],
                "zero_win": k in al.zero_win_anchors,
                "problem_zero_win": k in al.problem_zero_win_anchors,
            })
        return sorted(rows, key=lambda r: r["expected_rank"])

    # --- artefact -----------------------------------------------------------------------

    def section(self) -> dict[str, Any]:
        """The artefact's ``anchor_alignment`` section (JSON types only)."""
        al = self.alignment
        ids = [e.essay_id for e in self.anchors]
        return {
            "label": self.label,
            "batch_uuid": self.result.batch_uuid,
            "status": self.result.status,
            "judge": self.result.judge,
            "n_anchors": al.n_anchors,
            "n_comparisons": self.result.n_succeeded,
            "n_failed": self.result.n_failed,
            "n_cache_hits": self.cache_hits,
            "n_anchor_pairs": al.n_anchors * (al.n_anchors - 1) // 2,
            "n_pairs_compared": len({frozenset((d.winner, d.loser)) for d in self.decisions}),
            "kendall_tau_b": _finite(al.kendall_tau_b),
            "kendall_tau_b_p_value": _finite(al.kendall_p_value),
            "kendall_tau_b_max": al.kendall_tau_b_max,
            "kendall_tau_original": _finite(self.tau_original),
            "kendall_tau_original_definition": (
                "tau-a (C - D) / (n(n-1)/2) over untied ranks: fitted rank, and the expected "
                "rank of a stable grade sort of the fitted order (the original's report)"),
            "direct_inversion_pairs": al.n_inversion_pairs,
            "inversion_decisions": al.inversion_decisions,
            "inversion_pairs": [[ids[w], ids[lo]] for w, lo in al.inversion_pairs],
            "inversions": self.inversions(),
            "zero_win_anchors": [ids[i] for i in al.zero_win_anchors],
            "problem_zero_win_anchors": [ids[i] for i in al.problem_zero_win_anchors],
            "uncompared_anchors": [ids[i] for i in al.uncompared_anchors],
            "targets": dict(TARGETS),
            "meets_targets": self.meets_targets,
            "anchors": self.anchor_rows(),
            "prompts": {k: None if v is None else {"source": v.source, "sha256": v.sha256,
                                                   "text": v.text}
                        for k, v in self.prompts.items()},
        }

    # --- Markdown -----------------------------------------------------------------------

    def markdown(self, generated_at: str) -> str:
        """The report file's text."""
        return "\n".join([*self._md_summary(generated_at), *self._md_anchors(),
                          *self._md_inversions(), *self._md_zero_win(), *self._md_prompts(),
                          *self._md_comparisons()]) + "\n"

    def _md_summary(self, generated_at: str) -> list[str]:
        al, r = self.alignment, self.result
        zero = len(al.zero_win_anchors)
        problems = len(al.problem_zero_win_anchors)
        n_pairs = al.n_anchors * (al.n_anchors - 1) // 2
        compared = len({frozenset((d.winner, d.loser)) for d in self.decisions})
        lines = [
            f"# Anchor alignment report: {markdown_text(self.label)}", "",
            f"- Batch: `{r.batch_uuid}` ({markdown_text(r.status)}, stop: "
            f"{markdown_text(r.stop_reason)})",
            f"- Judge: {markdown_text(r.judge)}",
            f"- Generated: {generated_at}", "",
            "## Summary", "",
            "| Metric | Value |", "|---|---|",
            f"| Anchors | {al.n_anchors} |",
            f"| Comparisons (succeeded / failed) | {r.n_succeeded} / {r.n_failed} |",
            f"| Verdicts from the response cache (asked in an earlier run, not again) | "
            f"{self.cache_hits} |",
            f"| Anchor pairs judged | {compared} of {n_pairs} |",
            f"| Kendall's tau-b (grade vs fitted theta) | {_num(al.kendall_tau_b)} "
            f"(p {_pvalue(al.kendall_p_value)}; best possible with these tied grades "
            f"{al.kendall_tau_b_max:.3f}) |",
            f"| Kendall's tau, the original's form (tau-a) | {_num(self.tau_original)} |",
            f"| Direct inversions (anchor pairs / decisions) | {al.n_inversion_pairs} / "
            f"{al.inversion_decisions} |",
            f"| Zero-win anchors (of which above the lowest grade) | {zero} ({problems}) |",
            f"| Anchors never compared | {len(al.uncompared_anchors)} |",
            f"| Meets the targets | {'yes' if self.meets_targets else 'no'} |",
            "",
            f"Targets: tau-b >= {MIN_TAU_B:.2f}, at most "
            f"{MAX_INVERSION_PAIRS} inverted anchor pair, no zero-win anchor above "
            "the lowest grade (the lowest anchor of a correctly ordered round robin never wins). "
            "The original's tau is shown so figures compare with its recorded runs; tau-b "
            "treats tied grades as ties, so it is lower for the same order.",
        ]
        if n_pairs and compared < n_pairs:
            lines += ["", f"**Not every anchor pair was judged** ({compared} of {n_pairs}): "
                      "the budget (--max-comparisons) was below a full round robin."]
        if r.status != "completed":
            lines += ["", f"**The batch {markdown_text(r.status)}**: "
                      f"{markdown_text(r.failure_reason or r.stop_reason)}; the figures cover "
                      "only the comparisons that succeeded."]
        return lines

    def _md_anchors(self) -> list[str]:
        lines = ["", "## Per-anchor results", "",
                 "| Expected rank | Anchor | Grade | Wins | Losses | Win rate | Theta | SE | "
                 "Fitted rank |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for row in self.anchor_rows():
            mark = " (zero wins, above the lowest grade)" if row["problem_zero_win"] else \
                " (zero wins)" if row["zero_win"] else ""
            rate = "-" if row["win_rate"] is None else f"{row['win_rate']:.0%}"
            lines.append(
                f"| {row['expected_rank']} | {markdown_text(row['file_name'] or row['essay_id'])}"
                f"{mark} | {markdown_text(row['grade'])} | {row['wins']} | {row['losses']} | "
                f"{rate} | {row['theta']:.3f} | {row['se']:.3f} | {row['fitted_rank']} |")
        return lines

    def _md_inversions(self) -> list[str]:
        found = self.inversions()
        if not found:
            return ["", "## Direct inversions", "", "None: no lower-graded anchor won against "
                    "a higher-graded one."]
        names = {e.essay_id: e.file_name or e.essay_id for e in self.anchors}
        lines = ["", "## Direct inversions", "",
                 f"{len(found)} decision(s) won by the lower-graded anchor, with the winning "
                 "justification.", "",
                 "| Comparison | Higher grade (lost) | Lower grade (won) | Winner shown | "
                 "P(winner) | Confidence | Justification |",
                 "|---|---|---|---|---|---|---|"]
        for inv in found:
            lines.append(
                f"| {inv['comparison_id']} | {markdown_text(names[inv['higher']])} "
                f"({markdown_text(inv['higher_grade'])}) | {markdown_text(names[inv['winner']])} "
                f"({markdown_text(inv['winner_grade'])}) | {inv['winner_position']} | "
                f"{_num(inv['p_winner'], 2)} | {_num(inv['confidence'], 0)} | "
                f"{_cell(inv['justification'])} |")
        return lines

    def _md_zero_win(self) -> list[str]:
        al = self.alignment
        if not al.zero_win_anchors:
            return []
        expected = [self._name(i) for i in al.zero_win_anchors
                    if i not in al.problem_zero_win_anchors]
        problems = [self._name(i) for i in al.problem_zero_win_anchors]
        lines = ["", "## Zero-win anchors", ""]
        if expected:
            lines.append(f"- Lowest grade, expected: {', '.join(map(markdown_text, expected))}")
        if problems:
            lines.append("- **Above the lowest grade, a problem**: "
                         f"{', '.join(map(markdown_text, problems))}")
        return lines

    def _md_prompts(self) -> list[str]:
        lines = ["", "## Prompts used", ""]
        titles = {"system_prompt": "System prompt", "rubric": "Rubric",
                  "student_prompt": "Student prompt", "instructions": "Instructions"}
        for key, record in self.prompts.items():
            title = titles.get(key, key)
            if record is None:
                lines += [f"### {title}", "", "(none sent)", ""]
                continue
            sha = f", SHA-256 `{record.sha256}`" if record.sha256 else ""
            lines += [f"### {title}", "", f"Source: {markdown_text(record.source)}{sha}", "",
                      *_fenced(record.text), ""]
        return lines

    def _md_comparisons(self) -> list[str]:
        names = {e.essay_id: e.file_name or e.essay_id for e in self.anchors}
        grades = {e.essay_id: e.anchor_grade for e in self.anchors}
        lines = ["## All comparisons (full justifications)", "",
                 "| # | Round | A (shown first) | B | Winner | Winner grade | Loser grade | P(A) | "
                 "Confidence | Justification or error |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for c in self.result.comparisons:
            a, b = names.get(c.essay_a, c.essay_a), names.get(c.essay_b, c.essay_b)
            if c.status != "succeeded":
                reason = c.error_reason or c.error_code or c.status
                lines.append(f"| {c.id} | {c.round} | {markdown_text(a)} | "
                             f"{markdown_text(b)} | {markdown_text(c.status)} | - | - | - | - | "
                             f"{_cell(reason)} |")
                continue
            winner, loser = _winner(c)
            shown = "tie (0.5)" if winner is None else markdown_text(names.get(winner, winner))
            lines.append(
                f"| {c.id} | {c.round} | {markdown_text(a)} | {markdown_text(b)} | "
                f"{shown} | {markdown_text(grades.get(winner or '', '-'))} | "
                f"{markdown_text(grades.get(loser or '', '-'))} | {_num(c.p_a, 2)} | "
                f"{_num(c.confidence, 0)} | {_cell(c.justification or '')} |")
        return lines


def _winner(c: ComparisonRecord) -> tuple[str | None, str | None]:
    """``(winner id, loser id)`` of a succeeded comparison by its probability; (None, None) for
    an exact 0.5."""
    if c.p_a is None or c.p_a == 0.5:
        return None, None
    return (c.essay_a, c.essay_b) if c.p_a > 0.5 else (c.essay_b, c.essay_a)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _pvalue(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2g}"


def _cell(value: str) -> str:
    """A justification in one table cell: whitespace runs (newlines too) become one space."""
    return markdown_text(" ".join(str(value).split()))


def _fenced(value: str) -> list[str]:
    """A code block that the text cannot close: the fence is longer than any backtick run."""
    shown = printable(value, keep_newlines=True)
    runs = [len(m) for m in re.findall(r"`+", shown)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence, shown, fence]


def build_alignment_report(
    result: BatchResult,
    scale: GradeScale,
    *,
    prompts: dict[str, PromptRecord | None],
    label: str,
) -> AlignmentReport:
    """The report of a finished anchor-only batch.

    Raises
    ------
    cjgrade.errors.InputError
        Fewer than two anchors, or an anchor grade not on ``scale``.
    """
    anchors = result.anchors
    grade_idx = tuple(grade_index(scale, str(e.anchor_grade)) for e in anchors)
    local = {e.essay_id: k for k, e in enumerate(anchors)}
    decisions = []
    for c in result.comparisons:
        if c.status != "succeeded":
            continue
        winner, loser = _winner(c)
        if winner is None or loser is None or winner not in local or loser not in local:
            continue
        decisions.append(_Decision(c, winner, loser))
    theta = [e.theta for e in anchors]
    al = anchor_alignment(grade_idx, theta, [local[d.winner] for d in decisions],
                          [local[d.loser] for d in decisions])
    _, expected = original_expected_ranks(grade_idx, theta)
    return AlignmentReport(
        result=result, anchors=anchors, grade_idx=grade_idx, alignment=al,
        tau_original=original_tau_a(grade_idx, theta),
        expected_rank_original=tuple(int(x) for x in expected),
        decisions=tuple(decisions), prompts=prompts, label=label,
    )
