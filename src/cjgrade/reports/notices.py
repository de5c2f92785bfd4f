"""Notices both reports give a teacher, from the artefact: essays whose text tries to steer the
judge (``essays[].injection_flags``, since schema 1.4), verdicts served from the response cache
(``costs.n_cache_hits``, ``costs.by_model[].cache_hits``, since 1.3), and what a judge that is
not a language model decides from (``metadata.judge_is_llm``; the description is the model
manifest's, :func:`cjgrade.judges.manifest.local_judge_description`, as in ``cjgrade plan``).

Everything here returns plain text; the Markdown and HTML renderers escape it (essay ids,
file names and phrases come from outside).
"""

from __future__ import annotations

from typing import Any

from cjgrade.judges.manifest import local_judge_description

__all__ = [
    "INJECTION_EXPLANATION",
    "INJECTION_HEADING",
    "cache_sentence",
    "flagged_essays",
    "injection_line",
    "injection_rows",
    "judge_note",
]

INJECTION_HEADING = "Text aimed at the judge (possible prompt injection)"
INJECTION_EXPLANATION = (
    "These essays contain text that addresses the grader or an AI, asks for a mark, or tries "
    "to dictate the verdict. They were judged like the others, as written: the judge was told "
    "that essay text is data, never instructions, and nothing was removed or penalised. Read "
    "them before using their results."
)


def flagged_essays(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The essays with at least one injection flag, in artefact order."""
    return [e for e in doc.get("essays") or [] if e.get("injection_flags")]


def injection_line(doc: dict[str, Any]) -> str:
    """One line for the report header: how many essays were flagged, or that none was."""
    essays = doc.get("essays") or []
    if essays and all("injection_flags" not in e for e in essays):
        return "not checked (artefact written before schema 1.4)"
    flagged = flagged_essays(doc)
    if not flagged:
        return f"none found in {len(essays)} essays"
    noun = "essay" if len(flagged) == 1 else "essays"
    return f"{len(flagged)} {noun} flagged (see below)"


def injection_rows(doc: dict[str, Any]) -> list[list[str]]:
    """``[essay, file, code, phrase]`` for every flag of every flagged essay."""
    return [
        [str(e["essay_id"]), str(e.get("file_name") or ""), str(flag["code"]),
         str(flag["phrase"])]
        for e in flagged_essays(doc)
        for flag in e["injection_flags"]
    ]


def cache_sentence(costs: dict[str, Any]) -> str | None:
    """Why a run cost less than its comparisons suggest, when verdicts came from the response
    cache; None when none did."""
    hits = int(costs.get("n_cache_hits") or 0)
    if hits <= 0:
        return None
    total = int(costs.get("n_succeeded") or hits)
    verdicts = "verdict" if total == 1 else "verdicts"
    return (f"{hits} of the {total} {verdicts} came from the response cache: already paid for "
            "by an earlier run or comparison, they cost nothing this time.")


def judge_note(meta: dict[str, Any]) -> str | None:
    """What the run's judge decides from when it is not a language model (``metadata``'s
    ``judge_is_llm`` false); None for a language model."""
    if meta.get("judge_is_llm", True):
        return None
    return (local_judge_description(str(meta["judge"]))
            or "this version of cjgrade has no description of it")
