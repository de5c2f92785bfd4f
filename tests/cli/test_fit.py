"""``cjgrade fit``: output contract, options, and refusal of bad files (naming the line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cjgrade.cli.main import build_app, run_app

EXAMPLE = Path(__file__).resolve().parents[2] / "src/cjgrade/data/examples/decisions.csv"
HEADER = "judge,candidate_chosen,candidate_not_chosen"
ITEM_KEYS = {"id", "theta", "se", "wins", "losses", "n", "infit", "outfit", "component"}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_app(build_app(), argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BALANCED = "\n".join([HEADER, "j1,a,b", "j1,b,c", "j2,c,a", "j2,a,b", "j1,b,a", "j2,a,c", "j2,c,b"])


def test_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON has the documented keys; items sorted by theta; wins/losses count the rows."""
    code, out, _ = run(["fit", str(write(tmp_path, BALANCED))], capsys)
    assert code == 0
    report = json.loads(out)
    assert {"n_items", "n_comparisons", "ssr", "separation", "items", "judges"} <= set(report)
    assert report["n_items"] == 3 and report["n_comparisons"] == 7
    items = {it["id"]: it for it in report["items"]}
    assert set(items["a"]) == ITEM_KEYS
    assert (items["a"]["wins"], items["a"]["losses"], items["a"]["n"]) == (3, 2, 5)
    thetas = [it["theta"] for it in report["items"]]
    assert thetas == sorted(thetas, reverse=True)
    assert sum(thetas) == pytest.approx(0.0, abs=1e-9)
    assert all(it["se"] > 0 for it in report["items"])
    assert [j["judge"] for j in report["judges"]] == ["j1", "j2"]
    assert [j["n"] for j in report["judges"]] == [3, 4]
    assert report["se_method"] == "fisher"
    assert report["components"] == 1 and report["component_sizes"] == [3]
    assert report["isolated_items"] == []
    assert report["self_comparisons_ignored"] == 0 and report["notices"] == []


def test_soft_outcomes_and_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """p_chosen and position (A/B/1/2, empty = unknown) are read; the position effect is fitted."""
    rows = [HEADER + ",p_chosen,position"]
    for k in range(6):
        rows += [f"j{k},a,b,0.9,A", f"j{k},b,c,0.8,b", f"j{k},c,a,0.6,1", f"j{k},a,c,,2"]
    rows += ["jx,b,a,0.7,"]
    code, out, _ = run(["fit", str(write(tmp_path, "\n".join(rows))), "--position-effect"], capsys)
    assert code == 0, out
    report = json.loads(out)
    assert report["position_effect"] is not None and report["position_se"] > 0


def test_eps_is_sirt_compatible_and_handles_all_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An all-win item fails without options (exit 4, named) and fits with --eps 0.3."""
    text = "\n".join([HEADER, "j,top,a", "j,top,b", "j,a,b", "j,b,a"])
    path = write(tmp_path, text)
    code, _, err = run(["fit", str(path)], capsys)
    assert code == 4 and "'top'" in err
    code, out, _ = run(["fit", str(path), "--eps", "0.3"], capsys)
    report = json.loads(out)
    assert code == 0 and report["se_method"] == "diagonal" and report["eps"] == 0.3
    assert report["extreme_items"] == ["top"]
    code, out, _ = run(["fit", str(path), "--alpha", "0.5", "--se", "fisher"], capsys)
    assert code == 0 and json.loads(out)["se_method"] == "fisher"


def test_table_format_on_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    """The Rich table lists every item of the bundled example."""
    code, out, _ = run(["fit", str(EXAMPLE), "--format", "table", "--eps", "0.3"], capsys)
    assert code == 0
    assert "SSR" in out and "essay_01" in out and "Judges" in out


def test_split_half_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--split-half N adds a split-half reliability, reproducible with --seed."""
    argv = ["fit", str(EXAMPLE), "--alpha", "0.1", "--split-half", "4", "--seed", "7"]
    first = json.loads(run(argv, capsys)[1])["split_half"]
    second = json.loads(run(argv, capsys)[1])["split_half"]
    assert first is not None and first == second


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("judge,candidate_chosen\nj,a\n", "line 1: missing required column"),
        (HEADER + "\n", "no decisions"),
        (HEADER + "\nj,a,b\nj,,b\n", "line 3: candidate_chosen is missing"),
        (HEADER + "\nj,a,b\n,a,b\n", "line 3: judge is missing"),
        (HEADER + ",p_chosen\nj,a,b,0.9\nj,b,a,high\n", "line 3: p_chosen 'high' is not a number"),
        (HEADER + ",p_chosen\nj,a,b,1.5\n", "line 2: p_chosen '1.5' is outside"),
        (HEADER + ",p_chosen\nj,a,b,nan\n", "line 2: p_chosen 'nan' is outside"),
        (HEADER + ",position\nj,a,b,left\n", "line 2: position 'left' is not one of"),
        (HEADER + "\nj,a,b,extra\n", "line 2: more cells than header"),
    ],
)
def test_bad_files_are_refused_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """Every malformed file exits 3 with a one-line message naming the problem and line."""
    code, out, err = run(["fit", str(write(tmp_path, text))], capsys)
    assert code == 3
    assert message in err
    assert out == ""  # nothing fitted or printed from a partly-read file


def test_missing_file_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file, negative alpha, eps out of range, or --position-effect without positions."""
    path = write(tmp_path, BALANCED)
    assert run(["fit", str(tmp_path / "nope.csv")], capsys)[0] == 3
    assert run(["fit", str(path), "--alpha", "-1"], capsys)[0] == 3
    assert run(["fit", str(path), "--eps", "0.7"], capsys)[0] == 3
    code, _, err = run(["fit", str(path), "--position-effect"], capsys)
    assert code == 3 and "position" in err
    assert run(["fit", str(path), "--format", "xml"], capsys)[0] == 2


def test_line_numbers_count_quoted_newlines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quoted id spanning two lines shifts the reported line number correctly."""
    text = HEADER + '\nj,"multi\nline",b\nj,b,b\n'
    code, _, err = run(["fit", str(write(tmp_path, text)), "--strict"], capsys)
    assert code == 3 and "line 4" in err


def test_position_column_means_slot_of_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chosen in slot A in 80% of balanced rows: position effect ~ logit(0.8); 1/2 == A/B."""
    pairs = [("x", "y"), ("y", "z"), ("z", "x"), ("y", "x"), ("z", "y"), ("x", "z")]
    effects = []
    for slot_a, slot_b in (("A", "B"), ("1", "2")):
        rows = [HEADER + ",position"]
        for k in range(10):
            for first, second in pairs:  # first is shown in slot A
                won_a = k < 8
                chosen, other = (first, second) if won_a else (second, first)
                rows.append(f"j,{chosen},{other},{slot_a if won_a else slot_b}")
        path = write(tmp_path, "\n".join(rows), f"pos_{slot_a}.csv")
        code, out, _ = run(["fit", str(path), "--position-effect"], capsys)
        assert code == 0
        report = json.loads(out)
        effects.append(report["position_effect"])
        assert all(abs(it["theta"]) < 1e-9 for it in report["items"])
    assert effects[0] == pytest.approx(np.log(4), abs=1e-8)
    assert effects[1] == pytest.approx(effects[0])
