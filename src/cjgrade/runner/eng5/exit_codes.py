"""Exit codes of ``eng5-np-run``: one distinct code per kind of outcome a script must tell apart.

They follow :mod:`cjgrade.errors` where a kind exists there (2 usage/config, 3 input, 5 judge);
every service failure (judge, store, API server, bus) is folded into :data:`SERVICE_FAILURE`, and
the two runner-only outcomes get codes of their own, above those :mod:`cjgrade.errors` and
``cjgrade run`` use (1-8).

====  ==========================  ==============================================================
code  name                        when
====  ==========================  ==============================================================
0     OK                          the mode finished; for execute: the batch completed
1     INTERNAL                    a bug (unexpected exception; the message says so)
2     USAGE                       bad flags or settings, an unreachable API, a missing or
                                  refused token (401/403), a missing mode module
3     VALIDATION                  inputs refused before anything was spent: malformed files,
                                  grades not in the scale, capacity below 1 (R1), an unknown
                                  assignment (404) or an assignment without anchors (R4)
5     SERVICE_FAILURE             the judge, the store, the API server or the bus failed, or
                                  the batch ended ``failed``
9     EXTRACTION_FAILED           the batch completed (the artefact says so) but the
                                  ``--auto-extract-eng5-db`` export failed (R5)
10    TIMEOUT_PARTIAL             ``--await-completion`` timed out; the artefact holds the
                                  partial data (``validation.runner_status.partial_data``)
130   INTERRUPTED                 Ctrl-C
====  ==========================  ==============================================================
"""

from __future__ import annotations

from cjgrade.errors import (
    BusError,
    CJGradeError,
    ConfigError,
    ConvergenceError,
    InputError,
    JudgeError,
    StorageError,
)

__all__ = [
    "EXTRACTION_FAILED",
    "INTERNAL",
    "INTERRUPTED",
    "OK",
    "SERVICE_FAILURE",
    "TIMEOUT_PARTIAL",
    "USAGE",
    "VALIDATION",
    "exit_code_for",
]

OK = 0
INTERNAL = 1
USAGE = ConfigError.exit_code  # 2
VALIDATION = InputError.exit_code  # 3
SERVICE_FAILURE = JudgeError.exit_code  # 5
EXTRACTION_FAILED = 9
TIMEOUT_PARTIAL = 10
INTERRUPTED = 130


def exit_code_for(exc: CJGradeError) -> int:
    """The runner's exit code of a cjgrade error (see the module table)."""
    if isinstance(exc, ConfigError):
        return USAGE
    if isinstance(exc, InputError):
        return VALIDATION
    if isinstance(exc, JudgeError | StorageError | BusError | ConvergenceError):
        return SERVICE_FAILURE
    return INTERNAL
