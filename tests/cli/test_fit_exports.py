"""``cjgrade fit`` on real CJ exports: self-comparisons, disconnected graphs, SE choice, wording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cjgrade.cli import fit_report
from cjgrade.cli.fit_report import choose_se_method, cli_wording
from cjgrade.cli.main import build_app, run_app

HEADER = "judge,candidate_chosen,candidate_not_chosen"
# Two groups with no decision between them; each group has wins and losses both ways.
GROUP_1 = ["j1,a,b", "j1,b,c", "j2,c,a", "j2,a,b", "j1,b,a", "j2,a,c", "j2,c,b"]
GROUP_2 = ["j1,x,y", "j2,y,x", "j1,x,y"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_app(build_app(), argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path: Path, rows: list[str], name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def thetas(report: dict) -> dict[str, float | None]:
    return {it["id"]: it["theta"] for it in report["items"]}


def test_self_comparisons_are_left_out_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Self-comparisons are dropped, counted and located by line; the fit is the one without."""
    rows = list(GROUP_1)
    rows.insert(2, "j1,b,b")  # line 4
    rows.insert(5, "j2,c,c")  # line 7
    code, out, err = run(["fit", str(write(tmp_path, rows))], capsys)
    assert code == 0, err
    assert "left out 2 self-comparison(s)" in err and "line(s) 4, 7" in err
    assert "--strict" in err
    report = json.loads(out)
    assert report["self_comparisons_ignored"] == 2 and report["self_comparison_lines"] == [4, 7]
    assert report["n_comparisons"] == len(GROUP_1)
    _, clean, _ = run(["fit", str(write(tmp_path, GROUP_1, "clean.csv"))], capsys)
    assert thetas(report) == pytest.approx(thetas(json.loads(clean)))
    assert {it["id"]: it["n"] for it in report["items"]} == {"a": 5, "b": 5, "c": 4}


