"""A stand-in mode module for CLI tests: records the settings it is run with."""

from __future__ import annotations

from cjgrade.runner.eng5.settings import Eng5Settings

SEEN: list[Eng5Settings] = []


def run(settings: Eng5Settings) -> int:
    SEEN.append(settings)
    return 0
