"""The model manifest: which judge models exist, what they cost and what they can do.

The data lives in ``judges/models.toml`` (package data), not in code. :func:`load_manifest`
reads and validates it; :meth:`Manifest.resolve` turns ``provider/model`` into a
:class:`~cjgrade.judges.base.ModelInfo`, refusing unknown models unless the caller explicitly
allows them (then prices are unknown and cost is reported as unknown, never 0).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from cjgrade.errors import ConfigError
from cjgrade.judges.base import ModelInfo

__all__ = ["Manifest", "ProviderInfo", "is_local_judge", "load_manifest", "local_judge_description",
           "split_judge_name"]

_PRICE_FIELDS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
_INT_FIELDS = ("context_window", "max_output_tokens")
_BOOL_FIELDS = (
    "supports_temperature",
    "supports_logprobs",
    "supports_tools",
    "supports_reasoning",
    "supports_batch_api",
)
_MODEL_KEYS = frozenset(f.name for f in fields(ModelInfo)) - {"known"} | {"aliases"}
_PROVIDER_KEYS = frozenset(
    {
        "adapter",
        "key_env_var",
        "extra",
        "base_url",
        "local",
        "max_concurrency",
        "requests_per_minute",
        "tokens_per_minute",
        "batch_price_factor",
    }
)


@dataclass(frozen=True)
class ProviderInfo:
    """One provider of the manifest: which adapter serves it and its default limits."""

    name: str
    adapter: str
    """Adapter module that serves this provider (``openrouter`` is served by ``openai``)."""
    key_env_var: str | None = None
    """Environment variable holding the API key (None for local judges)."""
    extra: str | None = None
    """The ``pip install 'cjgrade[extra]'`` extra that brings the SDK."""
    base_url: str | None = None
    local: bool = False
    """True for judges that run in-process with no network (heuristic, sim, scripted)."""
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    batch_price_factor: float | None = None
    """Price multiplier of the provider's batch API (0.5 = half price), inherited by every model
    of the provider that does not set its own; None = no batch price known."""


def _check_factor(where: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(f"{where}: batch_price_factor must be a number in (0, 1], got {value!r}")


def split_judge_name(name: str) -> tuple[str, str]:
    """Split ``provider/model`` at the first slash; a bare provider gets model ``default``.

    Raises
    ------
    ConfigError
        When the name is empty or has an empty part.
    """
    text = name.strip()
    provider, sep, model = text.partition("/")
    if not sep:
        model = "default"
    if not provider or not model:
        raise ConfigError(
            f"judge {name!r} is not of the form provider/model, e.g. heuristic/surface or "
            "openai/gpt-5-mini"
        )
    return provider, model


class Manifest:
    """The validated manifest: providers and models, with alias resolution."""

    def __init__(self, providers: Mapping[str, ProviderInfo], models: list[ModelInfo],
                 aliases: Mapping[tuple[str, str], str]) -> None:
        self.providers = dict(providers)
        self._models = {(m.provider, m.model): m for m in models}
        self._aliases = dict(aliases)

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def aliases_of(self, info: ModelInfo) -> list[str]:
        """Aliases that resolve to ``info`` (e.g. ``gpt-5-mini``)."""
        key = (info.provider, info.model)
        return sorted(alias for (p, alias), target in self._aliases.items()
                      if (p, target) == key)

    def provider(self, name: str) -> ProviderInfo:
        """The provider entry, or a ConfigError listing the known providers."""
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers))
            raise ConfigError(f"unknown judge provider {name!r}; known providers: {known}") \
                from None

    def resolve(self, name: str, *, allow_unknown_model: bool = False) -> ModelInfo:
        """Return the :class:`ModelInfo` of ``provider/model``.

        Parameters
        ----------
        name : ``provider/model`` (aliases accepted, e.g. ``openai/gpt-5-mini``).
        allow_unknown_model : admit a model of a known provider that the manifest lacks; its
            prices are unknown (cost reported as None) and ``known`` is False.

        Raises
        ------
        ConfigError
            Unknown provider; or unknown model without ``allow_unknown_model`` (the message lists
            the provider's known models and names the flag).
        """
        provider, model = split_judge_name(name)
        self.provider(provider)
        model = self._aliases.get((provider, model), model)
        info = self._models.get((provider, model))
        if info is not None:
            return info
        if allow_unknown_model:
            return ModelInfo(provider=provider, model=model, display_name=model, known=False)
        known = sorted(f"{m.provider}/{m.model}" for m in self if m.provider == provider)
        listed = ", ".join(known) if known else "(none)"
        raise ConfigError(
            f"unknown model {provider}/{model}; known {provider} models: {listed}. "
            "Use --allow-unknown-model to run it anyway (its cost will be reported as unknown)"
        )


def _check_number(where: str, key: str, value: Any, *, integer: bool = False) -> None:
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or value < 0:
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise ConfigError(f"{where}: {key} must be {kind}, got {value!r}")


def _parse_provider(name: str, raw: Mapping[str, Any], source: str) -> ProviderInfo:
    where = f"{source}: [providers.{name}]"
    unknown = set(raw) - _PROVIDER_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(raw.get("adapter"), str):
        raise ConfigError(f"{where}: 'adapter' (a string) is required")
    for key in ("max_concurrency", "requests_per_minute", "tokens_per_minute"):
        if key in raw:
            _check_number(where, key, raw[key], integer=key == "max_concurrency")
    if raw.get("max_concurrency", 1) < 1:
        raise ConfigError(f"{where}: max_concurrency must be at least 1")
    if "batch_price_factor" in raw:
        _check_factor(where, raw["batch_price_factor"])
    return ProviderInfo(name=name, **raw)


def _parse_model(index: int, raw: Mapping[str, Any], providers: Mapping[str, ProviderInfo],
                 source: str) -> tuple[ModelInfo, list[str]]:
    where = f"{source}: models[{index}]"
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("provider", "model"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{where}: {key!r} (a non-empty string) is required")
    where = f"{source}: model {raw['provider']}/{raw['model']}"
    if raw["provider"] not in providers:
        raise ConfigError(f"{where}: provider {raw['provider']!r} has no [providers] entry")
    for key in _PRICE_FIELDS:
        if key in raw:
            _check_number(where, key, raw[key])
    for key in _INT_FIELDS:
        if key in raw:
            _check_number(where, key, raw[key], integer=True)
    for key in _BOOL_FIELDS:
        if key in raw and not isinstance(raw[key], bool):
            raise ConfigError(f"{where}: {key} must be true or false")
    if "batch_price_factor" in raw:
        _check_factor(where, raw["batch_price_factor"])
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string")
    if providers[raw["provider"]].local and not description.strip():
        raise ConfigError(f"{where}: a judge of a local provider is not a language model; give "
                          "it a description (what its verdicts follow) for the plan and reports")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ConfigError(f"{where}: aliases must be a list of non-empty strings")
    values: dict[str, Any] = {k: (float(v) if k in _PRICE_FIELDS else v)
                              for k, v in raw.items() if k != "aliases"}
    values.setdefault("batch_price_factor", providers[raw["provider"]].batch_price_factor)
    return ModelInfo(**values), list(aliases)


def parse_manifest(data: Mapping[str, Any], source: str = "manifest") -> Manifest:
    """Validate parsed TOML data and build a :class:`Manifest` (see :func:`load_manifest`)."""
    raw_providers = data.get("providers")
    raw_models = data.get("models")
    if not isinstance(raw_providers, dict) or not isinstance(raw_models, list):
        raise ConfigError(f"{source}: needs a [providers.*] table and [[models]] entries")
    providers = {name: _parse_provider(name, raw, source) for name, raw in raw_providers.items()}
    models: list[ModelInfo] = []
    aliases: dict[tuple[str, str], str] = {}
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(raw_models):
        info, model_aliases = _parse_model(index, raw, providers, source)
        key = (info.provider, info.model)
        if key in seen:
            raise ConfigError(f"{source}: model {info.provider}/{info.model} is listed twice")
        seen.add(key)
        models.append(info)
        for alias in model_aliases:
            if (info.provider, alias) in aliases:
                raise ConfigError(f"{source}: alias {info.provider}/{alias} is used twice")
            aliases[(info.provider, alias)] = info.model
    clash = {(p, a) for (p, a) in aliases if (p, a) in seen}
    if clash:
        raise ConfigError(f"{source}: aliases shadow model ids: {sorted(clash)}")
    return Manifest(providers, models, aliases)


_DEFAULT: Manifest | None = None


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Load and validate the manifest TOML (default: the packaged ``judges/models.toml``).

    Raises
    ------
    ConfigError
        When the file is missing, is not valid TOML, or fails validation; the message names the
        file and the offending entry.
    """
    global _DEFAULT
    if path is None:
        if _DEFAULT is None:
            text = resources.files("cjgrade.judges").joinpath("models.toml").read_text("utf-8")
            _DEFAULT = parse_manifest(_parse_toml(text, "judges/models.toml"), "judges/models.toml")
        return _DEFAULT
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read model manifest {file}: {exc.strerror}") from exc
    return parse_manifest(_parse_toml(text, str(file)), str(file))


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"model manifest {source} is not valid TOML: {exc}") from exc


def is_local_judge(name: str) -> bool:
    """True when ``name`` (``provider/model``) is served by a ``local`` provider of the packaged
    manifest: heuristic, sim, scripted; such a judge is not a language model. An unknown
    provider is not local."""
    provider = load_manifest().providers.get(name.strip().partition("/")[0])
    return provider is not None and provider.local


def local_judge_description(name: str) -> str | None:
    """What the verdicts of a judge that is not a language model follow (its ``description``
    in the packaged manifest), for the plan and every report; None for any other judge.

    The one place the nature of a local judge is described: ``cjgrade plan``, the submit
    answer and the reports all read it from here. A model of a local provider that the
    manifest lacks (admitted with ``--allow-unknown-model``) is described as such.
    """
    if not is_local_judge(name):
        return None
    manifest = load_manifest()
    try:
        info = manifest.resolve(name)
    except ConfigError:
        provider = name.strip().partition("/")[0]
        return f"a local {provider} judge the model manifest does not describe"
    return info.description
