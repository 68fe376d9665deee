"""``GET /metrics`` of ``maas worker serve``: Prometheus text exposition (format 0.0.4), Triton's metric names.

Triton serves ``nv_inference_*`` counters per model and version, and SageMaker's and KServe's tooling scrape the
same; a hand-written exposition keeps ``prometheus_client`` out of the image. Counters only grow; the request
duration is also a histogram (seconds), so that a scraper can take quantiles over any window.

    nv_inference_request_success{model="tiny",version="1"} 12
    nv_inference_request_failure{model="tiny",version="1",reason="INVALID_REQUEST"} 1
    nv_inference_count{...}  rows inferred        nv_inference_exec_count{...}  model runs (batches)
    nv_inference_request_duration_us{...}          maas_inference_request_duration_seconds_bucket{...,le="0.005"}
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from maas.worker.batcher import BatchStats

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    """``{a="x",b="y"}``, values escaped as the exposition format says (backslash, quote, newline)."""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class WorkerMetrics:
    """Request counts and durations of one served model version; thread-safe (requests run on many threads)."""

    def __init__(self, model: str, version: str, stats: Callable[[], BatchStats | None] = lambda: None) -> None:
        self.model = model
        self.version = version
        self._stats = stats
        self._lock = threading.Lock()
        self.success = 0
        self.failures: Counter[str] = Counter()
        self.duration_us = 0.0
        self._buckets = [0] * len(BUCKETS)
        self._seconds = 0.0
        self._observed = 0

    def observe(self, seconds: float, code: str | None = None) -> None:
        """One infer request: how long it took, and its error code if it failed."""
        with self._lock:
            if code is None:
                self.success += 1
            else:
                self.failures[code] += 1
            self.duration_us += seconds * 1e6
            self._seconds += seconds
            self._observed += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1

    def exposition(self) -> bytes:
        base = {"model": self.model, "version": self.version}
        labels = _labels(**base)
        stats = self._stats() or BatchStats()
        with self._lock:
            lines = [
                "# HELP nv_inference_request_success Number of successful inference requests",
                "# TYPE nv_inference_request_success counter",
                f"nv_inference_request_success{labels} {self.success}",
                "# HELP nv_inference_request_failure Number of failed inference requests, by error code",
                "# TYPE nv_inference_request_failure counter",
                *(
                    f"nv_inference_request_failure{_labels(**base, reason=code)} {n}"
                    for code, n in sorted(self.failures.items())
                ),
                "# HELP nv_inference_count Number of inferences performed (rows; a batched request counts each row)",
                "# TYPE nv_inference_count counter",
                f"nv_inference_count{labels} {stats.rows}",
                "# HELP nv_inference_exec_count Number of model executions (dynamic batches)",
                "# TYPE nv_inference_exec_count counter",
                f"nv_inference_exec_count{labels} {stats.batches}",
                "# HELP nv_inference_request_duration_us Cumulative inference request duration in microseconds",
                "# TYPE nv_inference_request_duration_us counter",
                f"nv_inference_request_duration_us{labels} {self.duration_us:.0f}",
                "# HELP maas_inference_request_duration_seconds Inference request duration",
                "# TYPE maas_inference_request_duration_seconds histogram",
                *(
                    f"maas_inference_request_duration_seconds_bucket{_labels(**base, le=str(bound))} {count}"
                    for bound, count in zip(BUCKETS, self._buckets, strict=True)
                ),
                f"maas_inference_request_duration_seconds_bucket{_labels(**base, le='+Inf')} {self._observed}",
                f"maas_inference_request_duration_seconds_sum{labels} {self._seconds:.6f}",
                f"maas_inference_request_duration_seconds_count{labels} {self._observed}",
            ]
        return ("\n".join(lines) + "\n").encode()
