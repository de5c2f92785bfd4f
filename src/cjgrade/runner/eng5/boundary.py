"""``--mode boundary-test``: caller-specified anchor pairs, each asked ``N`` times in both
orders, with a boundary report per pair (:mod:`cjgrade.runner.eng5.boundary_report`).

``--boundary-pairs "HIGHER:LOWER,..."`` names anchors of the input folder. A name matches an
anchor when it is, in this order of preference, its essay id (``anchor:`` + file stem), its
file name, its ``ANCHOR-ID`` in the ENG5 CSV, its file stem, or the end of its stem after an
``_`` (so the original's example ``003_E-:001_F+`` names
``anchor_essay_eng_5_17_vt_003_E-.docx``). A name that matches no
anchor, or more than one at the same level, is an error listing the candidates; so are a pair
naming one anchor twice, a pair whose HIGHER anchor does not have the higher grade (equal
grades included) and the same two anchors given twice. ``--boundary-iterations N`` (N >= 1,
default 10) gives ``2N`` judge calls per pair: N with the higher-graded essay shown first, N
with it shown second, interleaved by repeat. All checks run before any judge call.

Every call goes through the judge runtime (retries, rate limits, circuit breaker, cost) via the
engine's in-process dispatcher, with the batch's judge settings; a failed call is recorded with
its reason and left out of the figures. The response cache is off for this mode: its key is the
same for every repeat of a pair and order, and a repeat must really ask again.

Outputs in ``<output_dir>/<batch_uuid>/``: ``boundary_report.md`` and
``assessment_run.boundary-test.json`` (every call in ``comparisons``; the figures in
``runner.boundary_test``). Exit code: OK, or SERVICE_FAILURE when a pair got no decision or the
share of successful calls is below the batch option ``min_success_rate`` (0.8); the report is
written either way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cjgrade.display import printable
from cjgrade.engine.dispatch import ComparisonOutcome, ComparisonTask, InProcessDispatcher
from cjgrade.engine.progress import Progress, ProgressListener
from cjgrade.engine.results import BatchResult, CostLine, GradesSection
from cjgrade.errors import ConfigError, InputError
from cjgrade.judges.base import Judge
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.align import prepare_anchor_only
from cjgrade.runner.eng5.boundary_report import (
    BoundaryPairResult,
    boundary_markdown,
    boundary_section,
    pair_result,
)
from cjgrade.runner.eng5.prepare import Prepared
from cjgrade.runner.eng5.settings import Eng5Settings
from cjgrade.runner.inputs import InputEssay
from cjgrade.store.records import ComparisonRecord

__all__ = ["REPORT_FILE", "BoundaryCall", "BoundaryPair", "plan_calls", "resolve_anchor",
           "resolve_pairs", "run", "run_boundary"]

REPORT_FILE = "boundary_report.md"

BoundaryJudgeBuilder = Callable[[str, str | None], Judge]
"""``(judge name, base_url) -> judge`` without a response cache."""


@dataclass(frozen=True)
class BoundaryPair:
    """A resolved pair: the higher- and the lower-graded anchor, as the caller wrote it."""

    higher: InputEssay
    lower: InputEssay
    spec: str


@dataclass(frozen=True)
class BoundaryCall:
    """One planned judge call: pair index, repeat, and which essay is shown first."""

    comparison_id: int
    pair: int
    repeat: int
    higher_first: bool
    essay_a: str
    essay_b: str


def _stem(essay: InputEssay) -> str:
    return essay.essay_id.removeprefix("anchor:")


def resolve_anchor(name: str, anchors: Sequence[InputEssay],
                   anchor_ids: Mapping[str, str] | None = None) -> InputEssay:
    """The anchor ``name`` refers to (see the module docstring for the matching rules);
    ``anchor_ids`` maps essay ids to the ENG5 CSV's ``ANCHOR-ID``.

    Raises
    ------
    InputError
        No anchor matches, or several match equally well (the message lists them).
    """
    ids = anchor_ids or {}
    levels: list[Callable[[InputEssay], bool]] = [
        lambda e: e.essay_id == name,
        lambda e: e.file_name == name,
        lambda e: ids.get(e.essay_id) == name,
        lambda e: _stem(e) == name,
        lambda e: _stem(e).endswith("_" + name),
    ]
    for matches in levels:
        found = [e for e in anchors if matches(e)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            listed = ", ".join(printable(e.file_name) for e in found[:6])
            raise InputError(f"--boundary-pairs: {printable(name)!r} matches {len(found)} anchors "
                             f"({listed}); write more of the file name")
    known = ", ".join(printable(_stem(e)) for e in anchors[:15])
    more = f" and {len(anchors) - 15} more" if len(anchors) > 15 else ""
    raise InputError(f"--boundary-pairs: no anchor is called {printable(name)!r}; the anchors "
                     f"are {known}{more} (a file name, its ANCHOR-ID in the CSV, its stem, or "
                     "the end of the stem after an underscore, e.g. 003_E-)")


def resolve_pairs(pairs: Sequence[tuple[str, str]], anchors: Sequence[InputEssay],
                  grade_rank: Callable[[str], int],
                  anchor_ids: Mapping[str, str] | None = None) -> list[BoundaryPair]:
    """Resolve and check every pair; every problem is reported at once.

    ``grade_rank`` maps a grade to its index on the scale (higher = better); ``anchor_ids``
    maps essay ids to the CSV's ``ANCHOR-ID`` (another name of the anchor).
    """
    problems: list[str] = []
    out: list[BoundaryPair] = []
    seen: dict[frozenset[str], str] = {}
    for higher_name, lower_name in pairs:
        spec = f"{higher_name}:{lower_name}"
        try:
            higher = resolve_anchor(higher_name, anchors, anchor_ids)
            lower = resolve_anchor(lower_name, anchors, anchor_ids)
        except InputError as exc:
            problems.append(str(exc).removeprefix("--boundary-pairs: "))
            continue
        shown = printable(spec)
        key = frozenset((higher.essay_id, lower.essay_id))
        if higher.essay_id == lower.essay_id:
            problems.append(f"{shown} names one anchor ({printable(higher.file_name)}) twice")
        elif key in seen:
            problems.append(f"{shown} names the same two anchors as {printable(seen[key])}")
        elif grade_rank(str(higher.grade)) <= grade_rank(str(lower.grade)):
            relation = "the same grade as" if higher.grade == lower.grade else "a lower grade than"
            problems.append(
                f"{shown}: HIGHER {printable(higher.file_name)} ({higher.grade}) has {relation} "
                f"LOWER {printable(lower.file_name)} ({lower.grade}); write the higher-graded "
                "anchor first, and pick anchors of different grades")
        else:
            seen[key] = spec
            out.append(BoundaryPair(higher, lower, spec))
    if problems:
        raise InputError("--boundary-pairs: " + "; ".join(problems))
    return out


def plan_calls(pairs: Sequence[BoundaryPair], iterations: int) -> list[BoundaryCall]:
    """``2 * iterations`` calls per pair, repeat by repeat: in each repeat every pair is asked
    with the higher-graded essay first, then with it second."""
    if iterations < 1:
        raise InputError(f"--boundary-iterations must be at least 1, not {iterations}")
    calls: list[BoundaryCall] = []
    for repeat in range(iterations):
        for index, pair in enumerate(pairs):
            for higher_first in (True, False):
                a, b = (pair.higher, pair.lower) if higher_first else (pair.lower, pair.higher)
                calls.append(BoundaryCall(len(calls) + 1, index, repeat, higher_first,
                                          a.essay_id, b.essay_id))
    return calls


def prepare_boundary(settings: Eng5Settings) -> tuple[Prepared, list[BoundaryPair]]:
    """Validate everything (judge, anchors, pairs, iterations); nothing is spent."""
    from cjgrade.scales import get_scale, grade_index

    if settings.llm_batching_mode == "provider_batch_api":
        raise ConfigError("--mode boundary-test sends each call on its own; drop "
                          "--llm-batching-mode provider_batch_api (or use per_request)")
    if not settings.boundary_pairs:
        raise ConfigError("--mode boundary-test needs --boundary-pairs HIGHER:LOWER[,...]")
    prepared = prepare_anchor_only(settings, what="boundary-test")
    scale = get_scale(str(prepared.spec.grade_scale), prepared.spec.user_scales)
    pairs = resolve_pairs(settings.boundary_pairs, prepared.inputs.folder.anchors,
                          lambda grade: grade_index(scale, grade), prepared.inputs.anchor_ids)
    plan_calls(pairs, settings.boundary_iterations)  # N < 1: an error before anything
    return prepared, pairs


def run(settings: Eng5Settings) -> int:
    """The mode's entry point (see the module docstring)."""
    return run_boundary(settings)


