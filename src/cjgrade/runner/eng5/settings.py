"""Every setting of ``eng5-np-run``, declared once: :class:`Eng5Settings`.

The CLI (:mod:`cjgrade.cli.eng5`) parses flags into this one frozen, validated value and hands
it to a mode: each mode is a module with ``def run(settings: Eng5Settings) -> int`` (see
:data:`MODES` and :func:`load_mode`). Field names are the flags in snake case
(``--llm-temperature`` -> ``llm_temperature``). A bad value is a :class:`ConfigError` (exit 2)
naming the flag; the checks that need files or services (inputs, assignment, anchors) live in
the modes and run before anything is written or spent.

Output folders (R2): every run gets a fresh ``batch_uuid`` (uuid4); its files go to
``<output_dir>/<batch_uuid>/`` (:meth:`Eng5Settings.run_dir`), so artefacts of different runs
never overwrite each other. What is shared across runs (the upload cache of R7) lives in
``output_dir`` itself (:meth:`Eng5Settings.output_root`).
"""

from __future__ import annotations

import importlib
import math
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cjgrade.errors import ConfigError
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.exit_codes import exit_code_for

__all__ = [
    "ARTEFACT_FORMATS",
    "COURSE_CODES",
    "DEFAULT_BATCH_LABEL",
    "DEFAULT_INPUT_DIR",
    "DEFAULT_OUTPUT_DIR",
    "LANGUAGES",
    "MODES",
    "Eng5Settings",
    "ModeRunner",
    "exit_code_for",
    "exit_codes",
    "flag_name",
    "load_mode",
    "parse_boundary_pairs",
]

Mode = Literal["plan", "dry-run", "execute", "anchor-align-test", "boundary-test",
               "register-anchors", "preflight"]
CourseCode = Literal["ENG5", "ENG6", "ENG7", "SV1", "SV2", "SV3"]
Language = Literal["en", "sv"]
ReasoningEffort = Literal["none", "low", "medium", "high"]
OutputVerbosity = Literal["low", "medium", "high"]
BatchingMode = Literal["per_request", "provider_batch_api"]
ArtefactFormat = Literal["cjgrade", "huleedu-1.0"]

COURSE_CODES: tuple[str, ...] = ("ENG5", "ENG6", "ENG7", "SV1", "SV2", "SV3")
LANGUAGES: tuple[str, ...] = ("en", "sv")
ARTEFACT_FORMATS: tuple[str, ...] = ("cjgrade", "huleedu-1.0")

DEFAULT_INPUT_DIR = Path("test_uploads") / "ANCHOR ESSAYS" / "ROLE_MODELS_ENG5_NP_2016"
"""The runbook's asset folder, relative to the working directory."""
DEFAULT_OUTPUT_DIR = Path("eng5_runs")
"""Relative to the working directory; each run writes into ``<output_dir>/<batch_uuid>/``."""
DEFAULT_BATCH_LABEL = "eng5-np-local-batch"
DEFAULT_COMPLETION_TIMEOUT_S = 1800.0

ModeRunner = Callable[["Eng5Settings"], int]

MODES: dict[str, str] = {
    "plan": "cjgrade.runner.eng5.plan",
    "dry-run": "cjgrade.runner.eng5.dry_run",
    "execute": "cjgrade.runner.eng5.execute",
    "anchor-align-test": "cjgrade.runner.eng5.align",
    "boundary-test": "cjgrade.runner.eng5.boundary",
    "register-anchors": "cjgrade.runner.eng5.register",
    "preflight": "cjgrade.runner.eng5.preflight",
}
"""Mode (or subcommand) name -> module with ``run(settings) -> int``. Execute delegates to
``cjgrade.runner.eng5.remote.run`` when ``kafka_bootstrap`` is set."""

_FLAG_OVERRIDES = {"api_token": "--token", "batch_id": "--batch-id"}


def flag_name(field: str) -> str:
    """The command-line flag of a settings field (``llm_model`` -> ``--llm-model``)."""
    return _FLAG_OVERRIDES.get(field, "--" + field.replace("_", "-"))


