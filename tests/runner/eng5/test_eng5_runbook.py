"""The inspection recipes of docs/runbook.md run with the `jq` binary against a real execute
artefact and print real values (the original's recipes failed or printed indices)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cjgrade.runner.eng5.settings import Eng5Settings
from tests.runner.eng5.conftest import write_eng5_folder
from tests.runner.eng5.test_eng5_modes import scripted_builder

DOC = Path(__file__).resolve().parents[3] / "docs" / "runbook.md"
_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
_FORM = re.compile(r"jq((?: -[a-zA-Z]+)*) '(.*)' RUN/assessment_run\.execute\.json")


def recipes() -> list[str]:
    found = []
    for block in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        found += [line.strip() for line in block.splitlines() if line.strip().startswith("jq ")]
    return found


def test_the_runbook_has_recipes_in_the_tested_form() -> None:
    assert len(recipes()) >= 8
    for command in recipes():
        assert _FORM.fullmatch(command), command


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    from cjgrade.runner.eng5 import execute

    root = tmp_path_factory.mktemp("runbook")
    saved = os.environ.get("CJGRADE_HOME")
    os.environ["CJGRADE_HOME"] = str(root / "home")
    try:
        settings = Eng5Settings.from_flags(
            mode="execute", input_dir=write_eng5_folder(root / "in"), llm_provider="scripted",
            llm_model="default", output_dir=root / "runs", max_comparisons=30,
            auto_extract_eng5_db=True)
        assert execute.run(settings, judge_builder=scripted_builder([])) == 0
    finally:
        if saved is None:
            os.environ.pop("CJGRADE_HOME", None)
        else:
            os.environ["CJGRADE_HOME"] = saved
    return settings.artefact_path()


@pytest.mark.parametrize("command", recipes())
def test_recipe_runs_on_a_real_artefact(command: str, artefact: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    match = _FORM.fullmatch(command)
    assert match
    flags, program = match.group(1).split(), match.group(2)
    done = subprocess.run(["jq", *flags, program, str(artefact)], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    outputs = [json.loads(line) for line in done.stdout.splitlines() if line.strip()] \
        if "-c" in flags else [json.loads(done.stdout)]
    assert outputs and any(o not in (None, [], {}) for o in outputs), done.stdout

    def has_value(value: object) -> bool:
        if isinstance(value, dict):
            return any(has_value(v) for v in value.values())
        if isinstance(value, list):
            return any(has_value(v) for v in value)
        return value is not None

    assert all(has_value(o) for o in outputs), done.stdout
