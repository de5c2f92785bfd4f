"""``--mode anchor-align-test``: the anchors judged against each other only, and a report of
how well the judge's order agrees with their expert grades.

The anchors come from the input folder (``anchor_essays/`` or ``--anchor-dir``; grades from
the CSV or the file-name suffix, checked against the scale). No student file is read or
needed (the original required a non-empty ``student_essays/`` it never used). The batch runs
through the real engine (:func:`cjgrade.engine.embedded.run_embedded`, the configured store)
with the configured judge, ``--system-prompt`` and ``--rubric``:

* a complete round robin by default: every anchor pair once (``n(n-1)/2`` comparisons), pairs
  chosen by the ``coverage`` strategy, which repeats no pair before every pair was asked, with
  the early-stopping rules off; ``--max-comparisons`` lowers (not every pair is then judged,
  and the report says so) or raises the budget (pairs are then asked again, in the other
  order first);
* R1: fewer than two anchors (capacity ``anchors x anchors`` below 1 pair) or
  ``--max-comparisons`` below 2 fail before anything is written;
* anchors of a single grade are refused too (nothing could be out of order).

Outputs in ``<output_dir>/<batch_uuid>/``: ``anchor_alignment.md``
(:mod:`cjgrade.runner.eng5.alignment_report`) and ``assessment_run.anchor-align-test.json``
(the project's artefact plus ``runner``, whose ``anchor_alignment`` holds the report's
figures, inversions with justifications and the prompts).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cjgrade.engine.embedded import JudgeBuilder
from cjgrade.engine.options import merge_options
from cjgrade.engine.spec import validate_spec
from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.alignment_report import (
    AlignmentReport,
    PromptRecord,
    build_alignment_report,
)
from cjgrade.runner.eng5.inputs import read_inputs
from cjgrade.runner.eng5.judge_settings import (
    batch_option_overrides,
    check_judge,
    judge_name,
    load_prompts,
)
from cjgrade.runner.eng5.prepare import Prepared, check_expected_scale, folder_grade_scale
from cjgrade.runner.eng5.settings import Eng5Settings
from cjgrade.runner.folder_spec import spec_from_folder

__all__ = ["REPORT_FILE", "prepare_anchor_only", "prompt_records", "run", "run_align"]

REPORT_FILE = "anchor_alignment.md"

Printer = Callable[[str], None]


def prepare_anchor_only(settings: Eng5Settings, *, what: str = "anchor-align-test") -> Prepared:
    """Validate an anchors-only run completely (judge, prompts, anchors, R1); nothing is
    written or spent. Shared by ``anchor-align-test`` and ``boundary-test``.

    Raises
    ------
    ConfigError
        ``--assignment-id`` given (these modes judge the folder's anchor files), or a judge
        setting the judge cannot honour.
    InputError
        Bad input files, fewer than two anchors (R1), anchors of one grade only.
    """
    if settings.assignment_id is not None:
        raise ConfigError(
            f"--mode {what} judges the anchor files of the input folder (anchor_essays/ or "
            "--anchor-dir) against each other and uses no assignment: drop --assignment-id")
    name = judge_name(settings)
    assert name is not None
    check_judge(settings, name)
    prompts = load_prompts(settings)
    scale = folder_grade_scale(settings)
    check_expected_scale(settings, scale, f"this {what} run")
    inputs = read_inputs(settings.input_dir, scale_id=scale, anchor_dir=settings.anchor_dir,
                         need_students=False)
    folder = replace(inputs.folder, students=())
    n = len(folder.anchors)
    capacity = math.comb(n, 2)
    if capacity < 1:
        raise InputError(
            f"comparison capacity is {capacity} (anchors x anchors: {n} anchor essay(s) give "
            f"{capacity} pairs): --mode {what} needs at least 2 anchors; put graded essays in "
            "anchor_essays/ (or pass --anchor-dir)")
    grades = sorted({str(a.grade) for a in folder.anchors})
    if len(grades) < 2:
        raise InputError(
            f"all {n} anchors have grade {grades[0]}: nothing can be out of order; --mode "
            f"{what} needs anchors of at least 2 different grades")
    overrides: dict[str, Any] = {
        "budget": capacity, "strategy": "coverage", "target_reliability": None, "target_se": None,
        "stability_threshold": None,
    }
    overrides.update(batch_option_overrides(settings))
    options = merge_options(folder.options, overrides, source="command line")
    spec = spec_from_folder(replace(folder, options=options), judge=name,
                            base_url=settings.llm_base_url, grades_requested=False)
    spec = replace(spec, label=settings.batch_id, system_prompt=prompts.system_prompt,
                   rubric=prompts.rubric if prompts.rubric is not None else spec.rubric)
    validate_spec(spec)
    return Prepared(settings, replace(inputs, folder=folder), name, prompts, spec, None, capacity)


def prompt_records(prepared: Prepared) -> dict[str, PromptRecord | None]:
    """The prompts the run sent, as the reports list them (text, source, SHA-256)."""
    spec, prompts, folder = prepared.spec, prepared.prompts, prepared.inputs.folder
    rubric_source = prompts.rubric_source or (folder.rubric.source_path if folder.rubric
                                              else None)
    out: dict[str, PromptRecord | None] = {
        "system_prompt": _record(spec.system_prompt, prompts.system_prompt_source
                                 + " (plus the --language line)"),
        "rubric": _record(spec.rubric, rubric_source or "none") if spec.rubric else None,
    }
    if spec.student_prompt:  # absent when the instructions double as the prompt
        out["student_prompt"] = _record(spec.student_prompt,
                                        prepared.inputs.prompt_source or "none")
    if spec.instructions:
        out["instructions"] = _record(spec.instructions, folder.instructions.source_path)
    return out


def _record(text: str, source: str) -> PromptRecord:
    return PromptRecord(source=source, text=text,
                        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def run(settings: Eng5Settings) -> int:
    """The mode's entry point (see the module docstring)."""
    return run_align(settings)


def run_align(
    settings: Eng5Settings,
    *,
    build_judge: JudgeBuilder | None = None,
    store_target: Any = None,
    echo: Printer = print,
    display: Any = None,
) -> int:
    """Validate, run the anchor round robin, write the report and the artefact.

    ``build_judge`` and ``store_target`` default to the configured judge and store (tests
    inject a scripted judge or a temporary database); ``display`` is the progress display
    (default the Rich bar of ``cjgrade run``). A Ctrl-C stops with the stored batch resumable
    (``cjgrade resume``), as in execute. Returns the exit code: OK, or SERVICE_FAILURE when
    the batch failed (its report and artefact are still written).
    """
    from cjgrade.cli.run_checks import check_output_dir, execute_run, resume_flags
    from cjgrade.cli.run_view import RichProgress
    from cjgrade.engine.embedded import run_embedded
    from cjgrade.runner.eng5.execute import verbose_log
    from cjgrade.runner.eng5.judge_settings import build_judge as configured_judge
    from cjgrade.runner.eng5.plan import echo_run_ids
    from cjgrade.scales import get_scale

    prepared = prepare_anchor_only(settings)
    spec = prepared.spec
    run_dir = settings.run_dir()
    check_output_dir(run_dir, "--output-dir")
    target = store_target if store_target is not None else _store_target(settings)
    n_pairs = prepared.capacity
    budget = spec.options.resolved_budget(len(spec.essays))
    echo_run_ids(settings)
    echo(f"Anchor alignment test: {prepared.n_anchors} anchors, {n_pairs} anchor pairs, "
         f"budget {budget} comparisons, judge {prepared.judge}")
    if budget < n_pairs:
        echo(f"Warning: --max-comparisons {budget} is below the {n_pairs} anchor pairs; not "
             "every pair will be judged")
    run_dir.mkdir(parents=True, exist_ok=True)
    reports: list[AlignmentReport] = []

    def start(progress: Any) -> Any:
        return run_embedded(spec, build_judge=build_judge or configured_judge(settings),
                            target=target, progress=progress, on_created=progress.on_created,
                            batch_uuid=settings.batch_uuid)

    def write(run: Any, _out: Path) -> dict[str, Path]:
        report = build_alignment_report(
            run.result, get_scale(str(spec.grade_scale), spec.user_scales),
            prompts=prompt_records(prepared), label=settings.batch_id)
        reports.append(report)
        return write_outputs(prepared, report, run.inputs)

    with verbose_log(settings, run_dir):
        embedded, paths = execute_run(start, lambda _run: run_dir, write=write,
                                      display=display if display is not None else RichProgress(),
                                      resume_flags=resume_flags(settings.database_url))
    for line in summary_lines(reports[0]):
        echo(line)
    for kind, path in paths.items():
        echo(f"{kind.capitalize()}: {path}")
    completed = embedded.result.status == "completed"
    return exit_codes.OK if completed else exit_codes.SERVICE_FAILURE


def write_outputs(prepared: Prepared, report: AlignmentReport, inputs: dict[str, Any]
                  ) -> dict[str, Path]:
    """Write the Markdown report, then the validated artefact that records it."""
    from cjgrade.reports.artefact import build_artefact
    from cjgrade.runner.eng5.artefact import write_report_run

    settings = prepared.settings
    run_dir = settings.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC)
    text = report.markdown(generated.isoformat())
    doc = build_artefact(report.result, inputs, mode="embedded", generated_at=generated)
    return write_report_run(
        doc, prepared.runner_record(settings.mode), run_dir=run_dir, mode=settings.mode,
        artefact_format=settings.artefact_format, section="anchor_alignment",
        figures=report.section(), report_name=REPORT_FILE, report_text=text)


def summary_lines(report: AlignmentReport) -> list[str]:
    """The CLI summary of an alignment test."""
    section = report.section()

    def num(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.3f}"

    problems = section["problem_zero_win_anchors"]
    lines = [
        f"Batch {section['status']}: {section['n_comparisons']} comparisons succeeded, "
        f"{section['n_failed']} failed; {section['n_pairs_compared']} of "
        f"{section['n_anchor_pairs']} anchor pairs judged",
        f"Kendall tau-b {num(section['kendall_tau_b'])} (best possible "
        f"{section['kendall_tau_b_max']:.3f}); original tau-a "
        f"{num(section['kendall_tau_original'])}",
        f"Direct inversions: {section['direct_inversion_pairs']} anchor pair(s), "
        f"{section['inversion_decisions']} decision(s)",
        f"Zero-win anchors: {len(section['zero_win_anchors'])} ({len(problems)} above the lowest "
        "grade)",
        f"Meets the targets: {'yes' if section['meets_targets'] else 'no'}",
    ]
    return lines


def _store_target(settings: Eng5Settings) -> Any:
    from cjgrade.config import load_settings

    return load_settings(database_url=settings.database_url)
