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
    assert report["strategies"][0]["vs_baseline"] is None  # the baseline itself


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
    assert "coverage" in out and "split-half" in out and "paired difference" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--strategies", "swiss"], 2, "unknown strategy"),
        (["--format", "xml"], 2, "--format"),
        (["--seeds", "0"], 2, "--seeds"),
        (["--lapse", "2"], 3, "lapse"),
        (["--essays", "2"], 2, "--essays 2 is outside 4-2,000"),
        (["--essays", "100000000"], 2, "choose --essays between 4 and 2,000"),
        (["--max-rounds", "0"], 2, "--max-rounds"),
        (["--first-seed", "-1"], 2, "choose --first-seed between 0 and"),
    ],
)
def test_simulate_rejects_bad_flags(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad flags give a one-line error and a non-zero exit code, before any simulation."""
    assert run_app(build_app(), ["simulate", *args]) == code
    assert message in capsys.readouterr().err


def test_simulate_without_reliability(capsys: pytest.CaptureFixture[str]) -> None:
    """``--no-reliability`` reports the pairing figures and the information per comparison,
    and leaves the sampled and split-half reliabilities out (null), where the default run
    fills them in."""
    args = ["simulate", "--essays", "20", "--seeds", "1", "--max-rounds", "15"]
    args += ["--strategies", "random", "--format", "json"]
    assert run_app(build_app(), [*args, "--no-reliability"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["strategies"]
    assert row["reported_gap"] is None and row["split_half_gap"] is None
    assert row["to_spearman"] is not None
    assert 0.0 < row["information_to_spearman"] < 0.25
    assert run_app(build_app(), args) == 0
    (full,) = json.loads(capsys.readouterr().out)["strategies"]
    assert full["split_half_gap"] is not None


def test_simulate_soft_judge(capsys: pytest.CaptureFixture[str]) -> None:
    """A logprob-like judge: the scenario records the outcome and each strategy its coverage
    of the 95% intervals beside the reported and truth-based reliabilities."""
    code = run_app(
        build_app(),
        ["simulate", "--essays", "16", "--sd", "0.4", "--seeds", "2", "--max-rounds", "7",
         "--strategies", "random", "--outcome", "logprob", "--belief-noise", "0.8",
         "--power", "2", "--format", "json"],
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenario"]["outcome"] == "logprob"
    assert report["scenario"]["power"] == 2.0
    row = report["strategies"][0]
    assert 0.0 <= row["coverage"] <= 1.0
    assert row["reported_gap"] is not None


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--outcome", "guess"], "--outcome must be one of"),
     (["--outcome", "confidence", "--power", "0"], "power must be a positive number")],
)
def test_simulate_rejects_bad_judge_flags(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_app(build_app(), ["simulate", "--seeds", "1", *flags])
    assert code != 0
    assert message in capsys.readouterr().err
