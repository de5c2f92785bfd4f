"""``/admin/v1/scales``: the grade scales known to this server (from ``cjgrade.scales``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from cjgrade.api.auth import ANY_ROLE, Principal
from cjgrade.api.schemas import ScaleOut

router = APIRouter(tags=["grade scales"])


@router.get(
    "/admin/v1/scales",
    response_model=list[ScaleOut],
    summary="Grade scales, grades low to high (roles: admin, runner, read)",
)
async def read_scales(_: Principal = Depends(ANY_ROLE)) -> list[ScaleOut]:
    from cjgrade.scales import list_scales

    return [scale_out(scale) for scale in list_scales()]


def scale_out(scale: Any) -> ScaleOut:
    priors = getattr(scale, "population_priors", None)
    grades = [str(g) for g in scale.grades]
    if priors is not None and not isinstance(priors, dict):
        priors = dict(zip(grades, (float(p) for p in priors), strict=True))
    return ScaleOut(
        scale_id=scale.scale_id,
        display_name=scale.display_name,
        grades=grades,
        population_priors=priors,
        description=scale.description,
        allows_below_lowest=bool(scale.allows_below_lowest),
        below_lowest_grade=scale.below_lowest_grade,
    )
