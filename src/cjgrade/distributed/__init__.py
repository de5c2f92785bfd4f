"""Distributed mode: an orchestrator and any number of comparison workers over Kafka, state in
PostgreSQL. See ``docs/distributed.md``."""

from cjgrade.distributed.dispatcher import DurableBusDispatcher, ResultRouter
from cjgrade.distributed.judges import WorkerJudges, load_judge_options
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.distributed.orchestrator import Orchestrator, OrchestratorConfig, load_request_spec
from cjgrade.distributed.service import OrchestratorService
from cjgrade.distributed.worker import WORKER_GROUP, ComparisonWorker, WorkerConfig

__all__ = [
    "WORKER_GROUP",
    "ComparisonWorker",
    "DistributedMetrics",
    "DurableBusDispatcher",
    "Orchestrator",
    "OrchestratorConfig",
    "OrchestratorService",
    "ResultRouter",
    "WorkerConfig",
    "WorkerJudges",
    "load_judge_options",
    "load_request_spec",
]
