"""Reading essays with human scores: three layouts, one shape (:class:`ScoredEssay`).

- **Generic CSV** (``.csv``, or ``.tsv`` with a tab): columns ``id,text,score`` and optionally
  ``set`` (the essay set / prompt; one set called ``all`` without it) and ``rater2`` (a second
  human's score of the same essay, for the human-human ceiling).
- **ASAP-AES** (the Hewlett Foundation layout, tab-separated): ``essay_id, essay_set, essay,
  domain1_score`` and, when present, ``rater1_domain1, rater2_domain1`` (the two readers).
- **Folder**: text files (``*.txt``, ``*.md``) and a ``scores.csv`` with ``id,score`` (``id`` is
  the file name with or without its suffix) and the optional ``set`` and ``rater2`` columns.

Everything is checked before anything is judged: a score that is not a whole number, an empty
text, a duplicate id or a missing column is an :class:`~cjgrade.errors.InputError` naming the
file and line.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cjgrade.display import printable
from cjgrade.errors import InputError
from cjgrade.texts import check_text, is_blank

__all__ = ["ASAP_COLUMNS", "GENERIC_COLUMNS", "ScoredEssay", "load_dataset", "set_sort_key"]

ASAP_COLUMNS = ("essay_id", "essay_set", "essay", "domain1_score")
GENERIC_COLUMNS = ("id", "text", "score")
TEXT_SUFFIXES = (".txt", ".md")
DEFAULT_SET = "all"


@dataclass(frozen=True)
class ScoredEssay:
    """An essay with its human score and, when the data have them, two raters' own scores."""

    essay_id: str
    essay_set: str
    text: str
    score: int
    rater1: int | None = None
    """The first rater's score when it differs in kind from ``score`` (ASAP: ``score`` is the
    resolved score, ``rater1``/``rater2`` the two readers); None when ``score`` is rater 1's."""
    rater2: int | None = None


def set_sort_key(essay_set: str) -> tuple[int, float, str]:
    """Sets in numeric order when their names are numbers (``2`` before ``10``)."""
    try:
        return (0, float(essay_set), essay_set)
    except ValueError:
        return (1, 0.0, essay_set)


def _whole(value: str | None, what: str, where: str, *, required: bool) -> int | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InputError(f"{where}: {what} is empty; every essay needs a numeric score")
        return None
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {printable(text)!r} is not a number; scores must be "
                         "whole numbers such as 3") from None
    if number != int(number):
        raise InputError(f"{where}: {what} {text} is not a whole number; the evaluation "
                         "compares integer score levels (multiply half points by 2)")
    return int(number)


def _rows(file: Path) -> tuple[list[str], Iterable[dict[str, str]]]:
    delimiter = "\t" if file.suffix.lower() in {".tsv", ".tab"} else ","
    csv.field_size_limit(sys.maxsize)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "save it as UTF-8") from None
    reader = csv.DictReader(text.splitlines(keepends=True), delimiter=delimiter)
    return [f.strip() for f in reader.fieldnames or []], reader


def _check_text(text: str, where: str) -> str:
    if is_blank(text):
        raise InputError(f"{where}: the essay text is empty; remove the row or add its text")
    return check_text(text, where)


def _finish(essays: list[ScoredEssay], source: Path) -> list[ScoredEssay]:
    if not essays:
        raise InputError(f"dataset {source} has no essays")
    seen: dict[tuple[str, str], int] = {}
    for essay in essays:
        key = (essay.essay_set, essay.essay_id)
        seen[key] = seen.get(key, 0) + 1
    dupes = sorted(i for (_, i), n in seen.items() if n > 1)
    if dupes:
        raise InputError(f"dataset {source}: duplicate essay ids {printable(dupes[:5])}; "
                         "give every essay its own id")
    return essays


def _load_asap(file: Path, rows: Iterable[dict[str, str]]) -> list[ScoredEssay]:
    essays = []
    for line, row in enumerate(rows, start=2):
        where = f"{file}:{line}"
        essay_set = (row.get("essay_set") or "").strip()
        if not essay_set:
            raise InputError(f"{where}: essay_set is empty")
        score = _whole(row.get("domain1_score"), "domain1_score", where, required=True)
        assert score is not None
        essays.append(ScoredEssay(
            (row.get("essay_id") or "").strip() or f"line{line}", essay_set,
            _check_text(row.get("essay") or "", where), score,
            _whole(row.get("rater1_domain1"), "rater1_domain1", where, required=False),
            _whole(row.get("rater2_domain1"), "rater2_domain1", where, required=False)))
    return essays


def _load_generic(file: Path, rows: Iterable[dict[str, str]],
                  texts: Mapping[str, str] | None = None) -> list[ScoredEssay]:
    essays = []
    for line, row in enumerate(rows, start=2):
        where = f"{file}:{line}"
        essay_id = (row.get("id") or "").strip()
        if not essay_id:
            raise InputError(f"{where}: id is empty; give every essay an id")
        if texts is None:
            text = row.get("text") or ""
        else:
            found = texts.get(essay_id) or texts.get(Path(essay_id).stem)
            if found is None:
                raise InputError(f"{where}: no text file for id {printable(essay_id)!r} in "
                                 f"{file.parent} (looked for {essay_id}.txt or .md)")
            text = found
        score = _whole(row.get("score"), "score", where, required=True)
        assert score is not None
        essays.append(ScoredEssay(
            essay_id, (row.get("set") or "").strip() or DEFAULT_SET,
            _check_text(text, where), score, None,
            _whole(row.get("rater2"), "rater2", where, required=False)))
    return essays


def _load_folder(folder: Path) -> list[ScoredEssay]:
    scores = folder / "scores.csv"
    if not scores.is_file():
        raise InputError(f"{folder} has no scores.csv; a dataset folder needs the essays as "
                         "text files and scores.csv with columns id,score[,set][,rater2]")
    texts: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
            try:
                texts[path.stem] = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") \
                    from None
    fields, rows = _rows(scores)
    missing = [c for c in ("id", "score") if c not in fields]
    if missing:
        raise InputError(f"{scores} lacks columns {missing}; expected id,score[,set][,rater2]")
    return _load_generic(scores, rows, texts)


def load_dataset(path: str | Path) -> list[ScoredEssay]:
    """Every scored essay of ``path`` (a CSV/TSV file or a folder), checked.

    Raises
    ------
    InputError
        A missing file, an unknown layout (the message lists the accepted columns), a score
        that is not a whole number, an empty text, a duplicate id, no essays at all.
    """
    source = Path(path)
    if source.is_dir():
        return _finish(_load_folder(source), source)
    if not source.is_file():
        raise InputError(f"dataset {source} does not exist")
    fields, rows = _rows(source)
    if all(c in fields for c in ASAP_COLUMNS):
        return _finish(_load_asap(source, rows), source)
    if all(c in fields for c in GENERIC_COLUMNS):
        return _finish(_load_generic(source, rows), source)
    raise InputError(
        f"dataset {source} has columns {printable(fields[:8])}; expected "
        f"{','.join(GENERIC_COLUMNS)}[,set][,rater2] (generic) or "
        f"{', '.join(ASAP_COLUMNS)} (ASAP-AES)"
    )
