"""``cjgrade judges list``: the models of the manifest with prices and capabilities.

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


def register(app: typer.Typer) -> None:
    """Add ``cjgrade judges ...`` to the root app."""
    judges = typer.Typer(help="Judge models: list the manifest.", no_args_is_help=True)

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
