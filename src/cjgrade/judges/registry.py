"""``get_judge("provider/model")``: find the adapter, wrap it in the runtime.

Provider adapters are imported lazily, so an optional SDK that is not installed costs nothing
until it is asked for, and then gives ``pip install 'cjgrade[extra]'`` instead of a traceback.
Built-in adapters register through the same :func:`register_adapter` hook a third party uses.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cjgrade.errors import ConfigError, InputError
from cjgrade.judges.base import Judge, ModelInfo, ResponseCache
from cjgrade.judges.cache import MemoryResponseCache
from cjgrade.judges.clock import Clock, SystemClock
from cjgrade.judges.cost import CostLedger
from cjgrade.judges.manifest import Manifest, ProviderInfo, load_manifest, split_judge_name
from cjgrade.judges.runtime import JudgeRuntime, ProviderGate, RuntimePolicy

if TYPE_CHECKING:
    from cjgrade.judges.batch import BatchJudge

__all__ = [
    "AdapterContext",
    "default_policy",
    "get_batch_judge",
    "get_judge",
    "register_adapter",
]


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter factory receives besides the model's :class:`ModelInfo`."""

    provider: ProviderInfo
    api_key: str | None
    base_url: str | None
    timeout: float
    clock: Clock
    options: Mapping[str, Any] = field(default_factory=dict)
    """Adapter-specific options (e.g. ``abilities`` and ``seed`` for ``sim/bt``)."""


AdapterFactory = Callable[[ModelInfo, AdapterContext], Judge]
BatchAdapterFactory = Callable[[ModelInfo, AdapterContext, CostLedger | None], "BatchJudge"]


@dataclass(frozen=True)
class _Registered:
    judge: AdapterFactory
    batch: BatchAdapterFactory | None = None


_ADAPTERS: dict[str, _Registered] = {}


def register_adapter(name: str, factory: AdapterFactory, *,
                     batch: BatchAdapterFactory | None = None) -> None:
    """Make ``factory`` serve every manifest provider whose ``adapter`` is ``name``; ``batch``,
    when the provider has a batch API, builds its batch judge (:func:`get_batch_judge`)."""
    _ADAPTERS[name] = _Registered(factory, batch)


def default_policy(provider: ProviderInfo) -> RuntimePolicy:
    """The runtime policy a provider gets unless the caller gives one.

    Remote providers: retries, a 120 s timeout, the manifest's concurrency and rate limits.
    Local judges (heuristic, sim, scripted): one attempt, no timeout (they cannot fail
    transiently), the manifest's concurrency.
    """
    if provider.local:
        return RuntimePolicy(max_attempts=1, timeout_s=None,
                             max_concurrency=provider.max_concurrency)
    return RuntimePolicy(
        max_concurrency=provider.max_concurrency,
        requests_per_minute=provider.requests_per_minute,
        tokens_per_minute=provider.tokens_per_minute,
    )


def get_judge(
    name: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    allow_unknown_model: bool = False,
    options: Mapping[str, Any] | None = None,
    policy: RuntimePolicy | None = None,
    policy_overrides: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    gate: ProviderGate | None = None,
    cache: ResponseCache | None = None,
    use_cache: bool | None = None,
    cache_namespace: str = "",
    ledger: CostLedger | None = None,
    seed: int | None = None,
    manifest: Manifest | None = None,
) -> JudgeRuntime:
    """Build the judge ``provider/model`` wrapped in a :class:`JudgeRuntime`.

    Parameters
    ----------
    name : ``provider/model``, e.g. ``heuristic/surface``, ``openai/gpt-5-mini``,
        ``anthropic/claude-haiku-4-5-20251001``, ``sim/bt``, ``scripted``.
    base_url : an OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenRouter).
    api_key : overrides the provider's key variable (e.g. ``OPENAI_API_KEY``).
    allow_unknown_model : admit a model missing from the manifest (cost reported unknown).
    options : adapter options (``sim/bt``: ``abilities``, ``seed``, ``noise``, ``lapse``,
        ``position_bias``, ``soft``, ``latency_s``; ``sim/scores``: ``scores``, ``seed``,
        ``belief_noise``, ``soft``, ``spread``, ``position_bias``, ``latency_s``;
        ``scripted``: ``default``).
    policy, policy_overrides : the runtime policy (default :func:`default_policy`), and fields
        to change in it (e.g. ``{"max_concurrency": 32}``).
    clock : injectable time (tests); also used by local judges for their latency.
    gate : the provider gate (concurrency, RPM/TPM, Retry-After pause, circuit breaker). By
        default, runtimes of one remote provider built in the same thread with the same
        endpoint, key and limits and no injected clock share one gate, so two models of one
        account share its limits; otherwise each runtime gets its own.
    cache, use_cache : response cache; by default remote providers get an in-memory cache and
        local judges none (``sim`` draws afresh on every call). ``use_cache=False`` disables it.
    ledger : cost totals to add to (share one across judges for run totals).
    seed : seed of the retry jitter.

    Raises
    ------
    ConfigError
        Unknown provider or model, missing API key (names the variable), missing SDK (names the
        ``pip install`` command), invalid options.
    """
    manifest = manifest or load_manifest()
    provider_name, _ = split_judge_name(name)
    provider = manifest.provider(provider_name)
    info = manifest.resolve(name, allow_unknown_model=allow_unknown_model)
    clock_given = clock
    clock = clock or SystemClock()
    chosen = policy or default_policy(provider)
    if policy_overrides:
        try:
            chosen = replace(chosen, **dict(policy_overrides))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid judge runtime setting: {exc}") from exc
    context = AdapterContext(
        provider=provider,
        api_key=_resolve_key(provider, api_key, base_url),
        base_url=base_url or provider.base_url,
        timeout=chosen.timeout_s or 600.0,
        clock=clock,
        options=dict(options or {}),
    )
    adapter = _factory(provider)(info, context)
    if gate is None and clock_given is None and not provider.local:
        gate = _shared_gate(provider.name, context.base_url, context.api_key, chosen, clock)
    if use_cache is None:
        use_cache = cache is not None or not provider.local
    runtime_cache = (cache or MemoryResponseCache()) if use_cache else None
    namespace = "|".join(x for x in (context.base_url or "", cache_namespace) if x)
    return JudgeRuntime(
        adapter,
        info,
        policy=chosen,
        clock=clock,
        gate=gate,
        cache=runtime_cache,
        cache_namespace=namespace,
        ledger=ledger,
        rng=random.Random(seed),
    )


