"""The product path against truth: synthetic essays with known abilities and grades, an input
folder for ``cjgrade run``, one run through the official SDKs against the LLM look-alike
(:mod:`tests.judges.fakes.truth`), and the run's figures scored against the truth.

Shared by ``tests/judges/test_truth_e2e.py`` and ``benchmarks/truth_e2e.py``.

The scenario: ``n_students`` students with true abilities ``N(0, sd^2)`` and ``n_anchors``
anchors spread over every grade of a built-in scale (default ``swedish_8_anchor``). Grades come
from fixed cut points on the true ability: the population quantiles of ``N(0, sd^2)`` at the
scale's cumulative priors, so the students' grade distribution matches the scale's priors. Each
anchor's grade and each student's known grade are the band its true ability falls in.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.stats import norm

from cjgrade.scales import get_scale
from cjgrade.stats.agreement import quadratic_weighted_kappa, spearman_rho
from tests.judges.fakes.truth import BeliefJudge, Faults
from tests.judges.fakes.truth_essays import INSTRUCTIONS, RUBRIC, TOPIC, EssayWriter

__all__ = [
    "JUDGES",
    "EssayTruth",
    "Flavour",
    "RunOutcome",
    "TruthFigures",
    "TruthScenario",
    "build_scenario",
    "run_scenario",
    "score_run",
    "unthrottled_manifest",
    "write_input_folder",
]

Flavour = Literal["openai", "anthropic"]

JUDGES: dict[str, str] = {
    # In the manifest with supports_logprobs, so the adapter asks for logprobs (a model admitted
    # with --allow-unknown-model is never asked for them and would fall back to confidence).
    "openai": "openai/gpt-4o-2024-11-20",
    "anthropic": "anthropic/claude-haiku-4-5-20251001",
}


# -- the truth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EssayTruth:
    """One synthetic essay: its file name, text, true ability and the grade it implies."""

    file_name: str
    text: str
    theta: float
    grade: str
    grade_index: int
    is_anchor: bool


@dataclass(frozen=True)
class TruthScenario:
    """Students and anchors with known abilities and grades on one scale."""

    grade_scale: str
    grades: tuple[str, ...]
    cut_points: tuple[float, ...]
    students: tuple[EssayTruth, ...]
    anchors: tuple[EssayTruth, ...]

    @property
    def essays(self) -> tuple[EssayTruth, ...]:
        return self.anchors + self.students

    def abilities(self) -> dict[str, float]:
        """True ability per essay text (the look-alike's lookup)."""
        return {e.text: e.theta for e in self.essays}


def grade_cut_points(priors: Sequence[float], sd: float) -> tuple[float, ...]:
    """Cut points on the true ability: ``N(0, sd^2)`` quantiles at the cumulative priors."""
    cumulative = np.cumsum(priors)[:-1]
    return tuple(float(c) for c in norm.ppf(cumulative) * sd)


def _grade_of(theta: float, cut_points: Sequence[float]) -> int:
    return int(np.searchsorted(np.asarray(cut_points), theta, side="right"))


def _anchor_abilities(cut_points: Sequence[float], priors: Sequence[float],
                      n_anchors: int) -> list[float]:
    """One anchor per grade, the rest to the most common grades; spread evenly inside each
    band (the open end bands are given the width of their neighbour)."""
    n_grades = len(cut_points) + 1
    if n_anchors < n_grades:
        raise ValueError(f"need at least one anchor per grade ({n_grades})")
    counts = [1] * n_grades
    for g in sorted(range(n_grades), key=lambda g: -priors[g])[: n_anchors - n_grades]:
        counts[g] += 1
    cuts = list(cut_points)
    edges = [cuts[0] - (cuts[1] - cuts[0]), *cuts, cuts[-1] + (cuts[-1] - cuts[-2])]
    thetas: list[float] = []
    for g, k in enumerate(counts):
        lo, hi = edges[g], edges[g + 1]
        thetas.extend(lo + (j + 0.5) / k * (hi - lo) for j in range(k))
    return thetas


def build_scenario(seed: int = 0, *, n_students: int = 60, n_anchors: int = 12,
                   sd: float = 1.5, grade_scale: str = "swedish_8_anchor") -> TruthScenario:
    """Students ``N(0, sd^2)`` (seeded), anchors over every grade, distinct essay texts."""
    scale = get_scale(grade_scale)
    cuts = grade_cut_points(scale.priors, sd)
    rng = np.random.default_rng([seed, 20261121])
    writer = EssayWriter(rng)
    anchors = []
    for i, theta in enumerate(_anchor_abilities(cuts, scale.priors, n_anchors)):
        g = _grade_of(theta, cuts)
        anchors.append(EssayTruth(f"anchor_{i + 1:02d}.txt", writer.essay(theta), theta,
                                  scale.grades[g], g, True))
    students = []
    for i, theta in enumerate(rng.normal(0.0, sd, n_students)):
        g = _grade_of(float(theta), cuts)
        students.append(EssayTruth(f"student_{i + 1:03d}.txt", writer.essay(float(theta)),
                                   float(theta), scale.grades[g], g, False))
    return TruthScenario(grade_scale, scale.grades, cuts, tuple(students), tuple(anchors))


def write_input_folder(scenario: TruthScenario, root: Path) -> Path:
    """The folder ``cjgrade run`` reads: instructions, prompt, rubric, config, anchors with
    ``anchors.csv``, students."""
    (root / "anchors").mkdir(parents=True)
    (root / "students").mkdir()
    (root / "instructions.md").write_text(INSTRUCTIONS + "\n", encoding="utf-8")
    (root / "prompt.md").write_text(f"{TOPIC} Write an argumentative essay of 150-300 words.\n",
                                    encoding="utf-8")
    (root / "rubric.md").write_text(RUBRIC + "\n", encoding="utf-8")
    (root / "config.toml").write_text(
        f'grade_scale = "{scenario.grade_scale}"\nassignment_id = "truth_e2e"\n',
        encoding="utf-8")
    rows = ["file_name,grade"]
    for essay in scenario.anchors:
        (root / "anchors" / essay.file_name).write_text(essay.text, encoding="utf-8")
        rows.append(f"{essay.file_name},{essay.grade}")
    (root / "anchors" / "anchors.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for essay in scenario.students:
        (root / "students" / essay.file_name).write_text(essay.text, encoding="utf-8")
    return root


# -- one run through the CLI, the SDK and the look-alike --------------------------------------


@contextlib.contextmanager
def unthrottled_manifest() -> Iterator[None]:
    """The packaged manifest without the providers' requests-per-minute limits.

    The manifest paces ``anthropic/`` at 50 and ``openai/`` at 500 requests per minute (there is
    no ``cjgrade run`` flag for it): 600 comparisons would take 12 minutes. The look-alike is a
    local server without an account limit; its own HTTP 429s exercise the Retry-After path.
    """
    from cjgrade.judges import manifest

    text = resources.files("cjgrade.judges").joinpath("models.toml").read_text("utf-8")
    data = tomllib.loads(text)
    for provider in data["providers"].values():
        provider.pop("requests_per_minute", None)
        provider.pop("tokens_per_minute", None)
    fast = manifest.parse_manifest(data, "judges/models.toml (no rate limits: truth e2e)")
    saved = manifest._DEFAULT
    manifest._DEFAULT = fast
    try:
        yield
    finally:
        manifest._DEFAULT = saved


@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class RunOutcome:
    """What one ``cjgrade run`` against the look-alike produced."""

    exit_code: int
    artefact: dict[str, Any] | None
    judge: BeliefJudge
    n_requests: int
    output: str = field(repr=False, default="")


def run_scenario(
    scenario: TruthScenario,
    flavour: Flavour,
    work_dir: Path,
    *,
    seed: int = 0,
    budget: int | None = None,
    belief_noise: float = 1.0,
    position_offset: float = 0.2,
    faults: Faults | None = None,
    concurrency: int | None = None,
    quiet: bool = True,
) -> RunOutcome:
    """Write the input folder, serve the look-alike, run ``cjgrade run`` in-process.

    The run uses its own SQLite store under ``work_dir/home`` and dummy keys the fake accepts;
    the environment and the manifest are restored afterwards.
    """
    from cjgrade.cli.main import build_app, run_app
    from tests.judges.fakes import anthropic_api, openai_api

    folder = write_input_folder(scenario, work_dir / "input")
    out = work_dir / "out"
    judge = BeliefJudge(scenario.abilities(), belief_noise=belief_noise,
                        position_offset=position_offset, seed=seed,
                        faults=faults if faults is not None else Faults())
    server: openai_api.FakeOpenAI | anthropic_api.FakeAnthropic
    if flavour == "openai":
        server = openai_api.FakeOpenAI()
        server.responder = judge.openai_responder()
    else:
        server = anthropic_api.FakeAnthropic()
        server.responder = judge.anthropic_responder()
    captured = io.StringIO()
    with server, unthrottled_manifest(), _environment(
        OPENAI_API_KEY=openai_api.VALID_KEY,
        ANTHROPIC_API_KEY=anthropic_api.VALID_KEY,
        OPENAI_BASE_URL=None,
        ANTHROPIC_BASE_URL=None,
        DATABASE_URL=None,
        CJGRADE_DATABASE_URL=None,
        CJGRADE_HOME=str(work_dir / "home"),
    ):
        base_url = f"{server.url}/v1" if flavour == "openai" else server.url
        argv = ["run", str(folder), "--judge", JUDGES[flavour], "--base-url", base_url,
                "--allow-unknown-model", "--seed", str(seed), "--out", str(out)]
        if budget is not None:
            argv += ["--budget", str(budget)]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        with contextlib.ExitStack() as stack:
            if quiet:  # the progress bar and the summary go to the outcome's ``output``
                stack.enter_context(contextlib.redirect_stdout(captured))
                stack.enter_context(contextlib.redirect_stderr(captured))
            code = run_app(build_app(), argv)
        n_requests = len(server.requests)
    path = out / "assessment_run.json"
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    return RunOutcome(code, doc, judge, n_requests, captured.getvalue())


# -- the run's figures against the truth --------------------------------------------------------


@dataclass(frozen=True)
class TruthFigures:
    """A run's figures next to the truth (students only unless said otherwise)."""

    qwk: float
    """Quadratic weighted kappa of the projected (most likely) grades with the known grades."""
    exact: float
    """Share of students whose projected grade is the known grade."""
    n_distinct_grades: int
    """Distinct projected grades among the students (1 = the scale collapsed)."""
    reported_reliability: float
    """The artefact's ``reliability.posterior_reliability`` (used for stopping)."""
    reported_ssr: float | None
    """The artefact's ``reliability.ssr`` (sirt-style MLE SSR)."""
    truth_reliability: float
    """Squared Pearson correlation of the reported theta with the true abilities."""
    truth_reliability_all: float
    """The same over every essay, anchors included (the set the reported figure covers)."""
    spearman: float
    comparisons_per_essay: float
    """Mean successful comparisons an essay took part in (each comparison counts for two)."""
    n_comparisons: int
    n_failed: int
    n_cached: int
    """Comparisons answered from the response cache (the same ordered pair asked again)."""
    n_billed_retries: int
    """Comparisons flagged ``billed_retries:N`` (an invalid reply before the verdict). Retries
    after a 429 or 500 are not billed and show only in ``attempts`` (the requests sent)."""
    theta_sd: float
    """SD of the reported student theta (near 0 when the scale collapsed)."""
    stop_reason: str

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def score_run(doc: dict[str, Any], scenario: TruthScenario) -> TruthFigures:
    """Score an artefact against the scenario's truth."""
    truth = {e.file_name: e for e in scenario.students}
    students = [e for e in doc["essays"] if not e["is_anchor"]]
    if {e["file_name"] for e in students} != set(truth):
        raise AssertionError("the artefact's students are not the scenario's students")
    grades = list(doc["grades"]["grades"]) if doc["grades"].get("available") else []
    true_idx = [truth[e["file_name"]].grade_index for e in students]
    if grades:
        predicted = [grades.index(e["grade_projection"]["grade"]) for e in students]
        qwk = quadratic_weighted_kappa(true_idx, predicted, min_rating=0,
                                       max_rating=len(scenario.grades) - 1)
        exact = float(np.mean(np.equal(true_idx, predicted)))
        distinct = len(set(predicted))
    else:
        qwk, exact, distinct = math.nan, math.nan, 0
    theta = np.array([e["theta"] for e in students], dtype=np.float64)
    true_theta = np.array([truth[e["file_name"]].theta for e in students], dtype=np.float64)
    every = {e.file_name: e.theta for e in scenario.essays}
    theta_all = np.array([e["theta"] for e in doc["essays"]], dtype=np.float64)
    true_all = np.array([every[e["file_name"]] for e in doc["essays"]], dtype=np.float64)
    comparisons = doc["comparisons"]
    reliability = doc["reliability"]
    return TruthFigures(
        qwk=float(qwk),
        exact=exact,
        n_distinct_grades=distinct,
        reported_reliability=float(reliability["posterior_reliability"]),
        reported_ssr=reliability.get("ssr"),
        truth_reliability=_squared_correlation(theta, true_theta),
        truth_reliability_all=_squared_correlation(theta_all, true_all),
        spearman=spearman_rho(theta, true_theta),
        comparisons_per_essay=float(np.mean([e["comparison_count"] for e in doc["essays"]])),
        n_comparisons=len(comparisons),
        n_failed=sum(c["status"] != "succeeded" for c in comparisons),
        n_cached=sum("cached" in c["flags"] for c in comparisons),
        n_billed_retries=sum(any(f.startswith("billed_retries:") for f in c["flags"])
                             for c in comparisons),
        theta_sd=float(theta.std()),
        stop_reason=str(doc["metadata"]["stop_reason"]),
    )


def _squared_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Squared Pearson correlation; 0 when ``x`` is constant (a collapsed scale)."""
    if x.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1] ** 2)
