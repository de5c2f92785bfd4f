"""Preflights of the ENG5 NP runner: the assignment (R3), its anchors (R4) and the environment.

* :func:`assignment_preflight` looks the assignment up through the admin API
  (``GET /admin/v1/assessment-instructions/assignment/{id}``), the authoritative source of its
  name (slug), grade scale, context origin and student prompt. ``plan``, ``execute`` and
  ``register-anchors`` run it before anything is written or published. An unknown assignment,
  a refused token (401) and a token of the wrong role (403) fail at once, each with the
  ``cjgrade admin ...`` command that fixes it.
* :func:`anchor_preflight` checks that the assignment has registered anchors on its own grade
  scale (``GET /admin/v1/anchors/assignment/{id}``): ``execute`` is student-only, and only
  ``register-anchors`` (or ``cjgrade admin anchors register``) registers anchors.
* :func:`run` is the ``preflight`` subcommand: database, API, token and role, broker, judge
  model and credentials, one line each (:mod:`cjgrade.runner.eng5.env_checks`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cjgrade.api.client import (
    ApiAuthError,
    ApiClient,
    ApiForbidden,
    ApiNotFound,
)
from cjgrade.api.schemas import AnchorSummary, InstructionOut
from cjgrade.display import printable
from cjgrade.errors import CJGradeError, ConfigError, InputError

__all__ = [
    "RUNNER_TOKEN_COMMAND",
    "AssignmentContext",
    "anchor_preflight",
    "api_target",
    "assignment_preflight",
    "check_rubric_allowed",
    "explain_api_error",
    "kafka_target",
    "run",
]

RUNNER_TOKEN_COMMAND = "cjgrade admin token create --role runner --name eng5-runner"
"""The command that mints the token the runner needs (run where the database is reachable)."""


@dataclass(frozen=True)
class AssignmentContext:
    """What the API says about an assignment (R3); the runner derives nothing itself."""

    assignment_id: str
    name: str | None
    grade_scale: str
    context_origin: str
    student_prompt_storage_id: str | None
    judge_rubric_storage_id: str | None
    instructions_text: str
    instructions_storage_id: str

    @classmethod
    def from_api(cls, out: InstructionOut) -> AssignmentContext:
        return cls(
            assignment_id=out.assignment_id, name=out.name, grade_scale=out.grade_scale,
            context_origin=str(out.context_origin),
            student_prompt_storage_id=out.student_prompt_storage_id,
            judge_rubric_storage_id=out.judge_rubric_storage_id,
            instructions_text=out.instructions_text,
            instructions_storage_id=out.instructions_storage_id,
        )

    @property
    def has_student_prompt(self) -> bool:
        return self.student_prompt_storage_id is not None

    def describe(self, api_url: str) -> str:
        """The one line printed after the lookup."""
        return (
            f"Assignment {printable(self.assignment_id)} (from {api_url}): "
            f"name {printable(self.name) if self.name else '(none)'}, "
            f"grade scale {self.grade_scale}, context origin {self.context_origin}, "
            f"student prompt {'present' if self.has_student_prompt else 'missing'}, "
            f"judge rubric {'present' if self.judge_rubric_storage_id else 'missing'}"
        )

    def as_dict(self) -> dict[str, Any]:
        """For the artefact (the ids, not the texts)."""
        return {
            "assignment_id": self.assignment_id, "name": self.name,
            "grade_scale": self.grade_scale, "context_origin": self.context_origin,
            "student_prompt_storage_id": self.student_prompt_storage_id,
            "judge_rubric_storage_id": self.judge_rubric_storage_id,
        }


def explain_api_error(exc: CJGradeError, api_url: str, *, what: str,
                      needs: str = "runner") -> CJGradeError:
    """The runner's message for an API failure while doing ``what``: a 401 or 403 names the
    token command, anything else keeps the client's message (it already says what to do)."""
    if isinstance(exc, ApiAuthError):
        return ConfigError(
            f"{what}: the API at {api_url} refused the token (401: missing, unknown or revoked); "
            f"create one with `{RUNNER_TOKEN_COMMAND}` and pass it with --token or "
            "CJGRADE_TOKEN"
        )
    if isinstance(exc, ApiForbidden):
        return ConfigError(
            f"{what}: the token's role may not do this (403: {printable(exc)}); the runner needs "
            f"a {needs} or admin token: create one with `cjgrade admin token create --role "
            f"{needs} --name eng5-runner` and pass it with --token or CJGRADE_TOKEN"
        )
    return exc


