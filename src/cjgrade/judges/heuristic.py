"""``heuristic/surface``: a deterministic judge from surface features of the text. NOT an LLM.

It reads no rubric and understands nothing: it scores each essay from countable features
(length, vocabulary range, sentence length and variety, paragraphing, spelling-like error
signals) and turns the score difference into ``P(A better) = sigmoid(score_A - score_B)``. It is
the embedded default for the demo and for machines with no key or network, and every verdict
says it is a heuristic. Its agreement with human scores is measured in ``docs/judges.md``.

The weights are set by hand (a priori, not fitted to any evaluation data), so that doubling the
length is worth about one logit and a 5 % rate of malformed tokens about as much.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from cjgrade.judges.base import JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request

__all__ = ["SurfaceFeatures", "SurfaceHeuristicJudge", "extract_features", "score_features"]

_ANON = re.compile(r"@[A-Z]+[0-9]*")  # ASAP-style anonymised entities (@CAPS1, @DATE2)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s+|$)")
_PARAGRAPH = re.compile(r"\n\s*\n|\t|\n(?=\s{2,})")
_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
_REPEAT3 = re.compile(r"(.)\1\1", re.IGNORECASE)
_PUNCT_RUN = re.compile(r"[!?]{2,}|\.{4,}|,,")
# Common non-standard spellings in school essays: missing apostrophes, texting, classic errors.
_NONSTANDARD_WORDS = (
    "dont cant wont didnt doesnt isnt wasnt arent werent im ive id thats theres whats wouldnt "
    "couldnt shouldnt hasnt havent youre theyre u ur alot becuase beleive recieve thier wich "
    "definately untill truely tommorow tommorrow realy finaly sence alright thru cuz gonna "
    "wanna kinda"
)
_NONSTANDARD = frozenset(_NONSTANDARD_WORDS.split())
_NO_VOWEL_WORDS = "mr mrs ms dr st nd rd th vs tv pc cd dvd"
_NO_VOWEL_OK = frozenset(_NO_VOWEL_WORDS.split())


@dataclass(frozen=True)
class SurfaceFeatures:
    """Countable features of one essay."""

    n_words: int
    root_ttr: float
    """Guiraud's index: distinct words / sqrt(words); vocabulary range, less length-bound
    than the plain type-token ratio."""
    long_word_share: float
    """Share of words with seven or more letters."""
    mean_sentence_words: float
    sentence_cv: float
    """Coefficient of variation of sentence length: variety of sentence structure."""
    n_paragraphs: int
    error_rate: float
    """Malformed or non-standard tokens per word (lowercase 'i', no vowel, a letter three
    times in a row, texting spellings, missing apostrophes), plus sentences starting in lower
    case and runs of '!!' or '??'."""


@lru_cache(maxsize=8192)
def extract_features(text: str) -> SurfaceFeatures:
    """Compute the surface features of a text (cached: essays recur across comparisons)."""
    clean = _ANON.sub(" ", text)
    words = _WORD.findall(clean)
    n = len(words)
    if n == 0:
        return SurfaceFeatures(0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)
    lower = [w.lower() for w in words]
    root_ttr = len(set(lower)) / math.sqrt(n)
    long_share = sum(len(w) >= 7 for w in words) / n
    sentences = [s for s in _SENTENCE_END.split(clean) if _WORD.search(s)]
    lengths = [len(_WORD.findall(s)) for s in sentences] or [n]
    mean_len = sum(lengths) / len(lengths)
    var = sum((x - mean_len) ** 2 for x in lengths) / len(lengths)
    cv = math.sqrt(var) / mean_len if mean_len > 0 else 0.0
    paragraphs = max(1, len([p for p in _PARAGRAPH.split(text.strip()) if p.strip()]))
    errors = sum(_is_malformed(w, lw) for w, lw in zip(words, lower, strict=True))
    errors += sum(1 for s in sentences if s.lstrip()[:1].islower())
    errors += len(_PUNCT_RUN.findall(clean))
    return SurfaceFeatures(n, root_ttr, long_share, mean_len, cv, paragraphs, errors / n)


def _is_malformed(word: str, lower: str) -> bool:
    if word == "i" or lower in _NONSTANDARD:
        return True
    if len(word) > 1 and not _VOWEL.search(word) and lower not in _NO_VOWEL_OK:
        return not word.isupper()  # acronyms are fine
    return bool(_REPEAT3.search(lower))


def _sentence_length_penalty(mean_words: float) -> float:
    """Zero for 8-35 words a sentence; grows for fragments and for run-ons."""
    return max(0.0, 8.0 - mean_words) + 0.6 * max(0.0, mean_words - 35.0)


# (name, weight, transform) — contributions are weight * transform(features).
_TERMS = (
    ("length", 1.5, lambda f: math.log1p(f.n_words)),
    ("vocabulary range", 0.25, lambda f: f.root_ttr),
    ("long words", 6.0, lambda f: f.long_word_share),
    ("sentence variety", 1.0, lambda f: min(f.sentence_cv, 1.0)),
    ("sentence length", 0.05, lambda f: -_sentence_length_penalty(f.mean_sentence_words)),
    ("paragraphing", 0.3, lambda f: min(f.n_paragraphs, 5)),
    ("spelling/mechanics", 20.0, lambda f: -f.error_rate),
)


def score_features(features: SurfaceFeatures) -> dict[str, float]:
    """Contribution of each term to an essay's score (the score is their sum)."""
    return {name: weight * fn(features) for name, weight, fn in _TERMS}


