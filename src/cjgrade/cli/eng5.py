"""The ``eng5-np-run`` console script: the ENG5 NP research runner (not built yet)."""

from __future__ import annotations

import sys


def main() -> None:
    print(
        "eng5-np-run: not yet implemented; use `cjgrade run` / `cjgrade plan` for now.",
        file=sys.stderr,
    )
    sys.exit(2)
