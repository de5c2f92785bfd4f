"""``cjgrade batches export`` writes the tables as Parquet too (pyarrow installed) and lists
them; the same rows as the CSV files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer

from cjgrade.cli import batches, run
from cjgrade.cli.main import run_app

try:
    import pyarrow.parquet as pq
except ImportError:
    pq = None


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    run.register(app)
    batches.register(app)
    capsys.readouterr()
    code = run_app(app, argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(pq is None, reason="the parquet extra is not installed")
def test_export_lists_the_parquet_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli.test_batches_cli import sample_folder

    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_API_URL", "CJGRADE_TOKEN",
                "CJGRADE_CONFIG", "KAFKA_BOOTSTRAP_SERVERS", "CJGRADE_SCALES_FILE"):
        monkeypatch.delenv(var, raising=False)
    database = f"sqlite+aiosqlite:///{tmp_path / 'runs.sqlite3'}"
    code, _, err = cli(["run", str(sample_folder(tmp_path, budget=32)), "--database-url",
                        database, "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    uuid = json.loads((tmp_path / "run" / "assessment_run.json").read_text())["metadata"][
        "batch_uuid"]
    out_dir = tmp_path / "export"
    code, out, err = cli(["batches", "export", uuid, "--database-url", database, "--out",
                          str(out_dir)], capsys)
    assert code == 0, err
    assert "pyarrow is not installed" not in err
    for name in ("essays", "comparisons", "projections"):
        assert f"{name}_parquet: {out_dir / (name + '.parquet')}" in out
        table = pq.read_table(out_dir / f"{name}.parquet")
        with (out_dir / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert table.num_rows == len(rows) > 0
        assert table.column_names == list(rows[0])
    essays = pq.read_table(out_dir / "essays.parquet").to_pylist()
    assert [e["rank"] for e in essays] == list(range(1, 25))
    assert all(isinstance(e["theta"], float) and isinstance(e["is_anchor"], bool)
               for e in essays)


def test_export_without_pyarrow_says_how_to_get_it(tmp_path: Path) -> None:
    """In a Python where pyarrow cannot be imported (``sys.modules['pyarrow'] = None``, how
    Python itself blocks an import), the export writes everything else and says on stderr that
    Parquet needs ``pip install 'cjgrade[parquet]'``."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CJGRADE_HOME": str(tmp_path / "home")}
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_API_URL", "CJGRADE_TOKEN",
                "CJGRADE_CONFIG", "KAFKA_BOOTSTRAP_SERVERS", "CJGRADE_SCALES_FILE"):
        env.pop(var, None)
    from tests.cli.test_batches_cli import sample_folder

    database = f"sqlite+aiosqlite:///{tmp_path / 'runs.sqlite3'}"
    blocked = ("import sys; sys.modules['pyarrow'] = None; sys.argv[0] = 'cjgrade'; "
               "from cjgrade.cli.main import main; main()")

    def cjgrade(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", blocked, *argv], capture_output=True,
                              text=True, env=env, timeout=300, check=False)

    done = cjgrade("run", str(sample_folder(tmp_path, budget=32)), "--database-url", database,
                   "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    uuid = json.loads((tmp_path / "run" / "assessment_run.json").read_text())["metadata"][
        "batch_uuid"]
    out_dir = tmp_path / "export"
    done = cjgrade("batches", "export", uuid, "--database-url", database, "--out", str(out_dir))
    assert done.returncode == 0, done.stderr
    assert ("note: Parquet files not written: pyarrow is not installed; install it with "
            "`pip install 'cjgrade[parquet]'`") in done.stderr
    assert not list(out_dir.glob("*.parquet")) and "parquet" not in done.stdout
    assert {p.name for p in out_dir.glob("*.csv")} == {"essays.csv", "comparisons.csv",
                                                       "projections.csv"}