class SurfaceHeuristicJudge:
    """The surface-feature heuristic as a judge (deterministic; no network, no cost)."""

    provider = "heuristic"
    model = "surface"

    @property
    def name(self) -> str:
        return "heuristic/surface"

    async def judge(self, request: JudgeRequest) -> Verdict:
        return self.compare(request)

    def compare(self, request: JudgeRequest) -> Verdict:
        """The synchronous core of :meth:`judge`."""
        parts_a = score_features(extract_features(request.essay_a))
        parts_b = score_features(extract_features(request.essay_b))
        diff = sum(parts_a.values()) - sum(parts_b.values())
        p_a = 1.0 / (1.0 + math.exp(-diff))
        flags: tuple[str, ...] = ()
        if diff > 0:
            winner = Winner.A
        elif diff < 0:
            winner = Winner.B
        else:  # nothing to choose: p_a = 0.5 carries the tie; the label must not favour a slot
            winner = Winner.A if request.essay_a >= request.essay_b else Winner.B
            flags = ("tie",)
        return Verdict(
            winner=winner,
            p_a=p_a,
            justification=_justify(winner, parts_a, parts_b),
            provider=self.provider,
            model=self.model,
            request_sha256=fingerprint_request(request),
            raw_response=_raw(parts_a, parts_b),
            flags=flags,
        )


def _justify(winner: Winner, parts_a: dict[str, float], parts_b: dict[str, float]) -> str:
    sign = 1.0 if winner is Winner.A else -1.0
    gains = sorted(((sign * (parts_a[k] - parts_b[k]), k) for k in parts_a), reverse=True)
    reasons = [name for gain, name in gains[:2] if gain > 0]
    because = ", ".join(reasons) if reasons else "no surface difference"
    return f"Non-LLM surface heuristic prefers {winner.value} on {because}."


def _raw(parts_a: dict[str, float], parts_b: dict[str, float]) -> str:
    a = ", ".join(f'"{k}": {v:.4f}' for k, v in parts_a.items())
    b = ", ".join(f'"{k}": {v:.4f}' for k, v in parts_b.items())
    return f'{{"kind": "non-LLM surface heuristic", "A": {{{a}}}, "B": {{{b}}}}}'