_SHARED_GATES: dict[tuple[object, ...], ProviderGate] = {}


def _shared_gate(provider: str, base_url: str | None, api_key: str | None,
                 policy: RuntimePolicy, clock: Clock) -> ProviderGate:
    """One gate per remote provider account (endpoint + key), limits and thread."""
    key_id = hashlib.sha256((api_key or "").encode()).hexdigest()[:16]  # never keep the key
    limits = (policy.max_concurrency, policy.requests_per_minute, policy.tokens_per_minute,
              policy.burst_s, policy.breaker_failures, policy.breaker_recovery_s)
    key = (provider, base_url or "", key_id, limits, threading.get_ident())
    gate = _SHARED_GATES.get(key)
    if gate is None:
        gate = _SHARED_GATES[key] = ProviderGate(provider, policy, clock)
    return gate


def _resolve_key(provider: ProviderInfo, api_key: str | None, base_url: str | None) -> str | None:
    if provider.local or api_key:
        return api_key
    var = provider.key_env_var
    key = os.environ.get(var) if var else None
    if key:
        return key
    if base_url:
        return None  # a self-hosted OpenAI-compatible server often needs no key
    raise ConfigError(
        f"no API key for {provider.name}: set the environment variable {var}, or use "
        "--judge heuristic/surface to run without any key"
    )


def get_batch_judge(
    name: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    ledger: CostLedger | None = None,
    timeout: float = 120.0,
    manifest: Manifest | None = None,
) -> BatchJudge:
    """A provider batch-API judge for ``provider/model`` (see :mod:`cjgrade.judges.batch`).

    Same name resolution, key lookup and SDK hint as :func:`get_judge`; the model must be in
    the manifest (a batch price must be known) and marked ``supports_batch_api``.

    Raises
    ------
    ConfigError
        Unknown provider or model, a provider without a batch API, a model not marked
        batch-capable, a missing key (names the variable) or SDK (names ``pip install``).
    """
    manifest = manifest or load_manifest()
    provider_name, _ = split_judge_name(name)
    provider = manifest.provider(provider_name)
    info = manifest.resolve(name)
    registered = _ADAPTERS.get(provider.adapter)
    if registered is None or registered.batch is None or base_url is not None \
            or provider.base_url is not None:
        raise ConfigError(
            f"{name}: batch mode exists only for the Anthropic and OpenAI APIs themselves "
            "(not for compatible servers); run it without batch mode"
        )
    context = AdapterContext(provider=provider, api_key=_resolve_key(provider, api_key, None),
                             base_url=None, timeout=timeout, clock=SystemClock())
    return registered.batch(info, context, ledger)


def _import_adapter_module(provider: ProviderInfo, module_name: str, *, sdk: str,
                           package: str = "cjgrade.judges") -> Any:
    """Import ``package.module_name``; a missing SDK becomes a ConfigError with the pip hint."""
    try:
        return importlib.import_module(f"{package}.{module_name}")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing == sdk or missing.startswith(f"{sdk}."):
            extra = provider.extra or sdk
            raise ConfigError(f"the {provider.name} judge needs the {sdk} SDK: "
                              f"pip install 'cjgrade[{extra}]'") from exc
        if missing == f"{package}.{module_name}":
            raise ConfigError(
                f"the {module_name} adapter is not part of this cjgrade build"
            ) from exc
        raise


