"""Reading a decisions CSV into item ids and :class:`~cjgrade.stats.bt.PairwiseData`.

Format (header required, column order free, extra columns ignored)::

    judge,candidate_chosen,candidate_not_chosen[,p_chosen][,position]

- ``judge``: who decided (any non-empty text).
- ``candidate_chosen`` / ``candidate_not_chosen``: the ids of the two candidates; the first is
  the one the judge picked.
- ``p_chosen`` (optional): probability in [0, 1] that the chosen candidate is the better one
  (LLM confidence or token probabilities; 0.5 is a tie). An empty cell means a hard decision (1).
  A value strictly between 0 and 1 other than 0.5 is a soft outcome, fitted on its logit with
  an estimated noise variance (``docs/decisions/soft-outcomes.md``).
- ``position`` (optional): the slot the *chosen* candidate was shown in: ``A``/``1`` (first)
  or ``B``/``2`` (second), case-insensitive. An empty cell means unknown; only rows with a
  known position inform the first-position effect.

Every row is validated before anything is fitted; the first bad row raises
:class:`~cjgrade.errors.InputError` naming its line number. A self-comparison (a candidate
compared with itself) is left out and its line number recorded, or refused with ``strict``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cjgrade.errors import InputError
from cjgrade.stats.bt import PairwiseData

__all__ = ["REQUIRED_COLUMNS", "DecisionSet", "parse_decisions", "read_decisions"]

REQUIRED_COLUMNS = ("judge", "candidate_chosen", "candidate_not_chosen")
_SLOT_A = {"a", "1"}
_SLOT_B = {"b", "2"}


@dataclass(frozen=True)
class DecisionSet:
    """Decisions mapped to integer indices.

    Attributes
    ----------
    item_ids, judge_ids : ids in order of first appearance; ``data`` indexes into them.
    data : the comparisons, oriented by slot when the position is known (``a`` = slot A).
    chosen, not_chosen : per row, the index of the chosen and the other candidate.
    has_positions : whether any row gave a position.
    self_comparison_lines : line numbers (physical, 1 = header) of the self-comparisons that
        were left out.
    """

    item_ids: tuple[str, ...]
    judge_ids: tuple[str, ...]
    data: PairwiseData
    chosen: NDArray[np.intp]
    not_chosen: NDArray[np.intp]
    has_positions: bool
    self_comparison_lines: tuple[int, ...] = ()

    @property
    def n_comparisons(self) -> int:
        return self.data.n_comparisons


def read_decisions(path: Path, *, strict: bool = False) -> DecisionSet:
    """Read and validate a decisions CSV file (UTF-8, optional BOM); see :func:`parse_decisions`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a directory; give a decisions CSV file") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text; save the CSV as UTF-8") from exc
    return parse_decisions(io.StringIO(text, newline=""), source=str(path), strict=strict)


