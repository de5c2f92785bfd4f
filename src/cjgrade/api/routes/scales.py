"""``/admin/v1/scales``: the grade scales known to this server: the built-ins of
``cjgrade.scales`` and the user scales of its ``CJGRADE_SCALES_FILE``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from cjgrade.api.auth import ANY_ROLE, Principal
from cjgrade.api.schemas import ScaleOut
from cjgrade.scales import GradeScale, list_scales

router = APIRouter(tags=["grade scales"])


@router.get(
    "/admin/v1/scales",
    response_model=list[ScaleOut],
    summary="Grade scales, grades low to high (roles: admin, runner, read)",
)
async def read_scales(request: Request, _: Principal = Depends(ANY_ROLE)) -> list[ScaleOut]:
    return [scale_out(scale) for scale in list_scales(request.app.state.user_scales)]


def scale_out(scale: GradeScale) -> ScaleOut:
    return ScaleOut(
        scale_id=scale.scale_id,
        display_name=scale.display_name,
        grades=list(scale.grades),
        population_priors=dict(zip(scale.grades, scale.priors, strict=True)),
        description=scale.description,
        allows_below_lowest=scale.allows_below_lowest,
        below_lowest_grade=scale.below_lowest_grade,
    )