def default_boundary_judge(name: str, base_url: str | None) -> Judge:
    """The configured judge in its runtime, without a response cache (repeats must reach the
    provider)."""
    from cjgrade.judges import get_judge

    judge: Judge = get_judge(name, base_url=base_url, use_cache=False)
    return judge


def run_boundary(settings: Eng5Settings, *, build_judge: BoundaryJudgeBuilder | None = None,
                 echo: Callable[[str], None] = print, display: Any = None) -> int:
    """Validate, ask every call, write the report and the artefact; return the exit code.

    ``display`` shows the progress (default the Rich bar of ``cjgrade run``, on stderr): calls
    answered out of all planned, failures and the cost so far, after every call.
    """
    from cjgrade.cli.run_checks import check_output_dir
    from cjgrade.cli.run_view import RichProgress
    from cjgrade.runner.eng5.execute import verbose_log
    from cjgrade.runner.eng5.plan import echo_run_ids

    prepared, pairs = prepare_boundary(settings)
    calls = plan_calls(pairs, settings.boundary_iterations)
    run_dir = settings.run_dir()
    check_output_dir(run_dir, "--output-dir")
    judge = (build_judge or default_boundary_judge)(prepared.judge, settings.llm_base_url)
    if getattr(judge, "cache", None) is not None:
        raise ConfigError("boundary-test needs a judge without a response cache (repeats must "
                          "ask again); this is a bug in the judge builder")
    echo_run_ids(settings)
    echo(f"Boundary test: {len(pairs)} pair(s) x {settings.boundary_iterations} repeat(s) x "
         f"2 orders = {len(calls)} judge calls, judge {prepared.judge}")
    started = time.time()
    run_dir.mkdir(parents=True, exist_ok=True)
    with verbose_log(settings, run_dir), (display if display is not None
                                          else RichProgress()) as shown:
        outcomes = asyncio.run(_judge_all(prepared, calls, judge, shown))
    records = [_record(call, outcomes[call.comparison_id], prepared.judge,
                       prepared.settings.batch_uuid) for call in calls]
    results = [
        pair_result(_who(pair.higher), _who(pair.lower), pair.spec,
                    [(records[k], call.repeat, call.higher_first)
                     for k, call in enumerate(calls) if call.pair == index])
        for index, pair in enumerate(pairs)
    ]
    succeeded = sum(1 for r in records if r.status == "succeeded")
    ok = succeeded >= prepared.spec.options.min_success_rate * len(records) and all(
        p.metrics.n > 0 for p in results)
    paths = _write(prepared, results, records, judge, ok=ok, started=started)
    for p in results:
        echo(f"{printable(p.spec)}: {p.metrics.n} of {p.n_calls} calls decided; "
             f"{p.verdict()}")
    for kind, path in paths.items():
        echo(f"{kind.capitalize()}: {path}")
    return exit_codes.OK if ok else exit_codes.SERVICE_FAILURE


