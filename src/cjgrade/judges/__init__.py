"""Judges: one protocol (``judge(request) -> Verdict``), many adapters, one runtime around them.

>>> from cjgrade.judges import get_judge
>>> judge = get_judge("heuristic/surface")   # non-LLM surface heuristic, no key needed

See ``docs/judges.md``.
"""

from cjgrade.judges.base import (
    Judge,
    JudgeRequest,
    JudgeSettings,
    ModelInfo,
    ResponseCache,
    Usage,
    Verdict,
    Winner,
)
from cjgrade.judges.both_orders import BothOrdersJudge, BothOrdersResult, combine_orders
from cjgrade.judges.cache import MemoryResponseCache, fingerprint_request, make_cache_key
from cjgrade.judges.clock import Clock, ManualClock, SystemClock
from cjgrade.judges.cost import BilledSpend, CostLedger, billed_spend, compute_cost
from cjgrade.judges.manifest import Manifest, ProviderInfo, load_manifest
from cjgrade.judges.registry import default_policy, get_batch_judge, get_judge, register_adapter
from cjgrade.judges.runtime import JudgeRuntime, ProviderGate, RuntimePolicy

__all__ = [
    "BilledSpend",
    "BothOrdersJudge",
    "BothOrdersResult",
    "Clock",
    "CostLedger",
    "Judge",
    "JudgeRequest",
    "JudgeRuntime",
    "JudgeSettings",
    "Manifest",
    "ManualClock",
    "MemoryResponseCache",
    "ModelInfo",
    "ProviderGate",
    "ProviderInfo",
    "ResponseCache",
    "RuntimePolicy",
    "SystemClock",
    "Usage",
    "Verdict",
    "Winner",
    "billed_spend",
    "combine_orders",
    "compute_cost",
    "default_policy",
    "fingerprint_request",
    "get_batch_judge",
    "get_judge",
    "load_manifest",
    "make_cache_key",
    "register_adapter",
]