def _factory(provider: ProviderInfo) -> AdapterFactory:
    registered = _ADAPTERS.get(provider.adapter)
    if registered is None:
        raise ConfigError(f"provider {provider.name}: no adapter named {provider.adapter!r}")
    return registered.judge


def _remote_factory(module_name: str, *, package: str = "cjgrade.judges",
                    sdk: str | None = None) -> AdapterFactory:
    """Factory for an SDK-backed adapter module ``package.module_name`` exposing
    ``create_judge(info, *, api_key, base_url, timeout, provider, env_var)``; ``sdk`` is the
    SDK's import name. The manifest provider and its key variable are passed on, so messages
    name the variable the manifest declares (``OPENROUTER_API_KEY``, not ``OPENAI_API_KEY``)."""
    sdk = sdk or module_name

    def build(info: ModelInfo, context: AdapterContext) -> Judge:
        module = _import_adapter_module(context.provider, module_name, sdk=sdk, package=package)
        return module.create_judge(info, api_key=context.api_key,  # type: ignore[no-any-return]
                                   base_url=context.base_url, timeout=context.timeout,
                                   provider=context.provider.name,
                                   env_var=context.provider.key_env_var)

    return build


def _heuristic_factory(info: ModelInfo, context: AdapterContext) -> Judge:
    if info.model != "surface":
        raise ConfigError(f"heuristic/{info.model}: the only heuristic judge is heuristic/surface")
    _reject_options("heuristic/surface", context.options, set())
    from cjgrade.judges.heuristic import SurfaceHeuristicJudge

    return SurfaceHeuristicJudge()


_SIM_OPTIONS = {"abilities", "seed", "noise", "position_bias", "lapse", "soft", "latency_s"}


_SIM_SCORES_OPTIONS = {"scores", "seed", "belief_noise", "soft", "spread", "position_bias",
                       "latency_s"}


def _sim_scores_factory(context: AdapterContext) -> Judge:
    _reject_options("sim/scores", context.options, _SIM_SCORES_OPTIONS)
    options = dict(context.options)
    scores = options.pop("scores", None)
    if not isinstance(scores, Mapping):
        raise ConfigError("sim/scores needs options={'scores': {text_key(text): score, ...}}")
    from cjgrade.judges.sim_scores import ScoresJudge

    try:
        return ScoresJudge(scores, clock=context.clock, **options)
    except (InputError, TypeError, ValueError) as exc:
        raise ConfigError(f"sim/scores: invalid options: {exc}") from exc


def _sim_factory(info: ModelInfo, context: AdapterContext) -> Judge:
    if info.model == "scores":
        return _sim_scores_factory(context)
    if info.model != "bt":
        raise ConfigError(f"sim/{info.model}: the simulated judges are sim/bt and sim/scores")
    _reject_options("sim/bt", context.options, _SIM_OPTIONS)
    options = dict(context.options)
    abilities = options.pop("abilities", None)
    if not isinstance(abilities, Mapping):
        raise ConfigError("sim/bt needs options={'abilities': {text_key(text): ability, ...}}")
    from cjgrade.judges.sim import SimJudge

    try:
        return SimJudge(abilities, clock=context.clock, **options)
    except (InputError, TypeError, ValueError) as exc:
        raise ConfigError(f"sim/bt: invalid options: {exc}") from exc


def _scripted_factory(info: ModelInfo, context: AdapterContext) -> Judge:
    _reject_options("scripted", context.options, {"default"})
    from cjgrade.judges.scripted import ScriptedJudge

    return ScriptedJudge(f"scripted/{info.model}", clock=context.clock,
                         default=context.options.get("default"))


def _reject_options(name: str, options: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        allowed_text = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(f"{name}: unknown options {sorted(unknown)} (allowed: {allowed_text})")


def _batch_factory(module_name: str, sdk: str) -> BatchAdapterFactory:
    """Factory for a provider batch judge in ``cjgrade.judges.module_name`` exposing
    ``create_batch_judge(info, *, api_key, timeout, ledger, env_var)``."""

    def build(info: ModelInfo, context: AdapterContext, ledger: CostLedger | None) -> BatchJudge:
        module = _import_adapter_module(context.provider, module_name, sdk=sdk)
        judge: BatchJudge = module.create_batch_judge(
            info, api_key=context.api_key, timeout=context.timeout, ledger=ledger,
            env_var=context.provider.key_env_var)
        return judge

    return build


register_adapter("anthropic", _remote_factory("anthropic"),
                 batch=_batch_factory("batch_anthropic", "anthropic"))
register_adapter("openai", _remote_factory("openai"),
                 batch=_batch_factory("batch_openai", "openai"))
register_adapter("heuristic", _heuristic_factory)
register_adapter("sim", _sim_factory)
register_adapter("scripted", _scripted_factory)