def _header(fields: list[str], source: str) -> dict[str, int]:
    """Column positions by name (first occurrence); checks the required columns."""
    names = [f.strip() for f in fields]
    if not any(names):
        raise InputError(
            f"{source} is empty; expected a header line "
            f"'{','.join(REQUIRED_COLUMNS)}' followed by one row per decision"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputError(
            f"{source} line 1: missing required column(s) {', '.join(missing)}; "
            f"the header must contain {', '.join(REQUIRED_COLUMNS)}"
        )
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        columns.setdefault(name, i)
    return columns


def _probability(text: str, source: str, line: int) -> float:
    if text == "":
        return 1.0
    try:
        p = float(text)
    except ValueError:
        raise InputError(f"{source} line {line}: p_chosen {text!r} is not a number") from None
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise InputError(f"{source} line {line}: p_chosen {text!r} is outside [0, 1]")
    return p


def _slot(text: str, source: str, line: int) -> int:
    """0 = unknown, 1 = chosen shown first (A), 2 = chosen shown second (B)."""
    low = text.lower()
    if low == "":
        return 0
    if low in _SLOT_A:
        return 1
    if low in _SLOT_B:
        return 2
    raise InputError(
        f"{source} line {line}: position {text!r} is not one of A, B, 1, 2 (or empty)"
    )


def _padded(row: list[str], n_fields: int, where: str) -> list[str]:
    """Pad a short row with empty cells; refuse one with more cells than the header."""
    if len(row) > n_fields:
        raise InputError(f"{where}: more cells than header columns")
    return row + [""] * (n_fields - len(row))


def _check_present(judge: str, win: str, lose: str, where: str) -> None:
    for name, value in zip(REQUIRED_COLUMNS, (judge, win, lose), strict=True):
        if not value:
            raise InputError(f"{where}: {name} is missing")


def parse_decisions(
    lines: Iterable[str], *, source: str = "<decisions>", strict: bool = False
) -> DecisionSet:
    """Parse decision rows (see the module docstring) from an iterable of CSV lines.

    A self-comparison (``candidate_chosen`` equal to ``candidate_not_chosen``) says nothing
    about any candidate. It is validated like any row, then left out, and its line number is
    recorded in ``self_comparison_lines``; its candidate stays listed (with no comparisons if
    it has no other rows). With ``strict`` it raises :class:`~cjgrade.errors.InputError`.
    """
    reader = csv.reader(lines)
    header = next(reader, [])
    columns = _header(header, source)
    n_fields = len(header)
    i_judge, i_win, i_lose = (columns[c] for c in REQUIRED_COLUMNS)
    i_p, i_pos = columns.get("p_chosen"), columns.get("position")
    items: dict[str, int] = {}
    judges: dict[str, int] = {}
    chosen: list[int] = []
    other: list[int] = []
    probs: list[float] = []
    slots: list[int] = []
    judge_idx: list[int] = []
    self_lines: list[int] = []
    try:
        for row in reader:
            if not row:
                continue  # a blank line
            line = reader.line_num
            if len(row) != n_fields:
                row = _padded(row, n_fields, f"{source} line {line}")
            judge, win, lose = row[i_judge].strip(), row[i_win].strip(), row[i_lose].strip()
            if not (judge and win and lose):
                _check_present(judge, win, lose, f"{source} line {line}")
            if strict and win == lose:
                raise InputError(
                    f"{source} line {line}: candidate {win!r} is compared with itself "
                    "(--strict refuses self-comparisons; without it they are left out with a "
                    "warning)"
                )
            p = 1.0 if i_p is None else _probability(row[i_p].strip(), source, line)
            slot = 0 if i_pos is None else _slot(row[i_pos].strip(), source, line)
            if win == lose:
                items.setdefault(win, len(items))
                self_lines.append(line)
                continue
            probs.append(p)
            slots.append(slot)
            chosen.append(items.setdefault(win, len(items)))
            other.append(items.setdefault(lose, len(items)))
            judge_idx.append(judges.setdefault(judge, len(judges)))
    except csv.Error as exc:
        raise InputError(f"{source} line {reader.line_num}: malformed CSV ({exc})") from exc
    if not chosen:
        if self_lines:
            raise InputError(
                f"{source} has no decisions between two different candidates, only "
                f"{len(self_lines)} self-comparison(s)"
            )
        raise InputError(f"{source} has a header but no decisions")
    decisions = _build(items, judges, chosen, other, probs, slots, judge_idx)
    return replace(decisions, self_comparison_lines=tuple(self_lines))


def _build(
    items: dict[str, int],
    judges: dict[str, int],
    chosen: list[int],
    other: list[int],
    probs: list[float],
    slots: list[int],
    judge_idx: list[int],
) -> DecisionSet:
    win = np.asarray(chosen, dtype=np.intp)
    lose = np.asarray(other, dtype=np.intp)
    p = np.asarray(probs, dtype=np.float64)
    slot = np.asarray(slots, dtype=np.int8)
    in_b = slot == 2  # the chosen one sat in slot B: slot A held the other candidate
    a = np.where(in_b, lose, win)
    b = np.where(in_b, win, lose)
    y = np.where(in_b, 1.0 - p, p)
    data = PairwiseData.build(
        len(items), a, b, y, position_known=slot > 0, judge=np.asarray(judge_idx, dtype=np.intp),
        soft=(p > 0.0) & (p < 1.0) & (p != 0.5),
    )
    return DecisionSet(
        item_ids=tuple(items),
        judge_ids=tuple(judges),
        data=data,
        chosen=win,
        not_chosen=lose,
        has_positions=bool(np.any(slot > 0)),
    )
