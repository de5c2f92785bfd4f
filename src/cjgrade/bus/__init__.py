"""Event bus: versioned envelopes (``bus.events``) and transports (``bus.transport``).

The engine publishes through a :class:`Transport`; the in-process transport is the embedded
default, a Kafka transport serves deployments with several machines.
"""

from cjgrade.bus.events import (
    EVENT_MODELS,
    AssessmentRequestedV1,
    AssessmentResultV1,
    BatchCompletedV1,
    BatchFailedV1,
    ComparisonCompletedV1,
    ComparisonRequestedV1,
    EnvelopeModel,
    EssayRef,
    EssayResult,
    JudgeRequestData,
    decode_envelope,
    make_envelope,
)
from cjgrade.bus.transport import InProcessTransport, Subscription, Transport

__all__ = [
    "EVENT_MODELS",
    "AssessmentRequestedV1",
    "AssessmentResultV1",
    "BatchCompletedV1",
    "BatchFailedV1",
    "ComparisonCompletedV1",
    "ComparisonRequestedV1",
    "EnvelopeModel",
    "EssayRef",
    "EssayResult",
    "InProcessTransport",
    "JudgeRequestData",
    "Subscription",
    "Transport",
    "decode_envelope",
    "make_envelope",
]
