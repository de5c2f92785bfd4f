"""``cjgrade judges list``: the models of the manifest with prices and capabilities;
``cjgrade judges sim-abilities``: the abilities file of the simulated judge ``sim/bt``.

JSON output (``--format json``): a list of ``{"judge", "provider", "model", "display_name",
"aliases", "local", "key_env_var", "context_window", "max_output_tokens", "input_per_mtok",
"output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok", "batch_price_factor",
"capabilities"}``; prices are USD per million tokens, ``null`` when unknown; a provider batch
API call costs ``batch_price_factor`` times the list price (``null``: no batch mode or price
unknown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from cjgrade.errors import ConfigError

FORMATS = ("table", "json")
CAPABILITIES = ("temperature", "logprobs", "tools", "reasoning", "batch_api")


def list_models(manifest_path: Path | None = None, provider: str | None = None
                ) -> list[dict[str, Any]]:
    """Rows for ``judges list`` (pure apart from reading the manifest)."""
    from cjgrade.judges.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    if provider is not None:
        manifest.provider(provider)  # ConfigError listing the known providers
    rows = []
    for info in manifest:
        if provider is not None and info.provider != provider:
            continue
        meta = manifest.provider(info.provider)
        rows.append({
            "judge": f"{info.provider}/{info.model}",
            "provider": info.provider,
            "model": info.model,
            "display_name": info.display_name,
            "aliases": manifest.aliases_of(info),
            "local": meta.local,
            "key_env_var": meta.key_env_var,
            "context_window": info.context_window,
            "max_output_tokens": info.max_output_tokens,
            "input_per_mtok": info.input_per_mtok,
            "output_per_mtok": info.output_per_mtok,
            "cache_read_per_mtok": info.cache_read_per_mtok,
            "cache_write_per_mtok": info.cache_write_per_mtok,
            "batch_price_factor": info.batch_price_factor if info.supports_batch_api else None,
            "capabilities": [c for c in CAPABILITIES if getattr(info, f"supports_{c}")],
        })
    return rows


def _price(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


_CAP_CODES = {"temperature": "T", "logprobs": "L", "tools": "U", "reasoning": "R",
              "batch_api": "B"}


def _context(tokens: int | None) -> str:
    if tokens is None:
        return "-"
    return f"{tokens / 1e6:.2g}M" if tokens >= 1_000_000 else f"{tokens // 1000}k"


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Judge models (USD per million tokens)")
    table.add_column("judge", no_wrap=True)
    for col in ("in / out", "cache rd / wr", "ctx", "caps", "key"):
        table.add_column(col, justify="left" if col in {"caps", "key"} else "right",
                         no_wrap=col in {"ctx", "caps"})
    for row in rows:
        caps = "".join(_CAP_CODES[c] for c in row["capabilities"]) or "-"
        table.add_row(
            row["judge"],
            f"{_price(row['input_per_mtok'])} / {_price(row['output_per_mtok'])}",
            f"{_price(row['cache_read_per_mtok'])} / {_price(row['cache_write_per_mtok'])}",
            _context(row["context_window"]),
            caps,
            "local" if row["local"] else (row["key_env_var"] or "-"),
        )
    console = Console()
    console.print(table)
    console.print("caps: T temperature, L logprobs, U tool use, R reasoning, B batch API. "
                  "? unknown price (cost reported as unknown, never 0). heuristic/surface, sim/bt "
                  "and scripted are not LLMs. Aliases: --format json.")


def sim_abilities(folder: Path, scores: Path) -> dict[str, float]:
    """The ``sim/bt`` abilities of an input folder's essays: SHA-256 of each essay's text as
    cjgrade reads it (the document's text, whitespace-trimmed; not the file's bytes, which is
    what ``sha256sum`` hashes) -> the ability that ``scores`` gives it.

    ``scores`` is a CSV with the header ``essay,ability``; ``essay`` is a file name
    (``s01.txt``) or an essay id (``s01``, ``anchor:B1``). Every essay needs exactly one row.
    """
    import csv
    import math

    from cjgrade.cli.run import _read_folder
    from cjgrade.config import load_settings
    from cjgrade.display import printable
    from cjgrade.errors import InputError
    from cjgrade.judges.sim import text_key

    input_folder = _read_folder(folder, {}, None, load_settings().scales_file)
    by_name = {}
    for essay in input_folder.essays:
        by_name[essay.file_name] = by_name[essay.essay_id] = essay
    try:
        with scores.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{printable(scores)}: cannot be read as UTF-8 CSV ({exc})") from None
    if not rows or [c.strip() for c in rows[0]] != ["essay", "ability"]:
        raise InputError(f"{printable(scores)}: the first line must be the header "
                         "`essay,ability`, then one essay per line such as `s01.txt,0.8`")
    abilities: dict[str, float] = {}
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{printable(scores)} line {line}"
        if len(row) != 2:
            raise InputError(f"{where}: expected `essay,ability`, got {len(row)} cells")
        name, value = row[0].strip(), row[1].strip()
        essay = by_name.get(name)
        if essay is None:
            raise InputError(f"{where}: {printable(name)} is no essay of {printable(folder)} "
                             "(give a file name such as s01.txt or an essay id)")
        if essay.essay_id in seen:
            raise InputError(f"{where}: {printable(name)} has a score already")
        try:
            ability = float(value)
        except ValueError:
            ability = math.nan
        if not math.isfinite(ability):
            raise InputError(f"{where}: ability {printable(value)} is not a finite number")
        seen.add(essay.essay_id)
        abilities[text_key(essay.text)] = ability
    missing = [e.file_name for e in input_folder.essays if e.essay_id not in seen]
    if missing:
        raise InputError(f"{printable(scores)} gives no ability for {len(missing)} essay(s): "
                         f"{printable(missing[:5])}; add a row for each")
    return abilities


def register(app: typer.Typer) -> None:
    """Add ``cjgrade judges ...`` to the root app."""
    judges = typer.Typer(help="Judge models: list the manifest; sim/bt abilities.",
                         no_args_is_help=True)

    @judges.command("sim-abilities")
    def sim_abilities_command(
        folder: Path = typer.Argument(..., help="The input folder (as for `cjgrade run`)."),
        scores: Path = typer.Option(..., "--scores", help="CSV `essay,ability` (file name or "
                                    "essay id, true ability in logits)."),
        bare: bool = typer.Option(False, "--bare", help="Print only the abilities mapping, not "
                                  "the --judge-options file around it."),
    ) -> None:
        """Write the abilities of the simulated judge sim/bt for a folder's essays, keyed as
        sim/bt looks them up (SHA-256 of the text cjgrade reads, not of the file). Prints a
        `cjgrade worker --judge-options` file: {"sim/bt": {"abilities": {...}}}."""
        abilities = sim_abilities(folder, scores)
        typer.echo(json.dumps(abilities if bare else {"sim/bt": {"abilities": abilities}},
                              indent=2, sort_keys=True))

    @judges.command("list")
    def list_command(
        fmt: str = typer.Option("table", "--format", help="table or json."),
        provider: str | None = typer.Option(None, "--provider", help="Only this provider."),
        manifest: Path | None = typer.Option(
            None, "--manifest", help="A model manifest TOML instead of the packaged one."),
    ) -> None:
        """Models in the manifest with prices and capabilities."""
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        rows = list_models(manifest, provider)
        if fmt == "json":
            typer.echo(json.dumps(rows, indent=2))
        else:
            _print_table(rows)

    app.add_typer(judges, name="judges")
