"""The HTML report rendered by a real browser (headless Chromium).

Skipped, saying how to install it, when no Chromium binary is on PATH
(Debian/Ubuntu: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cjgrade.reports import write_reports

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
               None)
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no chromium binary on PATH; install it (apt-get install -y chromium) to check the "
           "HTML report in a real browser",
)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    return subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )


@pytest.fixture(scope="module")
def rendered(sample_artefact: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[str, Path]:
    """The sample run's report after the browser has parsed it, and a screenshot of it."""
    out = tmp_path_factory.mktemp("browser")
    html = write_reports(sample_artefact, out)["html"]
    url = html.resolve().as_uri()
    dom = _chromium(out / "profile", "--dump-dom", url).stdout
    shot = out / "report.png"
    _chromium(out / "profile", f"--screenshot={shot}", "--window-size=1200,2000", url)
    return dom, shot


def test_browser_dom_has_the_plots_and_tables(
    rendered: tuple[str, Path], sample_artefact: dict[str, Any]
) -> None:
    """After parsing, the DOM holds the scale and grade plots (SVG with one marker per essay
    and one bar per student) and the essay table with a row per essay."""
    dom, _ = rendered
    assert dom.count("<svg") >= 2
    essays = sample_artefact["essays"]
    assert dom.count("<circle") >= len(essays)
    for e in essays:
        assert e["essay_id"] in dom
    rows = re.findall(r"<tr[ >]", dom)
    assert len(rows) > len(essays)
    assert "not a language model" in dom
    assert "Anchor alignment" in dom and "Tokens and cost" in dom
    assert "['" not in dom and "[(" not in dom  # no Python reprs leak into the page


def test_browser_screenshot_is_a_full_page(rendered: tuple[str, Path]) -> None:
    """Chromium draws the page: a 1200x2000 PNG that is not blank (a blank PNG of that size
    compresses to a few KB)."""
    _, shot = rendered
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2000)
    assert len(data) > 50_000
