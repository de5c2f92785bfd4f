"""Reading a decisions CSV into item ids and :class:`~cjgrade.stats.bt.PairwiseData`.

Format (header required, column order free, extra columns ignored)::

    judge,candidate_chosen,candidate_not_chosen[,p_chosen][,position]

- ``judge``: who decided (any non-empty text).
- ``candidate_chosen`` / ``candidate_not_chosen``: the ids of the two candidates; the first is
  the one the judge picked.
- ``p_chosen`` (optional): probability in [0, 1] that the chosen candidate is the better one
  (LLM confidence or token probabilities; 0.5 is a tie). An empty cell means a hard decision (1).
- ``position`` (optional): the slot the *chosen* candidate was shown in: ``A``/``1`` (first)
  or ``B``/``2`` (second), case-insensitive. An empty cell means unknown; only rows with a
  known position inform the first-position effect.

Every row is validated before anything is fitted; the first bad row raises
:class:`~cjgrade.errors.InputError` naming its line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
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
    """

    item_ids: tuple[str, ...]
    judge_ids: tuple[str, ...]
    data: PairwiseData
    chosen: NDArray[np.intp]
    not_chosen: NDArray[np.intp]
    has_positions: bool

    @property
    def n_comparisons(self) -> int:
        return self.data.n_comparisons


def read_decisions(path: Path) -> DecisionSet:
    """Read and validate a decisions CSV file (UTF-8, optional BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a directory; give a decisions CSV file") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text; save the CSV as UTF-8") from exc
    return parse_decisions(io.StringIO(text, newline=""), source=str(path))


def _header(reader: csv.DictReader[str], source: str) -> tuple[bool, bool]:
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if not fields:
        raise InputError(
            f"{source} is empty; expected a header line "
            f"'{','.join(REQUIRED_COLUMNS)}' followed by one row per decision"
        )
    reader.fieldnames = fields
    missing = [c for c in REQUIRED_COLUMNS if c not in fields]
    if missing:
        raise InputError(
            f"{source} line 1: missing required column(s) {', '.join(missing)}; "
            f"the header must contain {', '.join(REQUIRED_COLUMNS)}"
        )
    return "p_chosen" in fields, "position" in fields


def _cell(row: dict[str, str | None], name: str) -> str:
    value = row.get(name)
    return "" if value is None else value.strip()


def _probability(text: str, where: str) -> float:
    if text == "":
        return 1.0
    try:
        p = float(text)
    except ValueError:
        raise InputError(f"{where}: p_chosen {text!r} is not a number") from None
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise InputError(f"{where}: p_chosen {text!r} is outside [0, 1]")
    return p


def _slot(text: str, where: str) -> int:
    """0 = unknown, 1 = chosen shown first (A), 2 = chosen shown second (B)."""
    low = text.lower()
    if low == "":
        return 0
    if low in _SLOT_A:
        return 1
    if low in _SLOT_B:
        return 2
    raise InputError(f"{where}: position {text!r} is not one of A, B, 1, 2 (or empty)")


def parse_decisions(lines: Iterable[str], *, source: str = "<decisions>") -> DecisionSet:
    """Parse decision rows (see the module docstring) from an iterable of CSV lines."""
    reader = csv.DictReader(lines)
    has_p, has_pos = _header(reader, source)
    items: dict[str, int] = {}
    judges: dict[str, int] = {}
    chosen: list[int] = []
    other: list[int] = []
    probs: list[float] = []
    slots: list[int] = []
    judge_idx: list[int] = []
    try:
        for row in reader:
            where = f"{source} line {reader.line_num}"
            if row.get(None):
                raise InputError(f"{where}: more cells than header columns")
            judge, win, lose = (_cell(row, c) for c in REQUIRED_COLUMNS)
            for name, value in zip(REQUIRED_COLUMNS, (judge, win, lose), strict=True):
                if not value:
                    raise InputError(f"{where}: {name} is missing")
            if win == lose:
                raise InputError(f"{where}: candidate {win!r} is compared with itself")
            probs.append(_probability(_cell(row, "p_chosen"), where) if has_p else 1.0)
            slots.append(_slot(_cell(row, "position"), where) if has_pos else 0)
            chosen.append(items.setdefault(win, len(items)))
            other.append(items.setdefault(lose, len(items)))
            judge_idx.append(judges.setdefault(judge, len(judges)))
    except csv.Error as exc:
        raise InputError(f"{source} line {reader.line_num}: malformed CSV ({exc})") from exc
    if not chosen:
        raise InputError(f"{source} has a header but no decisions")
    return _build(items, judges, chosen, other, probs, slots, judge_idx)


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
        len(items), a, b, y, position_known=slot > 0, judge=np.asarray(judge_idx, dtype=np.intp)
    )
    return DecisionSet(
        item_ids=tuple(items),
        judge_ids=tuple(judges),
        data=data,
        chosen=win,
        not_chosen=lose,
        has_positions=bool(np.any(slot > 0)),
    )
