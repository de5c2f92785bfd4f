"""Small scored datasets the evaluation tests write: known scores, texts that differ."""

from __future__ import annotations

import csv
from pathlib import Path

WORDS = ("river", "lantern", "orchard", "harbour", "meadow", "quarry", "beacon", "thicket")


def essay_text(i: int, score: int) -> str:
    """A distinct text whose length grows with the score, with scatter (as ASAP's do)."""
    body = " ".join(f"{WORDS[(i + k) % len(WORDS)]}" for k in range(4 + 3 * score + (7 * i) % 9))
    return f"Essay {i} about the {WORDS[i % len(WORDS)]}. {body}."


def scored_rows(n_per_level: dict[int, int], *, essay_set: str = "1",
                start: int = 0) -> list[dict[str, str]]:
    """Rows ``id,text,score,set,rater2`` with ``n`` essays at each score level; rater 2
    agrees except on every fifth essay, where it is one point lower."""
    rows, i = [], start
    for score, n in sorted(n_per_level.items()):
        for _ in range(n):
            rater2 = score - 1 if i % 5 == 4 and score > min(n_per_level) else score
            rows.append({"id": f"e{i}", "text": essay_text(i, score), "score": str(score),
                         "set": essay_set, "rater2": str(rater2)})
            i += 1
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], *, delimiter: str = ",") -> Path:
    fields = list(rows[0]) if rows else ["id", "text", "score"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def two_sets(tmp_path: Path) -> Path:
    """Two sets: ``A`` scored 0-3 (8, 10, 10, 8 essays), ``B`` scored 1-4 (6 each)."""
    rows = scored_rows({0: 8, 1: 10, 2: 10, 3: 8}, essay_set="A")
    rows += scored_rows({1: 6, 2: 6, 3: 6, 4: 6}, essay_set="B", start=100)
    return write_csv(tmp_path / "scored.csv", rows)