def _who(essay: InputEssay) -> tuple[str, str, str]:
    return essay.essay_id, essay.file_name, str(essay.grade)


async def _judge_all(prepared: Prepared, calls: Sequence[BoundaryCall], judge: Judge,
                     listener: ProgressListener) -> dict[int, ComparisonOutcome]:
    from cjgrade.engine.loop import comparison_request
    from cjgrade.judges.cost import add_cost

    spec = prepared.spec
    tasks = [ComparisonTask(
        comparison_id=c.comparison_id, batch_uuid=prepared.settings.batch_uuid, round=c.repeat,
        slot=c.comparison_id - 1, essay_a=c.essay_a, essay_b=c.essay_b, judge=spec.judge,
        request=comparison_request(spec, c.essay_a, c.essay_b)) for c in calls]
    dispatcher = InProcessDispatcher(judge, concurrency=spec.options.concurrency)
    out: dict[int, ComparisonOutcome] = {}
    failed = 0
    cost: float | None = 0.0
    try:
        async for outcome in dispatcher.dispatch(tasks):
            out[outcome.comparison_id] = outcome
            failed += int(outcome.verdict is None)
            cost = add_cost(cost, outcome.spend_usd)  # the one unknown-cost rule
            listener.on_progress(Progress(
                batch_uuid=prepared.settings.batch_uuid,
                round=calls[outcome.comparison_id - 1].repeat,
                requested=len(calls), done=len(out), failed=failed, budget=len(calls),
                cost_usd=cost))
    finally:
        closer = getattr(judge, "aclose", None)
        if callable(closer):
            await closer()
    return out


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()


