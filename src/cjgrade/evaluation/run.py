"""Running one evaluation batch through the product: ``run_embedded`` on a throw-away database.

The batch is what ``cjgrade run`` would create for the same essays: anchors with their human
score as grade, students without, the set's score levels as grade scale, the engine's pairing
and stopping rules (or a fixed budget per essay), grade projection at the end. The database is
a temporary SQLite file removed afterwards: an evaluation leaves nothing in the user's store.

Judges (:class:`JudgeSetup`): the one under evaluation (any registry name, ``--base-url`` for an
OpenAI-compatible server) and the baselines, all through :func:`cjgrade.judges.get_judge`:

- ``heuristic``: ``heuristic/surface``;
- ``random``: ``sim/bt`` with every ability 0 (a fair coin per comparison);
- ``length``: ``sim/bt`` whose abilities are the log word counts with noise 0.05 (the longer
  essay wins, a 5 % longer one with odds e:1);
- ``scores``: ``sim/scores`` knowing the human scores (belief noise, soft or hard outcomes).
"""

from __future__ import annotations

import math
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cjgrade.domain import Essay
from cjgrade.engine.embedded import run_embedded
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.progress import ProgressListener
from cjgrade.engine.results import BatchResult
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.errors import ConfigError
from cjgrade.evaluation.design import SetDesign
from cjgrade.judges.sim import text_key

__all__ = ["BASELINES", "EVAL_INSTRUCTIONS", "JudgeSetup", "SetRun", "batch_spec",
           "check_judge", "judge_options", "needs_essays", "run_design"]

EVAL_INSTRUCTIONS = (
    "Both essays answer the same writing task. Judge which one a trained teacher would give "
    "the higher holistic score: content, organisation, style and conventions."
)
BASELINES = ("heuristic", "random", "length", "scores")
"""Baseline judges ``--baselines`` may name (module docstring)."""
LENGTH_NOISE = 0.05


@dataclass(frozen=True)
class JudgeSetup:
    """A judge row of the evaluation: what is built and how it is labelled."""

    label: str
    """Row label (``openai/gpt-5-mini``, ``baseline heuristic``, ...)."""
    name: str
    """Registry name (``provider/model``)."""
    kind: str = "judge"
    """``judge`` (as named), or a baseline: ``heuristic``, ``random``, ``length``, ``scores``."""
    base_url: str | None = None
    allow_unknown_model: bool = False
    belief_noise: float = 1.0
    soft: bool = True

    @classmethod
    def baseline(cls, kind: str, *, belief_noise: float = 1.0, soft: bool = True) -> JudgeSetup:
        names = {"heuristic": "heuristic/surface", "random": "sim/bt", "length": "sim/bt",
                 "scores": "sim/scores"}
        if kind not in names:
            raise ConfigError(f"unknown baseline {kind!r}; use any of {', '.join(BASELINES)}")
        label = {"heuristic": "heuristic/surface", "random": "random (coin flip)",
                 "length": "length (longer wins)",
                 "scores": f"sim/scores (noise {belief_noise:g}, {'soft' if soft else 'hard'})"}
        return cls(label=label[kind], name=names[kind], kind=kind, belief_noise=belief_noise,
                   soft=soft)


def judge_options(setup: JudgeSetup, design: SetDesign) -> dict[str, Any] | None:
    """The adapter options a judge needs for one batch (the simulated ones know the essays)."""
    kind = setup.kind if setup.kind != "judge" else (
        "scores" if setup.name == "sim/scores" else "judge")
    essays = design.set_essays or (*design.anchors, *design.students)
    if kind == "scores":
        by_text: dict[str, list[int]] = defaultdict(list)
        for essay in essays:
            by_text[text_key(essay.text)].append(essay.score)
        return {"scores": {k: sum(v) / len(v) for k, v in by_text.items()},
                "belief_noise": setup.belief_noise, "soft": setup.soft, "seed": design.seed}
    if kind == "random":
        return {"abilities": {text_key(e.text): 0.0 for e in essays}, "seed": design.seed}
    if kind == "length":
        return {"abilities": {text_key(e.text): math.log(max(1, len(e.text.split())))
                              for e in essays},
                "noise": LENGTH_NOISE, "seed": design.seed}
    return None


def batch_spec(design: SetDesign, setup: JudgeSetup, *, budget_per_essay: float | None,
               concurrency: int) -> BatchSpec:
    """The batch ``cjgrade run`` would make of this design; validated (no judge is called)."""
    essays = (*(Essay(f"anchor-{e.essay_id}", e.text, True, str(e.score))
                for e in design.anchors),
              *(Essay(f"student-{e.essay_id}", e.text) for e in design.students))
    options: dict[str, Any] = {"seed": design.seed, "concurrency": concurrency}
    if budget_per_essay is not None:  # a fixed budget, spent to the end: no early stop
        options.update(budget=max(1, round(budget_per_essay * len(essays))),
                       target_reliability=None, stability_threshold=None, target_se=None)
    spec = BatchSpec(
        essays=essays, instructions=EVAL_INSTRUCTIONS, judge=setup.name,
        grade_scale=design.scale.scale_id,
        student_prompt=f"Essays written for task {design.essay_set} of an evaluation dataset "
                       "(the task text is not shown).",
        label=f"eval set {design.essay_set} seed {design.seed}", base_url=setup.base_url,
        options=BatchOptions(**options), user_scales=(design.scale,),
    )
    validate_spec(spec)
    return spec


@dataclass(frozen=True)
class SetRun:
    """One finished evaluation batch."""

    design: SetDesign
    setup: JudgeSetup
    budget_per_essay: float | None
    result: BatchResult


def _builder(setup: JudgeSetup, options: Mapping[str, Any] | None) -> Any:
    def build(name: str, base_url: str | None, cache: Any) -> Any:
        from cjgrade.judges import get_judge, load_manifest
        from cjgrade.judges.manifest import split_judge_name

        local = load_manifest().provider(split_judge_name(name)[0]).local
        return get_judge(name, base_url=base_url, allow_unknown_model=setup.allow_unknown_model,
                         options=options, cache=None if local else cache)

    return build


def needs_essays(setup: JudgeSetup) -> bool:
    """Whether the judge is built from the essays (the simulated ones)."""
    return setup.kind in ("scores", "random", "length") or setup.name == "sim/scores"


def check_judge(setup: JudgeSetup, design: SetDesign | None = None) -> None:
    """Build the judge once (unknown model, missing key, bad options fail here, unpaid); a
    simulated judge needs a ``design`` to know its essays and is skipped without one."""
    if setup.kind == "judge" and setup.name == "sim/bt":
        raise ConfigError("sim/bt needs true abilities, which a scored dataset does not give; "
                          "evaluate sim/scores (it knows the human scores) or use the random "
                          "and length baselines, which are built on sim/bt")
    if design is None and needs_essays(setup):
        return
    options = judge_options(setup, design) if design is not None else None
    _builder(setup, options)(setup.name, setup.base_url, None)


async def run_design(design: SetDesign, setup: JudgeSetup, *, budget_per_essay: float | None,
                     concurrency: int, progress: ProgressListener | None = None) -> SetRun:
    """Run the batch of ``design`` with ``setup``'s judge to its end."""
    spec = batch_spec(design, setup, budget_per_essay=budget_per_essay, concurrency=concurrency)
    build = _builder(setup, judge_options(setup, design))
    with tempfile.TemporaryDirectory(prefix="cjgrade-eval-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'eval.db'}"
        run = await run_embedded(spec, build_judge=build, target=url, progress=progress)
    return SetRun(design, setup, budget_per_essay, run.result)
