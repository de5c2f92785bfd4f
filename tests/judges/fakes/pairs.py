"""Requests shared by the provider tests (no real student data): the pet essays of the wire
tests, short batch requests, and a clear-cut pair for live tests."""

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


ESSAY_A = "Dogs are loyal companions. They guard the house and love their owners."
ESSAY_B = "Cats are independent. They need little care and keep mice away."


def pet_request(system_prompt: str = "", **settings: object) -> JudgeRequest:
    """The wire tests' request: a full assignment, the two pet essays, ``settings``."""
    return JudgeRequest(
        system_prompt=system_prompt,
        student_prompt="Write about your favourite pet.",
        instructions="Assess content, organisation and language.",
        rubric="Prefer the essay with clearer argument and richer language.",
        essay_a=ESSAY_A,
        essay_b=ESSAY_B,
        settings=JudgeSettings(**settings),  # type: ignore[arg-type]
    )


def short_request(essay_a: str, essay_b: str = "A plain essay about cats.") -> JudgeRequest:
    """A small request for batch tests (each custom id gets its own essay A)."""
    return JudgeRequest(system_prompt="", student_prompt="Pets", instructions="Criteria",
                        rubric="Rubric", essay_a=essay_a, essay_b=essay_b)