def _stamp(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def _record(call: BoundaryCall, outcome: ComparisonOutcome, judge: str,
            batch_uuid: str) -> ComparisonRecord:
    """The artefact's comparison record of one call."""
    common: dict[str, Any] = dict(
        id=call.comparison_id, batch_id=batch_uuid, round=call.repeat,
        slot=call.comparison_id - 1, essay_a=call.essay_a, essay_b=call.essay_b,
        attempts=outcome.attempts, created_at=_stamp(outcome.started_at),
        completed_at=_stamp(outcome.completed_at))
    v = outcome.verdict
    if v is None:
        spend = outcome.billed
        usage = spend.usage if spend is not None else None
        provider, _, model = judge.partition("/")
        return ComparisonRecord(
            status="failed", provider=provider, model=model, error_code=outcome.error_code,
            error_reason=outcome.error_reason,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cost_usd=spend.cost_usd if spend is not None else None, **common)
    return ComparisonRecord(
        status="succeeded", winner=v.winner.value, p_a=v.p_a, confidence=v.confidence,
        justification=v.justification, provider=v.provider, model=v.model,
        request_sha256=v.request_sha256, input_tokens=v.usage.input_tokens,
        output_tokens=v.usage.output_tokens, cache_read_tokens=v.usage.cache_read_tokens,
        cache_write_tokens=v.usage.cache_write_tokens, cost_usd=v.cost_usd,
        latency_s=v.latency_s, flags=v.flags, **common)


def _cost_lines(judge: Judge) -> tuple[CostLine, ...]:
    """Tokens and cost per model from the runtime's ledger (every call of this run, billed
    invalid replies included)."""
    ledger = getattr(judge, "ledger", None)
    if ledger is None:
        return ()
    lines = []
    for name, e in sorted(ledger.entries.items()):
        provider, _, model = name.partition("/")
        lines.append(CostLine(
            provider=provider, model=model, comparisons=e.calls, input_tokens=e.input_tokens,
            output_tokens=e.output_tokens, cache_read_tokens=e.cache_read_tokens,
            cache_write_tokens=e.cache_write_tokens,
            cost_usd=e.cost_usd if e.cost_known else None, cache_hits=e.cache_hits))
    return tuple(lines)


def _write(prepared: Prepared, results: list[BoundaryPairResult],
           records: list[ComparisonRecord], judge: Judge, *, ok: bool, started: float
           ) -> dict[str, Path]:
    from cjgrade.reports.artefact import build_artefact
    from cjgrade.runner.eng5.artefact import write_report_run

    settings, spec = prepared.settings, prepared.spec
    run_dir = settings.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC)
    text = boundary_markdown(results, label=settings.batch_id, batch_uuid=settings.batch_uuid,
                             judge=prepared.judge, iterations=settings.boundary_iterations,
                             generated_at=generated.isoformat())
    failed = sum(1 for r in records if r.status != "succeeded")
    result = BatchResult(
        batch_uuid=settings.batch_uuid, label=settings.batch_id,
        status="completed" if ok else "failed", stop_reason="boundary_test",
        grade_scale=spec.grade_scale, assignment_id=None, judge=prepared.judge,
        options=spec.options.to_dict(), essays=(), comparisons=tuple(records), rounds=(),
        costs=_cost_lines(judge),
        # no scale is fitted: no reliability, position bias or grade quality to report
        grades=GradesSection(available=False, reason="a boundary test projects no grades",
                             grade_scale=spec.grade_scale),
        failure_reason=None if ok else f"{failed} of {len(records)} judge calls failed",
        started_at=_iso(started), finished_at=generated.isoformat(),
        duration_s=generated.timestamp() - started)
    doc = build_artefact(result, spec.inputs, mode="embedded", generated_at=generated)
    runner = prepared.runner_record(settings.mode)
    runner["capacity"] = len(records)
    return write_report_run(
        doc, runner, run_dir=run_dir, mode=settings.mode,
        artefact_format=settings.artefact_format, section="boundary_test",
        figures=boundary_section(results, iterations=settings.boundary_iterations),
        report_name=REPORT_FILE, report_text=text)