def parse_boundary_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """``"HIGHER:LOWER,HIGHER:LOWER"`` -> ``(("HIGHER", "LOWER"), ...)``.

    Only the syntax is checked here (each item one ``:``, two non-empty distinct sides, no
    repeated pair); whether the names are anchors of the folder is the boundary mode's check.
    """
    pairs: list[tuple[str, str]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.count(":") != 1:
            raise ValueError(f"item {item!r} is not HIGHER:LOWER (one colon between two anchor "
                             "names, e.g. 003_E-:001_F+)")
        higher, lower = (side.strip() for side in item.split(":"))
        if not higher or not lower:
            raise ValueError(f"item {item!r} has an empty side; write HIGHER:LOWER")
        if higher == lower:
            raise ValueError(f"item {item!r} pairs an anchor with itself")
        if (higher, lower) in pairs:
            raise ValueError(f"pair {item!r} is given twice")
        pairs.append((higher, lower))
    if not pairs:
        raise ValueError("no pair given; write HIGHER:LOWER[,HIGHER:LOWER...]")
    return tuple(pairs)


class Eng5Settings(BaseModel):
    """One run of the ENG5 NP runner: every flag, validated, frozen.

    Build it with :meth:`from_flags` (turns validation errors into one :class:`ConfigError`
    naming the flags). ``batch_uuid`` is created once per run (R2); ``batch_id`` is only a
    human label.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mode: Mode = "plan"
    input_dir: Path = Field(default_factory=lambda: Path.cwd() / DEFAULT_INPUT_DIR)
    assignment_id: str | None = None
    course_id: str | None = None
    course_code: CourseCode = "ENG5"
    language: Language = "en"
    batch_id: str = DEFAULT_BATCH_LABEL
    """A human label (events, artefact ``metadata.label``, file names); never an identity."""
    expected_grade_scale: str | None = None
    """An assertion only: the assignment's scale must be this one."""
    max_comparisons: int | None = None
    await_completion: bool = False
    completion_timeout: float = Field(DEFAULT_COMPLETION_TIMEOUT_S, gt=0)
    """Seconds a cluster execute waits with --await-completion; refused anywhere else."""
    auto_extract_eng5_db: bool = False
    force_reupload: bool = False
    """Bypass the upload cache of a cluster execute; refused anywhere else."""
    output_dir: Path = Field(default_factory=lambda: Path.cwd() / DEFAULT_OUTPUT_DIR)
    database_url: str | None = Field(None, repr=False)
    """The store of an embedded execute (default: the configured store, as ``cjgrade run``)."""
    llm_provider: str | None = None
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_temperature: float | None = Field(None, ge=0.0, le=2.0)
    """``0.0`` is a value (greedy decoding), not "unset"; None means the provider default."""
    llm_max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    reasoning_effort: ReasoningEffort | None = None
    output_verbosity: OutputVerbosity | None = None
    system_prompt: Path | None = None
    rubric: Path | None = None
    llm_batching_mode: BatchingMode | None = None
    verbose: bool = False
    kafka_bootstrap: str | None = None
    api_url: str | None = None
    api_token: str | None = Field(None, repr=False)
    boundary_pairs: tuple[tuple[str, str], ...] | None = None
    boundary_iterations: int = Field(10, ge=1, le=10_000)
    artefact_format: ArtefactFormat = "cjgrade"
    anchor_dir: Path | None = None
    batch_uuid: str = Field(default_factory=lambda: str(uuid.uuid4()))

    # --- normalisation ----------------------------------------------------------------------

    @field_validator("course_code", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("language", "llm_provider", "reasoning_effort", "output_verbosity",
                     "llm_batching_mode", "artefact_format", "mode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return value or None
        return value

    @field_validator("expected_grade_scale", "assignment_id", "course_id", "llm_model",
                     "llm_base_url", "kafka_bootstrap", "api_url", "api_token", "database_url",
                     mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("batch_id")
    @classmethod
    def _label(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty (it is the human label of the run)")
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise ValueError("must be at most 200 printable characters")
        return value

    @field_validator("max_comparisons")
    @classmethod
    def _max_comparisons(cls, value: int | None) -> int | None:
        # R1: a single comparison gives a one-pair batch that cannot rank anything.
        if value is not None and value < 2:
            raise ValueError(
                f"is {value}; comparative judgement needs at least 2 comparisons: pass "
                "--max-comparisons 2 or more (or leave it out for the default budget)")
        return value

    @field_validator("completion_timeout")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        return value

    @field_validator("boundary_pairs", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_boundary_pairs(value)
        return value

    @field_validator("batch_uuid")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return str(uuid.UUID(value))

    @model_validator(mode="after")
    def _combinations(self) -> Eng5Settings:
        if self.llm_model and not self.llm_provider and "/" in self.llm_model:
            raise ValueError("--llm-model takes the model name only; give the provider with "
                             "--llm-provider (e.g. --llm-provider openai --llm-model gpt-5-mini)")
        if self.auto_extract_eng5_db and self.kafka_bootstrap and not self.await_completion:
            raise ValueError("--auto-extract-eng5-db over Kafka needs --await-completion (the "
                             "rows exist only once the batch has completed)")
        # Flags only a cluster execute honours are refused elsewhere, never silently ignored
        # (plan and dry-run with a broker accept them: they validate the execute command).
        cluster = bool(self.kafka_bootstrap) and self.mode in ("plan", "dry-run", "execute")
        where = ("only applies to --mode execute on a cluster (--kafka-bootstrap or "
                 "KAFKA_BOOTSTRAP_SERVERS)")
        if not cluster and "completion_timeout" in self.model_fields_set:
            raise ValueError(f"--completion-timeout {where}; an embedded run waits in this "
                             "process until its batch ends (Ctrl-C stops it resumably): drop "
                             "the flag")
        if not cluster and self.force_reupload:
            raise ValueError(f"--force-reupload {where}, whose upload cache it bypasses; an "
                             "embedded run uploads nothing (its texts go straight into the "
                             "store): drop the flag")
        if self.auto_extract_eng5_db and self.mode not in ("plan", "dry-run", "execute"):
            raise ValueError(f"--auto-extract-eng5-db exports an execute batch's rows; --mode "
                             f"{self.mode} has none to export (its figures are in the "
                             "artefact and its report): drop the flag")
        if self.boundary_pairs is not None and self.mode != "boundary-test":
            raise ValueError("--boundary-pairs is only used by --mode boundary-test")
        if self.mode == "boundary-test" and not self.boundary_pairs:
            raise ValueError("--mode boundary-test needs --boundary-pairs HIGHER:LOWER[,...]")
        return self

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_flags(cls, **flags: Any) -> Eng5Settings:
        """Validate flags (None means "not given": the default applies) into settings.

        Raises
        ------
        ConfigError
            One line naming every offending flag and what is allowed.
        """
        given = {k: v for k, v in flags.items() if v is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(err) for err in exc.errors(include_url=False))
                              ) from None

    # --- derived ----------------------------------------------------------------------------

    @property
    def judge_name(self) -> str | None:
        """``provider/model`` from ``--llm-provider``/``--llm-model`` (None when neither is
        given; a model without a provider is resolved by :mod:`judge_settings`)."""
        if self.llm_provider and self.llm_model:
            return f"{self.llm_provider}/{self.llm_model}"
        return None

    def output_root(self) -> Path:
        """The folder shared by runs (upload cache); never holds an artefact itself."""
        return self.output_dir

    def run_dir(self) -> Path:
        """This run's folder, ``<output_dir>/<batch_uuid>`` (R2: runs never overwrite)."""
        return self.output_dir / self.batch_uuid

    def artefact_path(self, mode: str | None = None) -> Path:
        """``<run_dir>/assessment_run.<mode>.json``."""
        return self.run_dir() / f"assessment_run.{mode or self.mode}.json"

    def public_dict(self) -> dict[str, Any]:
        """The settings as recorded in artefacts and logs: JSON types, no secrets (the API
        token and the database URL are left out)."""
        data = self.model_dump(mode="json", exclude={"api_token", "database_url"})
        data["api_token_set"] = self.api_token is not None
        return data


def _describe(err: Mapping[str, Any]) -> str:
    loc = err.get("loc") or ()
    field = str(loc[0]) if loc else ""
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not field:
        return message
    flag = flag_name(field)
    kind = err.get("type")
    value = err.get("input")
    if kind == "extra_forbidden":
        return f"unknown setting {field!r}"
    if kind == "literal_error" and field == "mode":
        return (f"--mode must be plan, dry-run, execute, anchor-align-test or boundary-test, "
                f"not {value!r} (register-anchors and preflight are subcommands: "
                "eng5-np-run [OPTIONS] register-anchors ASSIGNMENT_ID)")
    if kind == "literal_error":
        allowed = message.removeprefix("Input should be ")
        return f"{flag} must be {allowed}, not {value!r}"
    return f"{flag} {message[0].lower() + message[1:] if message else 'is invalid'}"


def load_mode(mode: str) -> ModeRunner:
    """The ``run`` function of a mode, imported on first use.

    Raises
    ------
    ConfigError
        Unknown mode, or a mode whose module is not part of this installation yet.
    """
    try:
        module_name = MODES[mode]
    except KeyError:
        raise ConfigError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(
            f"mode {mode!r} is not available in this installation ({module_name} is missing); "
            f"available: {', '.join(m for m in MODES if _importable(MODES[m]))}") from None
    runner: ModeRunner = module.run
    return runner


def _importable(module_name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module_name) is not None
