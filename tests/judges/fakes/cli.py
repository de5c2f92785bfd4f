"""``cjgrade run`` in-process against the wire-level fakes: a small essay folder, an isolated
environment (dummy key, own store) and the CLI's exit code and console output."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tests.judges.fakes import openai_api


def write_folder(root: Path, n_students: int = 5) -> Path:
    """An input folder with instructions and ``n_students`` short essays of distinct lengths."""
    (root / "students").mkdir(parents=True)
    (root / "instructions.md").write_text("Pick the better essay.\n", encoding="utf-8")
    for i in range(n_students):
        text = f"Essay {i}: " + "phones help pupils learn " * (i + 2)
        (root / "students" / f"s{i}.txt").write_text(text, encoding="utf-8")
    return root


def run_cli(argv: list[str]) -> tuple[int, str]:
    """Run ``cjgrade ARGV``; its exit code and everything it printed."""
    from cjgrade.cli.main import build_app, run_app

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        code = run_app(build_app(), argv)
    return code, captured.getvalue()


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake's key, a store under ``tmp_path`` and no inherited database or base URL."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_api.VALID_KEY)
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path
