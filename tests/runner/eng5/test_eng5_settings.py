"""The runner's one declaration of its flags, its exit codes, its mode registry, the CLI's
subcommand handling, and the shipped schemas."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from cjgrade.errors import (
    BusError,
    ConfigError,
    ConvergenceError,
    InputError,
    JudgeRateLimited,
    StorageError,
)
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.artefact import RUNNER_SCHEMA_FILE, build_runner_schema
from cjgrade.runner.eng5.settings import MODES, Eng5Settings, load_mode, parse_boundary_pairs
from tests.runner.eng5 import recording_mode
from tests.runner.eng5.conftest import run_cli

RECORDER = "tests.runner.eng5.recording_mode"


def test_flags_are_normalised_and_zero_temperature_is_kept() -> None:
    s = Eng5Settings.from_flags(mode="EXECUTE", course_code="eng7", language="SV",
                                llm_provider="OpenAI", llm_temperature=0.0,
                                expected_grade_scale="", boundary_pairs=None)
    assert (s.mode, s.course_code, s.language, s.llm_provider) == ("execute", "ENG7", "sv",
                                                                   "openai")
    assert s.llm_temperature == 0.0 and s.expected_grade_scale is None
    assert s.completion_timeout == 1800.0
    assert s.run_dir() == s.output_dir / s.batch_uuid
    assert s.artefact_path() == s.run_dir() / "assessment_run.execute.json"
    with pytest.raises(ValueError, match="frozen"):
        s.mode = "plan"  # type: ignore[misc]


def test_every_run_gets_its_own_uuid() -> None:
    assert Eng5Settings().batch_uuid != Eng5Settings().batch_uuid


@pytest.mark.parametrize(("flags", "message"), [
    ({"max_comparisons": 1}, "--max-comparisons is 1; comparative judgement needs at least 2"),
    ({"language": "de"}, "--language must be 'en' or 'sv', not 'de'"),
    ({"course_code": "ENG9"}, "--course-code must be"),
    ({"llm_temperature": 2.5}, "--llm-temperature"),
    ({"llm_max_tokens": 0}, "--llm-max-tokens"),
    ({"reasoning_effort": "extreme"}, "--reasoning-effort must be"),
    ({"output_verbosity": "loud"}, "--output-verbosity must be"),
    ({"artefact_format": "xml"}, "--artefact-format must be"),
    ({"completion_timeout": 0}, "--completion-timeout"),
    ({"batch_id": "  "}, "--batch-id must not be empty"),
    ({"mode": "register"}, "--mode must be"),
    ({"mode": "boundary-test"}, "needs --boundary-pairs"),
    ({"boundary_pairs": "A:B"}, "only used by --mode boundary-test"),
    ({"llm_model": "openai/gpt-5-mini"}, "takes the model name only"),
    ({"auto_extract_eng5_db": True, "kafka_bootstrap": "k:9092"}, "needs --await-completion"),
    ({"auto_extract_eng5_db": True, "mode": "anchor-align-test"},
     "--mode anchor-align-test has none to export"),
    ({"unknown_flag": 1}, "unknown setting 'unknown_flag'"),
])
def test_bad_flags_are_usage_errors_naming_the_flag(flags: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Eng5Settings.from_flags(**flags)
    assert message in str(caught.value)
    assert exit_codes.exit_code_for(caught.value) == exit_codes.USAGE


def test_boundary_pairs_syntax() -> None:
    assert parse_boundary_pairs("003_E-:001_F+, 005_D-:004_E+") == (
        ("003_E-", "001_F+"), ("005_D-", "004_E+"))
    for bad, message in [("A", "one colon"), ("A:", "empty side"), ("A:A", "itself"),
                         ("A:B,A:B", "twice"), (" , ", "no pair")]:
        with pytest.raises(ValueError, match=message):
            parse_boundary_pairs(bad)


def test_public_dict_hides_secrets() -> None:
    data = Eng5Settings(api_token="cjg_secret", database_url="postgresql://u:pw@h/db"
                        ).public_dict()
    assert "cjg_secret" not in json.dumps(data) and "pw@" not in json.dumps(data)
    assert data["api_token_set"] is True


def test_exit_codes_are_distinct_and_follow_the_error_kinds() -> None:
    codes = [exit_codes.OK, exit_codes.USAGE, exit_codes.VALIDATION, exit_codes.SERVICE_FAILURE,
             exit_codes.EXTRACTION_FAILED, exit_codes.TIMEOUT_PARTIAL, exit_codes.INTERRUPTED]
    assert len(set(codes)) == len(codes)
    assert ConfigError.exit_code == exit_codes.USAGE
    assert InputError.exit_code == exit_codes.VALIDATION
    for exc in (JudgeRateLimited("slow down"), StorageError("db"), BusError("bus"),
                ConvergenceError("no fit")):
        assert exit_codes.exit_code_for(exc) == exit_codes.SERVICE_FAILURE


def test_a_mode_whose_module_is_missing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODES, "boundary-test", "cjgrade.runner.eng5.no_such_module")
    with pytest.raises(ConfigError, match="mode 'boundary-test' is not available"):
        load_mode("boundary-test")
    with pytest.raises(ConfigError, match="unknown mode 'x'"):
        load_mode("x")


def test_every_registered_mode_module_has_run() -> None:
    for mode, module in MODES.items():
        if resources.files("cjgrade.runner.eng5").joinpath(
                module.rsplit(".", 1)[1] + ".py").is_file():
            assert callable(load_mode(mode)), mode


# --- CLI ------------------------------------------------------------------------------------


def test_main_options_before_a_subcommand_reach_it(env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The original parsed main options given before ``register-anchors`` and ignored them."""
    monkeypatch.setitem(MODES, "register-anchors", RECORDER)
    monkeypatch.setitem(MODES, "preflight", RECORDER)
    recording_mode.SEEN.clear()
    code, out = run_cli(["--api-url", "http://api.example:8000", "--expected-grade-scale",
                         "eng5_np_legacy_9_step", "--input-dir", str(env), "--verbose",
                         "register-anchors", "eng5_vt17", "--anchor-dir", str(env / "a")])
    assert code == 0, out
    (s,) = recording_mode.SEEN
    assert (s.mode, s.assignment_id, s.anchor_dir) == ("register-anchors", "eng5_vt17",
                                                       env / "a")
    assert s.api_url == "http://api.example:8000" and s.verbose
    assert s.expected_grade_scale == "eng5_np_legacy_9_step" and s.input_dir == env
    code, out = run_cli(["--llm-provider", "openai", "--llm-model", "gpt-5-mini", "preflight"])
    assert code == 0, out
    assert recording_mode.SEEN[-1].mode == "preflight"
    assert recording_mode.SEEN[-1].llm_model == "gpt-5-mini"


