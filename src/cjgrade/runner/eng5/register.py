"""``eng5-np-run register-anchors ASSIGNMENT_ID [--anchor-dir PATH]``: register a folder of
anchor essays through the admin API (R4: the only runner path that registers anchors).

1. The assignment preflight (R3): name, grade scale, context origin, prompt; 404/401/403 fail
   with the ``cjgrade admin ...`` command that fixes them; ``--expected-grade-scale`` asserted.
2. Every essay file of the folder is read, and its grade taken from the CSV or from the
   file-name suffix (``..._F+.docx`` -> ``F+``, ``B2.txt`` -> ``B``: ``+``/``-`` kept, a
   trailing counter dropped). A CSV grade that contradicts the suffix is an error.
3. Every grade is checked against the assignment's scale *as the server defines it*
   (``GET /admin/v1/scales``), and every problem of the folder is reported at once, before
   anything is registered.
4. Each anchor is upserted (``POST /admin/v1/anchors/register``; label = file stem, so running
   it again updates instead of duplicating); one line per anchor, then a summary with the
   assignment's anchor count on its scale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cjgrade.api.client import ApiAuthError, ApiClient, ApiForbidden
from cjgrade.api.schemas import AnchorRegistered, ScaleOut
from cjgrade.display import printable
from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.eng5.inputs import read_inputs
from cjgrade.runner.eng5.preflight import assignment_preflight, explain_api_error
from cjgrade.runner.inputs import InputEssay
from cjgrade.scales import BUILTIN_SCALES, GradeScale

__all__ = ["RegisteredAnchor", "default_anchor_dir", "read_anchor_folder", "register_anchors",
           "run", "scale_from_api"]

_CONCURRENCY = 4


@dataclass(frozen=True)
class RegisteredAnchor:
    file_name: str
    label: str
    grade: str
    result: AnchorRegistered


def scale_from_api(scales: Sequence[ScaleOut], scale_id: str) -> GradeScale:
    """The server's definition of ``scale_id`` (user scales of the server included)."""
    for out in scales:
        if out.scale_id == scale_id:
            return GradeScale(
                scale_id=out.scale_id, display_name=out.display_name, grades=tuple(out.grades),
                priors=tuple(out.population_priors[g] for g in out.grades),
                description=out.description, below_lowest_grade=out.below_lowest_grade,
            )
    raise ConfigError(f"the API lists no grade scale {scale_id!r} although an assignment uses "
                      "it; check the server's CJGRADE_SCALES_FILE")


def read_anchor_folder(input_dir: Path, anchor_dir: Path | None,
                       scale: GradeScale) -> tuple[InputEssay, ...]:
    """Every anchor essay of the folder with its grade on ``scale`` (the runner's one input
    reader: CSV or file-name suffix, contradictions and off-scale grades refused, every
    problem at once). Without an input folder the anchor folder's parent is the root (where
    the ENG5 CSV lives)."""
    root = input_dir if input_dir.is_dir() or anchor_dir is None else anchor_dir.parent
    user_scales = () if scale.scale_id in {b.scale_id for b in BUILTIN_SCALES} else (scale,)
    inputs = read_inputs(root, scale_id=scale.scale_id, user_scales=user_scales,
                         need_students=False, need_anchors=True, need_instructions=False,
                         anchor_dir=anchor_dir or default_anchor_dir(root))
    return inputs.folder.anchors


async def register_anchors(
    client: ApiClient,
    assignment_id: str,
    *,
    input_dir: Path,
    anchor_dir: Path | None = None,
    expected_grade_scale: str | None = None,
    echo: Callable[[str], None] = print,
) -> list[RegisteredAnchor]:
    """Check the assignment and every anchor, then upsert them all (module docstring).

    Raises
    ------
    InputError
        Unknown assignment, an empty folder, any anchor problem (nothing is registered then).
    ConfigError
        401/403 with the token command; an unreachable API.
    """
    context = await assignment_preflight(client, assignment_id,
                                         expected_grade_scale=expected_grade_scale)
    echo(context.describe(client.base_url))
    try:
        scale = scale_from_api(await client.list_scales(), context.grade_scale)
    except (ApiAuthError, ApiForbidden) as exc:
        raise explain_api_error(exc, client.base_url, what="reading the grade scales") from exc
    anchors = read_anchor_folder(input_dir, anchor_dir, scale)
    if not anchors:
        raise InputError("the anchor folder has no essay files (.txt, .md, .docx, .pdf); point "
                         "--anchor-dir at the folder of graded anchor essays")
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(anchor: InputEssay) -> RegisteredAnchor:
        label, grade = Path(anchor.file_name).stem, str(anchor.grade)
        async with gate:
            result = await client.register_anchor(context.assignment_id, grade, label,
                                                  anchor.text)
        echo(f"{result.status:<10} {grade:<4} {printable(label)}  "
             f"(anchor {result.anchor_id}, {printable(anchor.file_name)})")
        return RegisteredAnchor(anchor.file_name, label, grade, result)

    outcomes = await asyncio.gather(*(one(a) for a in anchors), return_exceptions=True)
    done = [o for o in outcomes if isinstance(o, RegisteredAnchor)]
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        first = failures[0]
        if isinstance(first, ApiAuthError | ApiForbidden):
            first = explain_api_error(first, client.base_url, what="registering anchors")
        echo(f"{len(done)} of {len(anchors)} anchors registered before the failure "
             "(running it again updates them; nothing is duplicated)")
        raise first
    new = sum(1 for r in done if r.result.status == "registered")
    summary = await client.get_anchors(context.assignment_id)
    echo(f"Registered {len(done)} anchors for {printable(context.assignment_id)} on "
         f"{context.grade_scale}: {new} new, {len(done) - new} updated; the assignment has "
         f"{summary.anchor_count} anchor(s) on its scale")
    return done


def default_anchor_dir(input_dir: Path) -> Path:
    """``anchor_essays/`` of the ENG5 layout, else ``anchors/`` of the project layout."""
    for name in ("anchor_essays", "anchors"):
        if (input_dir / name).is_dir():
            return input_dir / name
    return input_dir / "anchor_essays"


def run(settings: Any) -> int:
    """``eng5-np-run register-anchors ASSIGNMENT_ID``: the settings' ``assignment_id``,
    ``anchor_dir`` (default ``<input_dir>/anchor_essays``), ``input_dir`` (the ENG5 CSV) and
    ``expected_grade_scale``; the main options given before the subcommand apply too."""
    from cjgrade.runner.eng5 import exit_codes
    from cjgrade.runner.eng5.preflight import api_target

    if not settings.assignment_id:
        raise ConfigError("register-anchors needs the assignment id: eng5-np-run "
                          "register-anchors ASSIGNMENT_ID [--anchor-dir PATH]")
    api_url, token = api_target(settings)

    async def go() -> list[RegisteredAnchor]:
        async with ApiClient(api_url, token) as client:
            return await register_anchors(
                client, settings.assignment_id, input_dir=Path(settings.input_dir),
                anchor_dir=Path(settings.anchor_dir) if settings.anchor_dir else None,
                expected_grade_scale=settings.expected_grade_scale)

    asyncio.run(go())
    return exit_codes.OK
