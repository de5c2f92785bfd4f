"""Reading user grade scales from a TOML file (the only I/O in ``scales/``).

Format (one ``[[scale]]`` table per scale)::

    [[scale]]
    id = "ib_1_7"                      # required, unique, not a built-in id
    display_name = "IB 1-7"            # optional, defaults to the id
    grades = ["1", "2", "3", "4", "5", "6", "7"]   # required, lowest first, >= 2, unique
    priors = [0.03, 0.07, 0.15, 0.25, 0.25, 0.15, 0.10]  # optional (uniform), sum 1 ± 0.01
    description = "International Baccalaureate"      # optional
    below_lowest_grade = "N"           # optional: a code for essays below the lowest grade
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cjgrade.errors import ConfigError
from cjgrade.scales.model import GradeScale

__all__ = ["load_scales_file", "parse_scales_toml"]

_KEYS = {"id", "display_name", "grades", "priors", "description", "below_lowest_grade"}


def load_scales_file(path: str | Path) -> tuple[GradeScale, ...]:
    """Read and validate every ``[[scale]]`` in the TOML file at ``path``.

    Raises
    ------
    ConfigError
        When the file is missing, is not valid TOML, or defines an invalid scale; the message
        names the file and the scale.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read grade-scale file {file}: {exc.strerror or exc}") from exc
    return parse_scales_toml(text, source=str(file))


def parse_scales_toml(text: str, *, source: str = "<string>") -> tuple[GradeScale, ...]:
    """Parse scales from TOML text (see the module docstring for the format)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from exc
    entries = doc.get("scale")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source} defines no grade scale; add at least one [[scale]] table")
    scales: list[GradeScale] = []
    for pos, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: scale #{pos} is not a table")
        try:
            scales.append(_scale_from_table(entry, pos))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    ids = [s.scale_id for s in scales]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{source} defines scale ids {dupes} more than once")
    return tuple(scales)


def _scale_from_table(entry: dict[str, Any], pos: int) -> GradeScale:
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"scale #{pos} has unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    scale_id = entry.get("id")
    if not isinstance(scale_id, str) or not scale_id.strip():
        raise ConfigError(f"scale #{pos} needs a string 'id'")
    grades = entry.get("grades")
    if not isinstance(grades, list) or not all(isinstance(g, str) for g in grades):
        raise ConfigError(f"scale {scale_id!r} needs 'grades', a list of strings, lowest first")
    priors_raw = entry.get("priors")
    if priors_raw is None:
        priors = tuple(1.0 / len(grades) for _ in grades) if grades else ()
    elif isinstance(priors_raw, list) and all(
        isinstance(p, int | float) and not isinstance(p, bool) for p in priors_raw
    ):
        priors = tuple(float(p) for p in priors_raw)
    else:
        raise ConfigError(f"scale {scale_id!r}: 'priors' must be a list of numbers")
    text_fields = {k: entry.get(k) for k in ("display_name", "description", "below_lowest_grade")}
    for key, value in text_fields.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"scale {scale_id!r}: {key!r} must be a string")
    return GradeScale(
        scale_id=scale_id,
        display_name=str(text_fields["display_name"] or scale_id),
        grades=tuple(grades),
        priors=priors,
        description=str(text_fields["description"] or ""),
        below_lowest_grade=text_fields["below_lowest_grade"],
    )