def test_environment_supplies_broker_api_and_token(env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODES, "preflight", RECORDER)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("CJGRADE_API_URL", "http://api.env:8000")
    monkeypatch.setenv("CJGRADE_TOKEN", "cjg_env_token")
    recording_mode.SEEN.clear()
    assert run_cli(["preflight"])[0] == 0
    s = recording_mode.SEEN[-1]
    assert (s.kafka_bootstrap, s.api_url, s.api_token) == ("broker:9092", "http://api.env:8000",
                                                           "cjg_env_token")
    assert run_cli(["--kafka-bootstrap", "flag:9092", "--token", "cjg_flag", "preflight"])[0] == 0
    s = recording_mode.SEEN[-1]
    assert (s.kafka_bootstrap, s.api_token) == ("flag:9092", "cjg_flag")


def test_conflicting_subcommand_usage_is_refused(env: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODES, "register-anchors", RECORDER)
    code, out = run_cli(["--mode", "execute", "register-anchors", "x"])
    assert code == exit_codes.USAGE and "do not go together" in out
    code, out = run_cli(["--anchor-dir", "a", "register-anchors", "x", "--anchor-dir", "b"])
    assert code == exit_codes.USAGE and "given twice with different values" in out
    code, out = run_cli(["register-anchors"])  # the positional is required
    assert code == exit_codes.USAGE and "ASSIGNMENT_ID" in out


def test_help_and_unknown_flags(env: Path) -> None:
    code, out = run_cli(["--help"])
    assert code == 0 and "register-anchors" in out and "--llm-batching-mode" in out
    code, out = run_cli(["--no-such-flag"])
    assert code == exit_codes.USAGE and "No such option" in out


def test_missing_judge_is_a_usage_error(env: Path) -> None:
    code, out = run_cli(["--input-dir", str(env)])
    assert code == exit_codes.USAGE and "no judge given: pass --llm-provider and --llm-model" in out


# --- schemas --------------------------------------------------------------------------------


def test_the_shipped_runner_schema_is_the_project_schema_extended() -> None:
    """The runner schema file is generated from the project's: regenerate it (see
    build_runner_schema) whenever the project's artefact schema changes."""
    shipped = json.loads(resources.files("cjgrade.runner.eng5").joinpath(
        f"schema/{RUNNER_SCHEMA_FILE}").read_text(encoding="utf-8"))
    assert shipped == build_runner_schema()


# --- flags only a cluster execute honours (no silent no-op) -------------------------------------


@pytest.mark.parametrize("mode", ["plan", "dry-run", "execute", "anchor-align-test"])
@pytest.mark.parametrize(("flag", "value", "message"), [
    ("completion_timeout", 60.0, "--completion-timeout only applies to --mode execute on a "
                                 "cluster"),
    ("force_reupload", True, "--force-reupload only applies to --mode execute on a cluster"),
])
def test_cluster_only_flags_are_refused_embedded(mode: str, flag: str, value: object,
                                                 message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Eng5Settings.from_flags(mode=mode, **{flag: value})
    assert message in str(caught.value) and "drop the flag" in str(caught.value)


def test_cluster_only_flags_are_kept_for_a_cluster_execute_and_its_plan() -> None:
    for mode in ("plan", "dry-run", "execute"):
        s = Eng5Settings.from_flags(mode=mode, kafka_bootstrap="k:9092", completion_timeout=60,
                                    force_reupload=True)
        assert (s.completion_timeout, s.force_reupload) == (60.0, True)
    with pytest.raises(ConfigError, match="--completion-timeout only applies"):
        Eng5Settings.from_flags(mode="anchor-align-test", kafka_bootstrap="k:9092",
                                completion_timeout=60)
    assert Eng5Settings.from_flags(mode="execute").completion_timeout == 1800.0  # the default


def test_cluster_only_flags_on_the_command_line(env: Path) -> None:
    code, out = run_cli(["--mode", "execute", "--completion-timeout", "30"])
    assert code == exit_codes.USAGE
    assert "--completion-timeout only applies to --mode execute on a cluster" in out
    code, out = run_cli(["--force-reupload", "register-anchors", "np_2017_vt"])
    assert code == exit_codes.USAGE and "--force-reupload only applies" in out
    assert not (env / "eng5_runs").exists()
