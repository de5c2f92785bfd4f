"""``--mode execute``, embedded: the batch runs in this process on the configured store (as
``cjgrade run``); with ``--kafka-bootstrap`` / ``KAFKA_BOOTSTRAP_SERVERS`` the run is handed to
:mod:`cjgrade.runner.eng5.remote` (a running cluster).

Order: everything is validated (:func:`prepare`: inputs, judge and its settings, prompts,
assignment and its anchors, capacity, output folder) before the run folder is created or a
judge is called. Then, in ``<output_dir>/<batch_uuid>/``:

* ``requests/assessment_request_<uuid>.json``: what the runner asked for (essay refs with
  content hashes, judge, options, prompt hashes);
* ``events/bus_events_<uuid>.json``: the topics the in-process bus carried, in order;
* ``db_extract/``: with ``--auto-extract-eng5-db`` (R5; built from the batch's artefact, see
  :mod:`cjgrade.runner.eng5.extract`; the batch is complete when the engine returns);
* ``assessment_run.execute.json`` (+ the huleedu-1.0 file on request), validated on write;
* ``eng5-<uuid>.log`` with ``--verbose``.

The batch is stored under the run's ``batch_uuid``, so ``cjgrade resume <uuid>`` continues an
interrupted run and ``cjgrade report`` works on it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cjgrade.errors import ConfigError
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.artefact import (
    extend_artefact,
    runner_status,
    write_json_atomic,
    write_runner_artefact,
)
from cjgrade.runner.eng5.plan import echo_run_ids
from cjgrade.runner.eng5.prepare import Prepared, prepare
from cjgrade.runner.eng5.settings import Eng5Settings

__all__ = ["observed_events", "run", "verbose_log"]

log = logging.getLogger(__name__)


def run(settings: Eng5Settings, *, judge_builder: Any = None) -> int:
    """Run the batch; ``judge_builder`` replaces the judge built from the settings (tests
    inject a scripted judge through it)."""
    if settings.kafka_bootstrap:
        return _remote(settings)
    from cjgrade.cli.run_checks import check_output_dir
    from cjgrade.config import load_settings

    target = load_settings(database_url=settings.database_url)
    prepared = prepare(settings, store_target=target)
    run_dir = settings.run_dir()
    check_output_dir(run_dir, "--output-dir")
    echo_run_ids(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    with verbose_log(settings, run_dir):
        log.info("eng5 execute %s settings %s", settings.batch_uuid,
                 json.dumps(settings.public_dict(), sort_keys=True))
        _write_request(prepared, run_dir)
        return _run_embedded(prepared, target, run_dir, judge_builder)


def _remote(settings: Eng5Settings) -> int:
    """Execute over Kafka: :mod:`cjgrade.runner.eng5.remote` (its own preflight)."""
    try:
        from cjgrade.runner.eng5 import remote
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("cjgrade.runner.eng5.remote", None):
            raise
        raise ConfigError(
            "execute over Kafka (--kafka-bootstrap or KAFKA_BOOTSTRAP_SERVERS) is not available "
            "in this installation (cjgrade.runner.eng5.remote is missing); unset both to run "
            "embedded") from None
    result: int = remote.run(settings)
    return result


def _run_embedded(prepared: Prepared, target: Any, run_dir: Path, judge_builder: Any) -> int:
    from cjgrade.cli.run_checks import execute_run, resume_flags
    from cjgrade.cli.run_view import RichProgress, print_preflight
    from cjgrade.engine.embedded import run_embedded
    from cjgrade.runner.eng5.judge_settings import build_judge
    from cjgrade.runner.planning import plan_batch

    settings = prepared.settings
    print_preflight(plan_batch(prepared.spec, warnings=prepared.inputs.warnings))
    outcome: dict[str, Any] = {}

    def start(progress: Any) -> Any:
        return run_embedded(prepared.spec, build_judge=judge_builder or build_judge(settings),
                            target=target,
                            progress=progress, on_created=progress.on_created,
                            batch_uuid=settings.batch_uuid)

    def write(run: Any, out: Path) -> dict[str, Path]:
        outcome["code"], paths, outcome["doc"] = _write_outputs(prepared, run, out, target)
        return paths

    _run, paths = execute_run(start, lambda _run: run_dir, write=write, display=RichProgress(),
                             resume_flags=resume_flags(settings.database_url))
    from cjgrade.runner.eng5.summary import print_summary

    print_summary(outcome["doc"], paths)
    code: int = outcome["code"]
    return code


def observed_events(topics: list[str] | tuple[str, ...], answered: int) -> dict[str, int]:
    """Counts of the runner-status event kinds among bus topics. In-process judging publishes
    no per-comparison event, so ``comparisons`` is then the engine's recorded outcomes
    (``answered``: succeeded plus failed)."""
    from cjgrade.bus.events import AssessmentResultV1, BatchCompletedV1, ComparisonCompletedV1

    counts = Counter(topics)
    return {"comparisons": counts[ComparisonCompletedV1.TOPIC] or answered,
            "assessment_results": counts[AssessmentResultV1.TOPIC],
            "completions": counts[BatchCompletedV1.TOPIC]}


def _write_outputs(prepared: Prepared, run: Any, run_dir: Path, target: Any
                   ) -> tuple[int, dict[str, Path], dict[str, Any]]:
    from cjgrade.reports import build_artefact, write_reports

    settings = prepared.settings
    result = run.result
    write_json_atomic([{"seq": i, "topic": t} for i, t in enumerate(run.events, start=1)],
                      run_dir / "events" / f"bus_events_{settings.batch_uuid}.json")
    code = exit_codes.OK if result.status == "completed" else exit_codes.SERVICE_FAILURE
    base = build_artefact(result, run.inputs)
    post_run: dict[str, Any] = {"eng5_db_extract": None}
    if settings.auto_extract_eng5_db:
        if result.status == "completed":
            from cjgrade.runner.eng5.extract import extract_for_artefact

            post_run["eng5_db_extract"] = extract_for_artefact(
                base, run_dir, source="the artefact of this embedded run (computed from the "
                "stored comparisons)")
            if post_run["eng5_db_extract"]["status"] != "succeeded":
                code = exit_codes.EXTRACTION_FAILED
        else:
            post_run["eng5_db_extract"] = {"status": "skipped", "reason": "batch_failed",
                                           "batch_uuid": result.batch_uuid}
    seen = observed_events(run.events, result.n_succeeded + result.n_failed)
    doc = extend_artefact(base, prepared.runner_record("execute"), run_dir=run_dir,
                          status=runner_status(comparisons=seen["comparisons"],
                                               assessment_results=seen["assessment_results"],
                                               completions=seen["completions"]),
                          post_run=post_run)
    paths = write_runner_artefact(doc, run_dir, "execute",
                                  artefact_format=settings.artefact_format)
    paths.update({f"report {k}": v for k, v in write_reports(doc, run_dir).items()})
    log.info("eng5 execute %s finished: status %s, exit code %d", settings.batch_uuid,
             result.status, code)
    return code, paths, doc


def _write_request(prepared: Prepared, run_dir: Path) -> Path:
    """``requests/assessment_request_<uuid>.json``: what this run asks the engine for."""
    from cjgrade.store import content_id

    spec, settings = prepared.spec, prepared.settings
    request = {
        "batch_uuid": settings.batch_uuid, "label": settings.batch_id,
        "assignment_id": spec.assignment_id or spec.assignment_ref,
        "grade_scale": spec.grade_scale, "judge": prepared.judge,
        "course_code": settings.course_code, "course_id": settings.course_id,
        "language": settings.language,
        "options": spec.options.to_dict(),
        "texts": {name: content_id(getattr(spec, name)) if getattr(spec, name).strip() else None
                  for name in ("instructions", "student_prompt", "rubric", "system_prompt")},
        "essays": [{"essay_id": e.id, "content_sha256": content_id(e.text),
                    "is_anchor": e.is_anchor, "grade": e.grade} for e in spec.essays],
    }
    return write_json_atomic(request, run_dir / "requests"
                             / f"assessment_request_{settings.batch_uuid}.json")


@contextmanager
def verbose_log(settings: Eng5Settings, run_dir: Path):  # type: ignore[no-untyped-def]
    """With ``--verbose``: DEBUG logging of every cjgrade logger to
    ``<run_dir>/eng5-<batch_uuid>.log`` for the duration of the block."""
    if not settings.verbose:
        yield None
        return
    path = run_dir / f"eng5-{settings.batch_uuid}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s %(name)s [{settings.batch_uuid}] %(message)s"))
    logger = logging.getLogger("cjgrade")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()
