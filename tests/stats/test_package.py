"""The statistics package: public names load on first use."""

from __future__ import annotations

import subprocess
import sys

import cjgrade.stats as stats


def test_every_public_name_resolves() -> None:
    """Every name in cjgrade.stats.__all__ resolves on access and is listed by dir()."""
    for name in stats.__all__:
        assert getattr(stats, name) is not None, name
        assert name in dir(stats)


def test_importing_one_submodule_loads_no_others() -> None:
    """Importing cjgrade.stats.bt does not import the other submodules or scipy.stats."""
    code = (
        "import sys\n"
        "import cjgrade.stats.bt\n"
        "print(','.join(m for m in ('cjgrade.stats.alignment', 'cjgrade.stats.grading', "
        "'cjgrade.stats.pairing', 'scipy.stats') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
