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

from pydantic import Field

from cjgrade.config_schema import ConfigTable, validate_table
from cjgrade.errors import ConfigError
from cjgrade.scales.model import GradeScale

__all__ = ["load_scales_file", "parse_scales_toml"]



class ScaleTable(ConfigTable):
    """One ``[[scale]]`` table (see the module docstring)."""

    id: str = Field(min_length=1)
    display_name: str | None = None
    grades: list[str]
    priors: list[float] | None = None
    description: str | None = None
    below_lowest_grade: str | None = None


class ScalesFile(ConfigTable):
    """A grade-scale file: ``[[scale]]`` tables and nothing else."""

    scale: list[ScaleTable]


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
    for pos, entry in enumerate(validate_table(ScalesFile, doc, source=source).scale, start=1):
        try:
            scales.append(_scale_from_table(entry))
        except ConfigError as exc:
            raise ConfigError(f"{source}: scale #{pos}: {exc}") from exc
    ids = [s.scale_id for s in scales]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{source} defines scale ids {dupes} more than once")
    return tuple(scales)


def _scale_from_table(entry: ScaleTable) -> GradeScale:
    grades = entry.grades
    if entry.priors is None:
        priors = tuple(1.0 / len(grades) for _ in grades) if grades else ()
    else:
        priors = tuple(entry.priors)
    return GradeScale(
        scale_id=entry.id,
        display_name=entry.display_name or entry.id,
        grades=tuple(grades),
        priors=priors,
        description=entry.description or "",
        below_lowest_grade=entry.below_lowest_grade,
    )
