"""heuristic/surface: deterministic, symmetric, honest about being a heuristic, and sane."""

from __future__ import annotations

import pytest

from cjgrade.judges import JudgeRequest, Winner, get_judge
from cjgrade.judges.heuristic import SurfaceHeuristicJudge, extract_features

GOOD = (
    "Computers have changed how families communicate, and the change deserves careful thought. "
    "On the one hand, video calls let grandparents watch their grandchildren grow up from "
    "thousands of miles away; on the other, constant notifications fragment our attention.\n\n"
    "Consider the evidence from classrooms. Teachers report that students who research online "
    "develop independent habits, although they sometimes struggle to evaluate sources. "
    "Therefore, schools should teach digital literacy explicitly rather than banning devices.\n\n"
    "In conclusion, technology is neither a blessing nor a curse: its value depends entirely on "
    "how deliberately we choose to use it."
)
POOR = "i think computers r good becuase u can chat. they is fun!! i dont no wat else"


def request(a: str, b: str) -> JudgeRequest:
    return JudgeRequest("system", "prompt", "instructions", "rubric", a, b)


async def test_clearly_better_essay_wins_in_both_positions() -> None:
    """A developed, well-spelled essay beats a short, error-ridden one in either slot."""
    judge = SurfaceHeuristicJudge()
    first = await judge.judge(request(GOOD, POOR))
    second = await judge.judge(request(POOR, GOOD))
    assert first.winner is Winner.A and first.p_a > 0.95
    assert second.winner is Winner.B and second.p_a < 0.05


async def test_deterministic_and_order_symmetric() -> None:
    """Same input, same verdict; swapping the essays gives exactly 1 - p (no position bias)."""
    judge = SurfaceHeuristicJudge()
    text_a = GOOD[:300]
    text_b = GOOD[300:]
    one = await judge.judge(request(text_a, text_b))
    assert one == await judge.judge(request(text_a, text_b))
    swapped = await judge.judge(request(text_b, text_a))
    assert one.p_a + swapped.p_a == pytest.approx(1.0)
    assert one.winner != swapped.winner


async def test_labelled_as_a_non_llm_heuristic() -> None:
    """Provider, justification and raw response all say it is a heuristic, not an LLM."""
    verdict = await get_judge("heuristic/surface").judge(request(GOOD, POOR))
    assert (verdict.provider, verdict.model) == ("heuristic", "surface")
    assert "Non-LLM surface heuristic" in verdict.justification
    assert "non-LLM" in verdict.raw_response
    assert verdict.cost_usd == 0.0


async def test_identical_essays_are_a_flagged_tie() -> None:
    """Identical texts give p = 0.5 and the 'tie' flag."""
    verdict = await SurfaceHeuristicJudge().judge(request(GOOD, GOOD))
    assert verdict.p_a == 0.5 and "tie" in verdict.flags


def test_features_detect_spelling_signals_and_ignore_anonymised_entities() -> None:
    """Lowercase 'i', missing apostrophes and texting spellings raise the error rate; ASAP's
    @CAPS1-style placeholders are not counted as words."""
    clean = extract_features("I do not know. It is fine.")
    sloppy = extract_features("i dont no. u r fine.")
    assert clean.error_rate == 0.0 and sloppy.error_rate > 0.3
    assert extract_features("Dear @CAPS1 @ORGANIZATION2, hello.").n_words == 2


def test_features_of_empty_text() -> None:
    """An empty text has zero features instead of crashing."""
    assert extract_features("   ").n_words == 0


def test_vocabulary_and_paragraph_features() -> None:
    """Paragraph breaks are counted; repeating one word gives a lower vocabulary range."""
    assert extract_features("One.\n\nTwo.\n\nThree.").n_paragraphs == 3
    varied = extract_features("the quick brown fox jumps over a lazy dog near rivers")
    repeated = extract_features("the the the the the the the the the the the")
    assert varied.root_ttr > repeated.root_ttr
