"""Inference statistics of one model version: what Triton's statistics extension reports, summed across instances.

Counters only (counts and nanoseconds), so that any number of Lambda instances can add theirs to one item with
DynamoDB's atomic ``ADD`` and the sum is exact; ``last_inference`` (milliseconds since the epoch) only moves
forward.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# The counter fields, in the order they are stored and added; every one is an int.
COUNTERS = (
    "success_count",
    "success_ns",
    "fail_count",
    "fail_ns",
    "compute_input_ns",
    "compute_infer_ns",
    "compute_output_ns",
)


@dataclass
class InferenceCounters:
    """One model version's counts and time spent, as one instance gathers them or as the table holds their sum.

    A successful request counts once in ``success_count`` with its whole time in the service, and its three phases
    (decode and checks, the model run, encoding) in the ``compute_*`` times; a failed one in ``fail_count``.
    """

    success_count: int = 0
    success_ns: int = 0
    fail_count: int = 0
    fail_ns: int = 0
    compute_input_ns: int = 0
    compute_infer_ns: int = 0
    compute_output_ns: int = 0
    last_inference_ms: int = 0

    def add(self, other: InferenceCounters) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_inference_ms = max(self.last_inference_ms, other.last_inference_ms)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class VersionStats:
    """The statistics stored for one version of a tenant's model."""

    model: str
    version: int
    counters: InferenceCounters
