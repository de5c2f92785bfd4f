"""``eng5-np-run register-anchors`` against a live API on PostgreSQL: every file of the folder,
grades from the CSV or the file name (``+``/``-`` kept), checked against the assignment's
scale before anything is written, upserted, one line per anchor and a summary."""

# ruff: noqa: F811 (the fixtures are imported from tests/runner/eng5/live_api.py)

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.eng5 import register
from cjgrade.runner.eng5.settings import Eng5Settings
from tests.runner.eng5.live_api import (  # noqa: F401
    LiveApi,
    _db_templates,
    anchor_text,
    create_assignment,
    live_api,
    pg_url,
    write_eng5_folder,
)

pytestmark = pytest.mark.postgres

ANCHORS = {
    "anchor_essay_eng_5_17_vt_001_F+.txt": anchor_text("F+", 1),
    "anchor_essay_eng_5_17_vt_003_E-.txt": anchor_text("E-", 3),
    "anchor_essay_eng_5_17_vt_008_C+.md": anchor_text("C+", 8),
    "B2.txt": anchor_text("B", 2),
    "Åsa Öberg (SA24 ENG 5 WRITING 2025)_A.txt": anchor_text("A", 12),
}


def _setup(api: LiveApi, *, scale: str = "eng5_np_legacy_9_step") -> None:
    async def go() -> None:
        async with api.client() as admin:
            await create_assignment(admin, scale=scale)

    asyncio.run(go())


def _anchors(api: LiveApi, assignment: str = "np_2017_vt") -> dict[str, str]:
    async def go() -> dict[str, str]:
        async with api.client("read") as client:
            summary = await client.get_anchors(assignment)
        return {a.anchor_label: a.grade for a in summary.anchors}

    return asyncio.run(go())


def _settings(api: LiveApi, root: Path, role: str = "runner", **flags: object) -> Eng5Settings:
    values: dict[str, object] = {"mode": "register-anchors", "assignment_id": "np_2017_vt",
                                 "input_dir": root, "api_url": api.url,
                                 "api_token": api.tokens[role]}
    values.update(flags)
    return Eng5Settings.from_flags(**values)