def test_strict_refuses_self_comparisons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--strict: exit 3, one line naming the line number and candidate, no traceback."""
    rows = [*GROUP_1[:3], "j1,b,b", *GROUP_1[3:]]
    code, out, err = run(["fit", str(write(tmp_path, rows)), "--strict"], capsys)
    assert code == 3 and out == ""
    assert "line 5: candidate 'b' is compared with itself" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_candidate_seen_only_in_self_comparisons_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A candidate with no real comparison is listed without an ability; the rest is fitted."""
    code, out, err = run(["fit", str(write(tmp_path, [*GROUP_1, "j1,z,z"]))], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["isolated_items"] == ["z"] and "'z'" in err
    last = report["items"][-1]
    assert last["id"] == "z" and last["theta"] is None and last["se"] is None
    assert last["n"] == 0 and last["component"] is None
    assert report["ssr"] is not None and report["n_items"] == 4
    assert sum(t for t in thetas(report).values() if t is not None) == pytest.approx(0, abs=1e-9)


def test_file_of_only_self_comparisons_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing left to fit is an input error, not a crash."""
    code, _, err = run(["fit", str(write(tmp_path, ["j,a,a", "j,b,b"]))], capsys)
    assert code == 3 and "only 2 self-comparison(s)" in err


def test_disconnected_graph_with_eps_reports_components(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --eps both groups are fitted and their components reported in JSON and table."""
    path = write(tmp_path, GROUP_1 + GROUP_2)
    code, out, err = run(["fit", str(path), "--eps", "0.3"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["components"] == 2 and report["component_sizes"] == [3, 2]
    comp = {it["id"]: it["component"] for it in report["items"]}
    assert comp == {"a": 0, "b": 0, "c": 0, "x": 1, "y": 1}
    assert "2 disconnected components" in err and report["notices"] == [err.strip()]
    assert sum(thetas(report).values()) == pytest.approx(0.0, abs=1e-9)
    code, out, _ = run(["fit", str(path), "--eps", "0.3", "--format", "table"], capsys)
    assert code == 0 and "2 components of 3, 2 items" in out and "comp" in out


def test_disconnected_graph_without_eps_names_the_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --eps or --alpha: exit 4, and the message speaks of flags, not keywords."""
    code, _, err = run(["fit", str(write(tmp_path, GROUP_1 + GROUP_2))], capsys)
    assert code == 4 and "2 disconnected components" in err
    assert "--alpha" in err and "--eps" in err
    assert "alpha >" not in err.replace("--alpha", "") and "eps >" not in err.replace("--eps", "")


def test_position_effect_on_disconnected_graph_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shared position effect cannot be fitted component by component: exit 3, says --alpha."""
    rows = [r + ",A" for r in GROUP_1 + GROUP_2]
    path = tmp_path / "pos.csv"
    path.write_text("\n".join([HEADER + ",position", *rows]) + "\n", encoding="utf-8")
    code, _, err = run(["fit", str(path), "--eps", "0.3", "--position-effect"], capsys)
    assert code == 3 and "--alpha" in err and "alpha >" not in err.replace("--alpha", "")


def test_se_auto_switches_to_diagonal_above_the_dense_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the limit --se auto gives diagonal SEs with a notice; --se fisher is refused."""
    monkeypatch.setattr(fit_report, "DENSE_SE_LIMIT", 2)
    path = write(tmp_path, GROUP_1)
    code, out, err = run(["fit", str(path)], capsys)
    assert code == 0 and json.loads(out)["se_method"] == "diagonal"
    assert "limit for exact standard errors" in err and "--se diagonal" in err
    code, out, err = run(["fit", str(path), "--se", "fisher"], capsys)
    assert code == 3 and out == "" and "--se diagonal" in err and "se_method" not in err
    code, out, _ = run(["fit", str(path), "--se", "none"], capsys)
    report = json.loads(out)
    assert code == 0 and report["se_method"] == "none" and report["ssr"] is None


def test_choose_se_method_at_ten_thousand_items() -> None:
    """auto: fisher up to 6,000 items, diagonal above (with a notice) and with --eps."""
    assert choose_se_method("auto", 0.0, 6000) == ("fisher", None)
    method, notice = choose_se_method("auto", 0.0, 10_000)
    assert method == "diagonal" and notice is not None and "10000 items" in notice
    assert choose_se_method("auto", 0.3, 10) == ("diagonal", None)
    assert choose_se_method("none", 0.0, 10_000) == ("none", None)


def test_all_win_item_message_names_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The statistics core's 'alpha > 0' / 'eps > 0' reach the user as --alpha / --eps."""
    code, _, err = run(
        ["fit", str(write(tmp_path, ["j,top,a", "j,top,b", "j,a,b", "j,b,a"]))], capsys
    )
    assert code == 4 and "'top'" in err
    assert "--alpha" in err and "--eps" in err
    assert "alpha >" not in err.replace("--alpha", "") and "eps >" not in err.replace("--eps", "")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("use a prior (alpha > 0)", "use a prior (--alpha, e.g. --alpha 0.1)"),
        ("or a score adjustment (eps > 0)", "or a score adjustment (--eps, e.g. --eps 0.3)"),
        (
            "pass se_method='diagonal' or 'none', or raise max_dense_se",
            "pass --se diagonal or --se none",
        ),
        (
            "eps=0.4 is too large ...; use a smaller eps",
            "--eps 0.4 is too large ...; use a smaller --eps",
        ),
        ("(last step 0.1); raise max_iter or use a prior", "(last step 0.1); use a prior"),
    ],
)
def test_cli_wording(message: str, expected: str) -> None:
    """Python keywords in core messages become CLI flags."""
    assert cli_wording(message) == expected


def test_soft_p_chosen_is_fitted_on_its_logit(tmp_path, capsys) -> None:
    """Rows with 0 < p_chosen < 1 (not 0.5) are soft outcomes: counted, their noise variance
    estimated and reported; ties (0.5) and empty cells stay Bernoulli."""
    import json

    import numpy as np

    from cjgrade.cli.main import build_app, run_app

    rng = np.random.default_rng(0)
    theta = rng.normal(0.0, 1.0, 12)
    lines = ["judge,candidate_chosen,candidate_not_chosen,p_chosen"]
    n_soft = 0
    for k in range(300):
        i, j = rng.choice(12, 2, replace=False)
        p = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j] + rng.normal(0.0, 0.7))))
        win, lose, pc = (i, j, p) if p >= 0.5 else (j, i, 1.0 - p)
        if k % 10 == 0:
            lines.append(f"r{k % 3},c{win},c{lose},")
        elif k % 10 == 1:
            lines.append(f"r{k % 3},c{win},c{lose},0.5")
        else:
            lines.append(f"r{k % 3},c{win},c{lose},{pc:.4f}")
            n_soft += 1
    path = tmp_path / "llm.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_app(build_app(), ["fit", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["soft_comparisons"] == n_soft
    assert 0.3 < report["soft_noise_variance"] < 0.8
    by_id = {item["id"]: item["theta"] for item in report["items"]}
    fitted = np.array([by_id[f"c{i}"] for i in range(12)])
    assert np.corrcoef(fitted, theta)[0, 1] > 0.95
