"""From the runner's judge flags to the judge, its batch options and its prompts.

Every judge setting reaches the provider request (the original silently dropped reasoning
effort and attributed runs to the wrong model):

* ``--llm-provider``/``--llm-model`` name the judge; the model is checked against the
  manifest (``judges/models.toml``) *for the provider it names*; a model given alone must
  belong to exactly one provider of the manifest.
* ``--llm-temperature`` (0.0 kept), ``--llm-max-tokens``, ``--reasoning-effort`` and
  ``--output-verbosity`` become batch options (:class:`BatchOptions`), stored with the batch
  and sent with every request (``JudgeRequest.settings``); they are part of the request hash.
* ``--llm-batching-mode provider_batch_api`` judges each round through the provider's batch
  API (as ``cjgrade run --batch-api``); ``per_request`` sends one request per comparison.
* ``--system-prompt`` and ``--rubric`` replace the default system prompt and the folder's
  rubric; ``--language`` adds a line to the system prompt naming the essays' language.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cjgrade.engine.options import BatchOptions
from cjgrade.errors import ConfigError, InputError
from cjgrade.judges.base import Judge, ResponseCache
from cjgrade.runner.documents import read_document, shown
from cjgrade.runner.eng5.settings import Eng5Settings

__all__ = [
    "LANGUAGE_NOTES",
    "PromptTexts",
    "batch_option_overrides",
    "build_judge",
    "check_judge",
    "judge_name",
    "judge_record",
    "load_prompts",
]

LANGUAGE_NOTES = {
    "en": "The essays are written in English. Write your justification in English.",
    "sv": "The essays are written in Swedish. Write your justification in Swedish.",
}
"""The line ``--language`` adds to the system prompt (the judge prompt's language signal)."""


@dataclass(frozen=True)
class PromptTexts:
    """The prompts a run sends, with where they came from and their SHA-256."""

    system_prompt: str
    """The full system prompt: ``--system-prompt`` (or the default) plus the language line."""
    system_prompt_source: str
    """The file, or ``default``."""
    rubric: str | None
    """``--rubric``'s text; None: the folder's ``rubric.md`` (ad hoc) or the assignment's."""
    rubric_source: str | None

    def record(self) -> dict[str, Any]:
        """The artefact's ``runner.prompts`` entry: texts and their SHA-256."""
        return {
            "system_prompt": {"source": self.system_prompt_source, "text": self.system_prompt,
                              "sha256": _sha(self.system_prompt)},
            "rubric": None if self.rubric is None else {
                "source": self.rubric_source, "text": self.rubric, "sha256": _sha(self.rubric)},
        }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def judge_name(settings: Eng5Settings, *, required: bool = True) -> str | None:
    """``provider/model`` of the run, checked against the manifest.

    Raises
    ------
    ConfigError
        No judge given (when ``required``), a provider without a model, an unknown provider,
        or a model the manifest does not list for that provider (the message lists its
        models and names ``cjgrade judges list``).
    """
    from cjgrade.judges import load_manifest

    manifest = load_manifest()
    provider, model = settings.llm_provider, settings.llm_model
    if provider is None and model is None:
        if required:
            raise ConfigError("no judge given: pass --llm-provider and --llm-model (e.g. "
                              "--llm-provider openai --llm-model gpt-5-mini); `cjgrade judges "
                              "list` shows the models")
        return None
    if provider is None:
        owners = sorted({m.provider for m in manifest if m.model == model
                         or model in manifest.aliases_of(m)})
        if len(owners) != 1:
            found = f"listed for {', '.join(owners)}" if owners else "not in the manifest"
            raise ConfigError(f"--llm-model {model!r} is {found}; pass --llm-provider too "
                              "(`cjgrade judges list` shows the models)")
        provider = owners[0]
    if model is None:
        known = sorted(m.model for m in manifest if m.provider == provider)
        manifest.provider(provider)  # unknown provider: its own message
        raise ConfigError(f"--llm-provider {provider} needs --llm-model; known {provider} "
                          f"models: {', '.join(known) or '(none)'}")
    name = f"{provider}/{model}"
    try:
        info = manifest.resolve(name)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; `cjgrade judges list` shows the manifest") from None
    return f"{info.provider}/{info.model}"


def check_judge(settings: Eng5Settings, name: str) -> None:
    """Refuse settings the named judge cannot honour, before anything is spent."""
    from cjgrade.cli.run_checks import check_base_url
    from cjgrade.judges import load_manifest

    check_base_url(settings.llm_base_url, "--llm-base-url")
    manifest = load_manifest()
    info = manifest.resolve(name)
    provider = manifest.provider(info.provider)
    if settings.output_verbosity is not None and provider.adapter != "openai":
        raise ConfigError(f"--output-verbosity is an OpenAI setting; {name} has none: leave it "
                          "unset")
    if settings.reasoning_effort not in (None, "none") and not info.supports_reasoning \
            and not provider.local:
        raise ConfigError(f"{name} is not a reasoning model: use --reasoning-effort none or a "
                          "model with reasoning")
    if settings.llm_batching_mode == "provider_batch_api" and (
            provider.local or settings.llm_base_url):
        at = f" at {settings.llm_base_url}" if settings.llm_base_url else ""
        raise ConfigError(f"--llm-batching-mode provider_batch_api needs Anthropic's or "
                          f"OpenAI's own API; {name}{at} has no batch API: use per_request")


def batch_option_overrides(settings: Eng5Settings) -> dict[str, Any]:
    """The :class:`BatchOptions` fields the judge flags set (unset flags keep defaults)."""
    out: dict[str, Any] = {}
    if settings.llm_temperature is not None:
        out["temperature"] = float(settings.llm_temperature)
    if settings.llm_max_tokens is not None:
        out["max_tokens"] = settings.llm_max_tokens
    if settings.reasoning_effort is not None:
        out["reasoning_effort"] = settings.reasoning_effort
    if settings.output_verbosity is not None:
        out["output_verbosity"] = settings.output_verbosity
    if settings.llm_batching_mode is not None:
        out["batch_api"] = settings.llm_batching_mode == "provider_batch_api"
    if settings.max_comparisons is not None:
        out["budget"] = settings.max_comparisons
    return out


def _read_prompt_file(path: Path, flag: str) -> str:
    if not path.exists():
        raise InputError(f"{flag} {shown(path)}: no such file")
    try:
        return read_document(path).text
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from None


def load_prompts(settings: Eng5Settings) -> PromptTexts:
    """The system prompt (file or default, plus the language line) and the ``--rubric`` text.

    Raises
    ------
    InputError
        A prompt file that is missing, unreadable or empty.
    """
    from cjgrade.judges.prompt import DEFAULT_SYSTEM_PROMPT

    if settings.system_prompt is not None:
        base = _read_prompt_file(settings.system_prompt, "--system-prompt")
        source = str(settings.system_prompt)
    else:
        base, source = DEFAULT_SYSTEM_PROMPT, "default"
    rubric = None
    if settings.rubric is not None:
        rubric = _read_prompt_file(settings.rubric, "--rubric")
    return PromptTexts(
        system_prompt=f"{base.strip()}\n\n{LANGUAGE_NOTES[settings.language]}",
        system_prompt_source=source,
        rubric=rubric,
        rubric_source=str(settings.rubric) if settings.rubric is not None else None,
    )


def judge_record(settings: Eng5Settings, name: str | None,
                 options: BatchOptions | None = None) -> dict[str, Any]:
    """Every judge setting as the artefact records it (``runner.judge``): the values the
    requests carry (``options``: the batch's), not only the flags given."""
    from cjgrade.engine.options import merge_options

    opts = options or merge_options(BatchOptions(), batch_option_overrides(settings),
                                    source="command line")
    provider, _, model = (name or "/").partition("/")
    return {
        "name": name,
        "provider": provider or None,
        "model": model or None,
        "base_url": settings.llm_base_url,
        "temperature": opts.temperature,
        "max_tokens": opts.max_tokens,
        "reasoning_effort": opts.reasoning_effort,
        "output_verbosity": opts.output_verbosity,
        "batching_mode": "provider_batch_api" if opts.batch_api else "per_request",
        "language": settings.language,
    }


def build_judge(settings: Eng5Settings):  # type: ignore[no-untyped-def]
    """The ``build_judge`` callable of :func:`cjgrade.engine.embedded.run_embedded`."""

    def build(name: str, base_url: str | None, cache: ResponseCache | None) -> Judge:
        from cjgrade.judges import get_judge, load_manifest
        from cjgrade.judges.manifest import split_judge_name

        local = load_manifest().provider(split_judge_name(name)[0]).local
        return get_judge(name, base_url=base_url, cache=None if local else cache)

    return build
