"""A clear-cut essay pair for live provider tests (no real student data)."""

from __future__ import annotations

from cjgrade.judges.base import JudgeRequest, JudgeSettings

STRONG = (
    "School uniforms deserve a place in our school. First, they reduce the pressure to follow "
    "expensive fashion, so pupils from poorer families are not singled out. Second, they save "
    "time every morning and let us concentrate on learning. Some argue that uniforms limit "
    "self-expression; however, pupils can still express themselves through their ideas, their "
    "work and their activities after school. For these reasons, I believe that the benefits of "
    "uniforms clearly outweigh their drawbacks."
)
WEAK = "uniform is bad i dont like it. its boring. we should wear what we want ok"


def clear_pair(strong_first: bool, settings: JudgeSettings | None = None) -> JudgeRequest:
    a, b = (STRONG, WEAK) if strong_first else (WEAK, STRONG)
    return JudgeRequest(
        system_prompt="",
        student_prompt="Should pupils wear school uniforms? Write a short argumentative essay.",
        instructions="Assess argument, organisation and language accuracy.",
        rubric="The better essay argues clearly, uses paragraphs of reasons and is accurate.",
        essay_a=a,
        essay_b=b,
        settings=settings or JudgeSettings(),
    )
