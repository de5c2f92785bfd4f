"""Reproduce sirt::btm on the 50 real CJ sessions of Kinnear, Jones & Davies (2025).

The researchers fitted every session with ``sirt::btm(maxit=400, fix.eta=0, ignore.ties=TRUE)``
(eps = 0.3). We fit each session's ``decisions.csv`` through the code path of
``cjgrade fit DECISIONS.csv --eps 0.3`` (:func:`cjgrade.cli.fit_report.run_fit`: the CSV reader
with its self-comparison handling, then the component-by-component fit, with sirt's diagonal
SEs chosen by ``--se auto``) and require, on every session: SSR within 0.005 and theta Pearson
r >= 0.995 of sirt's, sepG within 0.05, every item's infit within 1 %.

One session, StadthagenGonzalez2019_spa-to-eng, is five disconnected groups of four items: it is
fitted group by group and the groups are placed where sirt's iteration leaves them
(:mod:`cjgrade.stats.components`), so its abilities match sirt's too.
Reads ../shared/data/cj-sessions and skips when it is absent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cjgrade.cli.fit_report import run_fit
from cjgrade.errors import ConvergenceError
from tests.conftest import shared_data_dir

pytestmark = pytest.mark.realdata
DISCONNECTED = "StadthagenGonzalez2019_spa-to-eng"


def sirt_results(session: Path) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """sirt's effects by id, and its summary."""
    with (session / "sirt_btm_effects.csv").open(newline="") as fh:
        effects = {
            r["individual"]: {k: float(r[k]) for k in ("theta", "se.theta", "infit", "outfit")}
            for r in csv.DictReader(fh)
        }
    return effects, json.loads((session / "sirt_btm_summary.json").read_text())


def compare(session: Path) -> dict[str, Any]:
    """Our CLI report against sirt's fit of the same session."""
    report = run_fit(session / "decisions.csv", eps=0.3)
    effects, summary = sirt_results(session)
    items = report["items"]
    ours = np.array([it["theta"] for it in items])
    se = np.array([it["se"] for it in items])
    sirt = np.array([effects[it["id"]]["theta"] for it in items])
    infit = np.array([it["infit"] for it in items])
    sirt_infit = np.array([effects[it["id"]]["infit"] for it in items])
    return {
        "report": report,
        "ssr": report["ssr"],
        "sirt_ssr": summary["ssr"],
        "r": float(np.corrcoef(ours, sirt)[0, 1]),
        "max_dtheta": float(np.max(np.abs(ours - sirt))),
        "max_dse": float(np.max(np.abs(se - [effects[it["id"]]["se.theta"] for it in items]))),
        "sepG": float(np.sqrt(np.var(ours, ddof=1) / np.mean(se**2))),
        "sirt_sepG": summary["sepG"],
        "infit_rel": float(np.max(np.abs(infit - sirt_infit) / sirt_infit)),
    }


def test_sirt_btm_reproduced_on_real_sessions() -> None:
    """Through the CLI path: SSR within 0.005, r >= 0.995, sepG, infit, on all 50 sessions."""
    root = shared_data_dir("cj-sessions")
    sessions = sorted(p for p in root.iterdir() if (p / "decisions.csv").exists())
    assert len(sessions) == 50
    failed = []
    for session in sessions:
        res = compare(session)
        ok = abs(res["ssr"] - res["sirt_ssr"]) <= 0.005 and res["r"] >= 0.995
        ok = ok and abs(res["sepG"] - res["sirt_sepG"]) <= 0.05 and res["infit_rel"] < 0.01
        if not ok:
            failed.append((session.name, {k: v for k, v in res.items() if k != "report"}))
    assert not failed, failed


def test_disconnected_session_is_fitted_and_placed_as_sirt_does() -> None:
    """Five groups of four: reported as components; abilities and SEs equal sirt's to 1e-4."""
    session = shared_data_dir("cj-sessions") / DISCONNECTED
    res = compare(session)
    report = res["report"]
    assert report["components"] == 5 and report["component_sizes"] == [4] * 5
    assert {it["component"] for it in report["items"]} == set(range(5))
    assert res["max_dtheta"] < 1e-4 and res["max_dse"] < 1e-4
    assert report["ssr"] == pytest.approx(res["sirt_ssr"], abs=1e-4)
    assert any("5 disconnected components" in note for note in report["notices"])
    with pytest.raises(ConvergenceError, match="--eps"):
        run_fit(session / "decisions.csv")