def test_registers_every_file_then_updates_on_a_second_run(
        live_api: LiveApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _setup(live_api)
    root = write_eng5_folder(tmp_path / "ROLE_MODELS_ENG5_NP_2016", ANCHORS)
    assert register.run(_settings(live_api, root)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Assignment np_2017_vt (from ")
    assert "grade scale eng5_np_legacy_9_step" in out
    assert _anchors(live_api) == {
        "anchor_essay_eng_5_17_vt_001_F+": "F+", "anchor_essay_eng_5_17_vt_003_E-": "E-",
        "anchor_essay_eng_5_17_vt_008_C+": "C+", "B2": "B",
        "Åsa Öberg (SA24 ENG 5 WRITING 2025)_A": "A",
    }
    lines = [line for line in out.splitlines() if line.startswith("registered")]
    assert len(lines) == 5 and any("F+" in line and "001_F+.txt" in line for line in lines)
    assert "Registered 5 anchors for np_2017_vt on eng5_np_legacy_9_step: 5 new, 0 updated; " \
           "the assignment has 5 anchor(s) on its scale" in out
    # Again, with one text changed: upserts, no duplicates.
    (root / "anchor_essays" / "B2.txt").write_text(anchor_text("B", 99), encoding="utf-8")
    assert register.run(_settings(live_api, root)) == 0
    out = capsys.readouterr().out
    assert "5 new" not in out and "0 new, 5 updated" in out
    assert live_api.count("anchors") == 5


def test_anchor_dir_and_csv_grades(live_api: LiveApi, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--anchor-dir elsewhere; the ENG5 CSV of the input folder gives grades by FILE-NAME or
    ANCHOR-ID (a file without a suffix grade takes the CSV's)."""
    _setup(live_api)
    root = write_eng5_folder(tmp_path / "eng5", {})
    lower5 = tmp_path / "eng5" / "anchor_essays_5_lowest_grades"
    lower5.mkdir()
    (lower5 / "weakest one.txt").write_text(anchor_text("F+"), encoding="utf-8")
    (lower5 / "second_E+.txt").write_text(anchor_text("E+"), encoding="utf-8")
    (root / "ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.csv").write_text(
        "ANCHOR-ID,FILE-NAME,pred_mode_grade\nW1,weakest one.txt,F+\nS2,second_E+.txt,E+\n",
        encoding="utf-8")
    assert register.run(_settings(live_api, root, anchor_dir=lower5)) == 0
    assert _anchors(live_api) == {"weakest one": "F+", "second_E+": "E+"}


def test_a_project_layout_folder_with_anchors_csv(live_api: LiveApi, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A cjgrade input folder (instructions.md, anchors/ with anchors.csv, students/):
    register-anchors takes anchors/ and its anchors.csv as the grade file, through the CLI."""
    from tests.runner.eng5.conftest import run_cli

    _setup(live_api)
    root = tmp_path / "proj"
    (root / "anchors").mkdir(parents=True)
    (root / "students").mkdir()
    (root / "instructions.md").write_text("Judge the letters.\n", encoding="utf-8")
    (root / "anchors" / "weak.txt").write_text(anchor_text("F+"), encoding="utf-8")
    (root / "anchors" / "strong.txt").write_text(anchor_text("A"), encoding="utf-8")
    (root / "anchors" / "anchors.csv").write_text("file_name,grade\nweak.txt,F+\n"
                                                  "strong.txt,A\n", encoding="utf-8")
    code, out = run_cli(["--input-dir", str(root), "--api-url", live_api.url, "--token",
                         live_api.tokens["runner"], "register-anchors", "np_2017_vt"])
    assert code == 0, out
    assert _anchors(live_api) == {"weak": "F+", "strong": "A"}
    # The same folder given as --anchor-dir of an ENG5 folder works too (upserts).
    eng5 = write_eng5_folder(tmp_path / "eng5", {})
    assert register.run(_settings(live_api, eng5, anchor_dir=root / "anchors")) == 0
    assert "0 new, 2 updated" in capsys.readouterr().out


def test_folder_problems_register_nothing(live_api: LiveApi, tmp_path: Path) -> None:
    """A grade off the scale, a CSV that contradicts a file name, an empty file: all reported
    at once, and not one anchor is written."""
    _setup(live_api)
    root = write_eng5_folder(tmp_path / "bad", {
        "good_A.txt": anchor_text("A"),
        "odd_Z+.txt": anchor_text("Z"),
        "clash_C+.txt": anchor_text("C+"),
        "empty_B.txt": "   \n",
    })
    (root / "ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.csv").write_text(
        "FILE-NAME,grade\nclash_C+.txt,D-\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        register.run(_settings(live_api, root))
    message = str(caught.value)
    assert "odd_Z+.txt" in message and "eng5_np_legacy_9_step" in message
    assert "clash_C+.txt" in message and "says D- but the file name says C+" in message
    assert "empty_B.txt" in message
    assert live_api.count("anchors") == 0 and live_api.count("content") == 2  # instr + prompt


def test_grades_are_checked_against_the_assignments_scale(live_api: LiveApi,
                                                          tmp_path: Path) -> None:
    """The same files are fine for one scale and refused for another (the server's scale is
    the authority, not the file names)."""
    _setup(live_api, scale="swedish_8_anchor")
    root = write_eng5_folder(tmp_path / "eng5", {"x_F+.txt": anchor_text("F+"),
                                                 "y_A.txt": anchor_text("A")})
    with pytest.raises(InputError, match=r"x_F\+\.txt.*swedish_8_anchor"):
        register.run(_settings(live_api, root))
    assert live_api.count("anchors") == 0


def test_assignment_and_token_failures(live_api: LiveApi, tmp_path: Path) -> None:
    _setup(live_api)
    root = write_eng5_folder(tmp_path / "eng5", {"a_A.txt": anchor_text("A")})
    with pytest.raises(InputError, match="cjgrade admin instructions create --assignment-id "
                                         "other"):
        register.run(_settings(live_api, root, assignment_id="other"))
    with pytest.raises(InputError, match="uses grade scale eng5_np_legacy_9_step, not "
                                         "swedish_8_anchor"):
        register.run(_settings(live_api, root, expected_grade_scale="swedish_8_anchor"))
    bad = Eng5Settings.from_flags(mode="register-anchors", assignment_id="np_2017_vt",
                                  input_dir=root, api_url=live_api.url, api_token="cjg_nope")
    with pytest.raises(ConfigError, match=r"401.*cjgrade admin token create --role runner"):
        register.run(bad)
    with pytest.raises(ConfigError) as caught:  # a read token may look but not register
        register.run(_settings(live_api, root, role="read"))
    assert "403" in str(caught.value) and "--role runner" in str(caught.value)
    assert live_api.count("anchors") == 0
    with pytest.raises(InputError, match="no essay files"):
        empty = tmp_path / "empty"
        (empty / "anchor_essays").mkdir(parents=True)
        register.run(_settings(live_api, empty))


def test_the_cli_uses_main_options_given_before_the_subcommand(
        live_api: LiveApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`eng5-np-run --input-dir X --api-url U --token T register-anchors ID`: the options
    before the subcommand are used (the original silently ignored them); exit codes by kind."""
    from cjgrade.cli.eng5 import run_cli

    _setup(live_api)
    root = write_eng5_folder(tmp_path / "eng5", {"a_A.txt": anchor_text("A"),
                                                 "f_F+.txt": anchor_text("F+")})
    main = ["--input-dir", str(root), "--api-url", live_api.url,
            "--token", live_api.tokens["runner"]]
    assert run_cli([*main, "--expected-grade-scale", "eng5_np_legacy_9_step",
                    "register-anchors", "np_2017_vt"]) == 0
    out = capsys.readouterr().out
    assert "Registered 2 anchors for np_2017_vt" in out and _anchors(live_api) == {
        "a_A": "A", "f_F+": "F+"}
    # The environment works as for the admin CLI.
    monkeypatch.setenv("CJGRADE_API_URL", live_api.url)
    monkeypatch.setenv("CJGRADE_TOKEN", live_api.tokens["runner"])
    assert run_cli(["--input-dir", str(root), "register-anchors", "np_2017_vt"]) == 0
    assert "0 new, 2 updated" in capsys.readouterr().out
    assert run_cli([*main, "register-anchors", "unknown_one"]) == 3
    assert "cjgrade admin instructions create" in capsys.readouterr().err
    monkeypatch.setenv("CJGRADE_TOKEN", "cjg_revoked_or_never_made")
    assert run_cli(["--input-dir", str(root), "register-anchors", "np_2017_vt"]) == 2
    assert "cjgrade admin token create --role runner" in capsys.readouterr().err
