"""The `jq` examples of docs/artefact.md run against a real artefact and find real data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cjgrade.reports import validate_artefact, write_artefact

DOC = Path(__file__).resolve().parents[2] / "docs" / "artefact.md"
_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def jq_examples() -> list[str]:
    commands = []
    for block in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        commands += [line for line in block.splitlines() if line.startswith("jq ")]
    return commands


def _program(command: str) -> tuple[list[str], str]:
    """Flags and filter of a `jq [flags] 'filter' RUN/assessment_run.json` line."""
    match = re.fullmatch(r"jq((?: -[a-zA-Z]+)*) '(.*)' RUN/assessment_run\.json", command)
    assert match, f"docs example not in the tested form: {command}"
    return match.group(1).split(), match.group(2)


def _keys(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _keys(v, out)
    return out


def test_docs_have_jq_examples() -> None:
    """The artefact doc carries at least eight jq examples in the tested form."""
    commands = jq_examples()
    assert len(commands) >= 8
    for command in commands:
        _program(command)


@pytest.mark.parametrize("command", jq_examples())
def test_jq_example_runs_on_a_real_artefact(
    command: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each example runs (jq binary) and prints real values, not only nulls; without jq,
    every key the filter names exists in the artefact. The sample run (heuristic judge, with
    grades) has no failed comparison and no essay addressing the judge, so the examples for
    those run on a scripted run with both."""
    name = ("artefact" if '"failed"' in command or "injection_flags" in command
            else "sample_artefact")
    sample_artefact: dict[str, Any] = request.getfixturevalue(name)
    validate_artefact(sample_artefact)
    path = write_artefact(sample_artefact, tmp_path)
    flags, program = _program(command)
    jq = shutil.which("jq")
    if jq is None:
        names = set(re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)", program))
        missing = names - _keys(sample_artefact, set()) - {"is_anchor"}
        assert not missing, f"{command}: keys {missing} are not in the artefact"
        return
    out = subprocess.run([jq, *flags, program, str(path)], capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    values = [json.loads(line) for line in out.stdout.splitlines() if line.strip()] if (
        "-c" in "".join(flags)) else [json.loads(out.stdout)]
    assert values, command

    def leaves(v: Any) -> list[Any]:
        if isinstance(v, dict):
            return [x for w in v.values() for x in leaves(w)]
        if isinstance(v, list):
            return [x for w in v for x in leaves(w)]
        return [v]

    assert any(x is not None for v in values for x in leaves(v)), f"{command}: only nulls"