async def assignment_preflight(
    client: ApiClient,
    assignment_id: str,
    *,
    expected_grade_scale: str | None = None,
    require_student_prompt: bool = False,
    rubric_override: bool = False,
) -> AssignmentContext:
    """Resolve ``assignment_id`` through the admin API (R3).

    Parameters
    ----------
    expected_grade_scale : ``--expected-grade-scale``: an assertion only; a different scale on
        the server is an error (an empty string asserts nothing).
    require_student_prompt : execute needs the assignment's student prompt.
    rubric_override : a ``--rubric`` file was given; refused for ``canonical_national``.

    Raises
    ------
    InputError
        Unknown assignment (with the commands that list and create assignments), a scale other
        than the expected one, a missing student prompt, a rubric override for a
        ``canonical_national`` assignment.
    ConfigError
        401 / 403 (with the token command), an unreachable API.
    """
    try:
        out = await client.get_instructions(assignment_id)
    except ApiNotFound as exc:
        if (exc.problem or {}).get("type") != "https://cjgrade.dev/problems/not-found":
            raise  # a wrong API URL: the client's message says so
        raise InputError(
            f"assignment {printable(assignment_id)} is unknown to the API at {client.base_url} "
            f"({printable(exc)}); list the assignments with `cjgrade admin instructions list` or "
            f"create it with `cjgrade admin instructions create --assignment-id "
            f"{printable(assignment_id)} --grade-scale SCALE --instructions-file FILE "
            "--prompt-file PROMPT`"
        ) from exc
    except (ApiAuthError, ApiForbidden) as exc:
        raise explain_api_error(exc, client.base_url,
                                what=f"looking up assignment {printable(assignment_id)}") from exc
    context = AssignmentContext.from_api(out)
    if expected_grade_scale and expected_grade_scale != context.grade_scale:
        raise InputError(
            f"assignment {printable(assignment_id)} uses grade scale {context.grade_scale}, not "
            f"{printable(expected_grade_scale)} (--expected-grade-scale); check the assignment id, "
            "or drop the assertion"
        )
    if require_student_prompt and not context.has_student_prompt:
        raise InputError(
            f"assignment {printable(assignment_id)} has no student prompt; upload it with "
            f"`cjgrade admin prompts upload --assignment-id {printable(assignment_id)} --file "
            "PROMPT`"
        )
    if rubric_override:
        check_rubric_allowed(context)
    return context


def check_rubric_allowed(context: AssignmentContext) -> None:
    """A ``--rubric`` override is refused for a ``canonical_national`` assignment."""
    if context.context_origin == "canonical_national":
        raise InputError(
            f"assignment {printable(context.assignment_id)} is canonical_national: its judge "
            "rubric may not be overridden; drop --rubric (or use a research_experiment "
            "assignment)"
        )


async def anchor_preflight(client: ApiClient, context: AssignmentContext, *,
                           anchor_dir_hint: str = "PATH") -> AnchorSummary:
    """The assignment's registered anchors on its grade scale (R4); at least two grades.

    Raises
    ------
    InputError
        No anchors on the assignment's scale (anchors left under another scale are named), or
        anchors of a single grade (no grade can be projected), with the commands that register
        anchors.
    ConfigError
        401 / 403.
    """
    aid = printable(context.assignment_id)
    try:
        summary = await client.get_anchors(context.assignment_id)
    except (ApiAuthError, ApiForbidden) as exc:
        raise explain_api_error(exc, client.base_url, what=f"listing the anchors of {aid}") \
            from exc
    register = (f"register them with `eng5-np-run register-anchors {aid} --anchor-dir "
                f"{anchor_dir_hint}` (or `cjgrade admin anchors register --assignment-id {aid} "
                "--grade GRADE --file FILE`)")
    if summary.anchor_count == 0:
        others = {s: n for s, n in summary.anchor_count_by_scale.items()
                  if s != summary.grade_scale and n}
        elsewhere = (f"; {sum(others.values())} anchor(s) are registered under other scales "
                     f"({', '.join(f'{s}: {n}' for s, n in sorted(others.items()))}), which "
                     "this assignment no longer uses") if others else ""
        raise InputError(
            f"assignment {aid} has no anchors on its grade scale {summary.grade_scale}"
            f"{elsewhere}; execute is student-only and takes the registered anchors: {register}"
        )
    grades = {a.grade for a in summary.anchors}
    if len(grades) < 2:
        raise InputError(
            f"assignment {aid} has {summary.anchor_count} anchor(s), all of grade "
            f"{', '.join(sorted(grades))}; projecting grades needs anchors of at least 2 "
            f"grades: {register}"
        )
    return summary


# -- wiring to the runner's settings ------------------------------------------------------------


def api_target(settings: Any) -> tuple[str, str | None]:
    """The API URL and token of a run: ``--api-url``/``--token`` > ``CJGRADE_API_URL``/
    ``CJGRADE_TOKEN`` > the config file > the default URL."""
    from cjgrade.config import load_settings

    base = load_settings()
    return settings.api_url or base.api_url, settings.api_token or base.token


def kafka_target(settings: Any) -> str | None:
    """``--kafka-bootstrap`` > ``KAFKA_BOOTSTRAP_SERVERS`` / the config file."""
    from cjgrade.config import load_settings

    return settings.kafka_bootstrap or load_settings().kafka_bootstrap_servers


def _configured_database(settings: Any) -> Any:
    """The database the runner would use, or None when none is configured explicitly (the
    default SQLite file of ``CJGRADE_HOME`` counts as configured only when it exists)."""
    from cjgrade.config import load_settings

    base = load_settings(database_url=settings.database_url)
    if base.database_url or base.db_parts is not None or base.sqlite_path.exists():
        return base.url()
    return None


def run(settings: Any) -> int:
    """``eng5-np-run preflight``: one line per check; exit 0 when nothing failed, else the
    usage code (2), since every failure here is a setting or a service to start."""
    from cjgrade.runner.eng5 import exit_codes
    from cjgrade.runner.eng5.env_checks import environment_checks
    from cjgrade.runner.eng5.judge_settings import judge_name

    api_url, token = api_target(settings)
    judge, judge_error = None, None
    try:
        judge = judge_name(settings, required=False)
    except ConfigError as exc:
        judge_error = str(exc)
    lines = asyncio.run(environment_checks(
        api_url=api_url, token=token, database_url=_configured_database(settings),
        kafka_bootstrap=kafka_target(settings), judge=judge, judge_error=judge_error,
        llm_base_url=settings.llm_base_url, echo=print))
    failed = [line for line in lines if line.ok is False]
    print(f"Preflight: {len(lines) - len(failed)} of {len(lines)} checks passed or skipped"
          + (f"; {len(failed)} failed" if failed else ""))
    return exit_codes.USAGE if failed else exit_codes.OK
