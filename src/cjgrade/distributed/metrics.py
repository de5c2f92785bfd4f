"""Prometheus metrics of the orchestrator and the workers.

One :class:`DistributedMetrics` per process, on a registry the caller chooses: the API's
(``app.state.metrics_registry``, served at ``/metrics``) for the orchestrator inside
``cjgrade serve``, or a registry of its own served by ``cjgrade worker --metrics-port``.
Label values are bounded: status, provider, model, topic, step, outcome.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cjgrade.judges.base import Verdict

__all__ = ["DistributedMetrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
_BATCH_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)
_STEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class DistributedMetrics:
    """Collectors for comparisons, judge calls, queues and batches."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.comparisons = Counter(
            "cjgrade_comparisons_total",
            "Comparisons judged by workers, by outcome status, provider and model.",
            ["status", "provider", "model"], registry=r)
        self.judge_latency = Histogram(
            "cjgrade_judge_latency_seconds",
            "Wall time of one judge call (retries included), by provider and model.",
            ["provider", "model"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter(
            "cjgrade_judge_tokens_total",
            "Tokens billed by judges, by provider, model and kind (input, output, "
            "cache_read, cache_write).",
            ["provider", "model", "kind"], registry=r)
        self.cost = Counter(
            "cjgrade_judge_cost_usd_total",
            "Cost of judge calls in US dollars (calls with an unknown price are not counted).",
            ["provider", "model"], registry=r)
        self.duplicates = Counter(
            "cjgrade_worker_duplicate_requests_total",
            "Redelivered comparison requests answered from the worker's memory, not judged.",
            registry=r)
        self.in_flight = Gauge(
            "cjgrade_worker_in_flight", "Judge calls in flight in this worker.", registry=r)
        self.queue_lag = Gauge(
            "cjgrade_queue_lag_messages",
            "Records of a topic not yet read by this process's consumer group member.",
            ["topic"], registry=r)
        self.stored = Counter(
            "cjgrade_comparisons_stored_total",
            "Outcomes stored by the orchestrator, by status (duplicates not counted).",
            ["status"], registry=r)
        self.redispatched = Counter(
            "cjgrade_comparisons_redispatched_total",
            "Comparison requests published again because no result came in time.", registry=r)
        self.stalled_rounds = Counter(
            "cjgrade_rounds_stalled_total",
            "Rounds that waited twice the re-dispatch time without a result: nobody reads "
            "some of their requests (no worker, or request partitions left unassigned).",
            registry=r)
        self.repeat_calls = Counter(
            "cjgrade_comparisons_repeat_calls_total",
            "Judge calls paid again after the comparison's outcome was stored (recorded on the "
            "comparison: repeat_calls, attempts, tokens and cost).", registry=r)
        self.orchestrator_active = Gauge(
            "cjgrade_orchestrator_active",
            "1 while this process is the active orchestrator, 0 while it stands by or waits "
            "for the broker.", registry=r)
        self.workers = Gauge(
            "cjgrade_workers",
            "Members of the workers' consumer group, as the active orchestrator last saw them.",
            registry=r)
        self.batches_running = Gauge(
            "cjgrade_batches_running", "Batches the orchestrator is running.", registry=r)
        self.batch_duration = Histogram(
            "cjgrade_batch_duration_seconds",
            "Time from a batch's start (or resumption) in this orchestrator to its end, by "
            "outcome (completed, failed, error).",
            ["outcome"], buckets=_BATCH_BUCKETS, registry=r)
        self.engine_step = Histogram(
            "cjgrade_orchestrator_step_seconds",
            "Time the orchestrator spends in one engine step (plan = pair selection, refit = "
            "Bradley-Terry refit and stop decision, round = claim, dispatch and store one "
            "round's outcomes, finalise = final statistics and events).",
            ["step"], buckets=_STEP_BUCKETS, registry=r)

    def observe_verdict(self, verdict: Verdict, seconds: float) -> None:
        """Count a successful judge call."""
        p, m = verdict.provider or "unknown", verdict.model or "unknown"
        self.comparisons.labels("succeeded", p, m).inc()
        self.judge_latency.labels(p, m).observe(seconds)
        u = verdict.usage
        for kind, n in (("input", u.input_tokens), ("output", u.output_tokens),
                        ("cache_read", u.cache_read_tokens),
                        ("cache_write", u.cache_write_tokens)):
            if n:
                self.tokens.labels(p, m, kind).inc(n)
        if verdict.cost_usd:
            self.cost.labels(p, m).inc(verdict.cost_usd)

    def observe_failure(self, judge: str, seconds: float) -> None:
        """Count a judge call that ended in a failure (after the runtime's retries)."""
        provider, _, model = judge.partition("/")
        self.comparisons.labels("failed", provider or "unknown", model or "unknown").inc()
        self.judge_latency.labels(provider or "unknown", model or "unknown").observe(seconds)
