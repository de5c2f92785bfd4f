"""``cjgrade simulate``: JSON and table output, flag validation."""

from __future__ import annotations

import json

import pytest

from cjgrade.cli.main import build_app, run_app


def test_simulate_json(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON output has the scenario, the seeds and one summary per strategy."""
    code = run_app(
        build_app(),
        [
            "simulate",
            "--essays",
            "10",
            "--seeds",
            "1",
            "--max-rounds",
            "3",
            "--strategies",
            "random,default",
            "--lapse",
            "0.1",
            "--format",
            "json",
        ],
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenario"]["n_essays"] == 10
    assert report["scenario"]["lapse"] == 0.1
    assert report["seeds"] == [0]
    assert [s["strategy"] for s in report["strategies"]] == ["random", "default"]
    assert report["strategies"][0]["n_runs"] == 1


def test_simulate_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The table names every strategy and explains its columns."""
    code = run_app(
        build_app(),
        [
            "simulate",
            "--essays",
            "8",
            "--seeds",
            "1",
            "--max-rounds",
            "2",
            "--strategies",
            "coverage",
        ],
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "coverage" in out and "split-half" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--strategies", "swiss"], 2, "unknown strategy"),
        (["--format", "xml"], 2, "--format"),
        (["--seeds", "0"], 2, "--seeds"),
        (["--lapse", "2"], 3, "lapse"),
        (["--essays", "2"], 3, "at least 4 essays"),
    ],
)
def test_simulate_rejects_bad_flags(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad flags give a one-line error and a non-zero exit code, before any simulation."""
    assert run_app(build_app(), ["simulate", *args]) == code
    assert message in capsys.readouterr().err
