"""The platform's metrics: CloudWatch Embedded Metric Format (EMF) records, one per unit of work.

Every request, job, shard and batch split becomes one EMF record (a JSON line on stdout; on Lambda and ECS the
log agent turns it into CloudWatch metrics). The records are buffered and written once per invocation by the
Powertools ``metrics`` object's flush (``@metrics.log_metrics``; ``maas.observability``), or by the worker after
each message. They are built here rather than through Powertools' ``add_metric``, whose validation and
serialisation cost about 27 us per request on the inference hot path; a record here costs about 2 us.

Cost stays bounded with many tenants: the dimensions are only ``service`` and low-cardinality values that the
platform itself defines (``route``: the template's routes; ``code``: the error codes of ``maas.errors``). The
tenant, the model, its version and the job id go in as EMF *properties*: searchable in Logs Insights, never a
metric of their own. So the number of custom metrics is (metrics x (routes + codes)), whatever the tenants do.

    Family        Metrics (unit)                                          Dimensions
    request       Invocations, Errors, Throttles (Count), Latency (ms)    [service, route]; Errors also [service, code]
    job           Jobs, JobsFailed, JobAttempts (Count), JobQueueWait,    [service]; JobsFailed also [service, code]
                  JobRunTime (Milliseconds)
    dead_letter   DeadLetters (Count)                                     [service]
    batch_split   BatchRows, BatchShards, BatchInputErrors (Count)        [service]
    batch_shard   ShardRows, ShardRowFailures (Count), ShardRunTime (ms)  [service]
    batch_job     BatchJobsCompleted, BatchJobsFailed (Count)             [service]; BatchJobsFailed also [.., code]
    (Powertools)  ColdStart (Count)                                       [function_name, service]

    Bound: requests 4 metrics x (47 routes + 1 unmatched) + Errors x (about 16 codes), about 210; jobs and batch about
    20; ColdStart one per function: some 250 custom metrics per ``service`` value at most, whatever the tenants.

    Properties: tenant_id, model, model_version, status, code, job_id, request_id, function (as each applies).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

COUNT = "Count"
MILLISECONDS = "Milliseconds"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MaaS")
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "maas")
FUNCTION = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
THROTTLED_STATUS = 429
UNMATCHED_ROUTE = "unmatched"

Record = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """Metrics that are always recorded together, under the same dimensions (one EMF directive, made once)."""

    name: str
    metrics: tuple[tuple[str, str], ...]
    dimensions: tuple[str, ...] = ("service",)
    failures: str | None = None  # the metric also counted per error code, when a record has one

    def directive(self, by_code: bool) -> list[dict[str, Any]]:
        return _DIRECTIVES[(self.name, by_code)]


REQUEST = Family(
    "request",
    (("Invocations", COUNT), ("Latency", MILLISECONDS), ("Errors", COUNT), ("Throttles", COUNT)),
    ("service", "route"),
    failures="Errors",
)
JOB = Family(
    "job",
    (
        ("Jobs", COUNT),
        ("JobsFailed", COUNT),
        ("JobAttempts", COUNT),
        ("JobQueueWait", MILLISECONDS),
        ("JobRunTime", MILLISECONDS),
    ),
    failures="JobsFailed",
)
DEAD_LETTER = Family("dead_letter", (("DeadLetters", COUNT),))
BATCH_SPLIT = Family("batch_split", (("BatchRows", COUNT), ("BatchShards", COUNT), ("BatchInputErrors", COUNT)))
BATCH_SHARD = Family("batch_shard", (("ShardRows", COUNT), ("ShardRowFailures", COUNT), ("ShardRunTime", MILLISECONDS)))
BATCH_JOB = Family("batch_job", (("BatchJobsCompleted", COUNT), ("BatchJobsFailed", COUNT)), failures="BatchJobsFailed")
FAMILIES = (REQUEST, JOB, DEAD_LETTER, BATCH_SPLIT, BATCH_SHARD, BATCH_JOB)

_DIRECTIVES = {
    (family.name, by_code): [
        {
            "Namespace": NAMESPACE,
            "Dimensions": [list(family.dimensions)],
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in family.metrics],
        },
        # only the failure count per code: a code multiplies one metric, not all of them
        *(
            [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["service", "code"]],
                    "Metrics": [{"Name": family.failures, "Unit": COUNT}],
                }
            ]
            if by_code and family.failures
            else []
        ),
    ]
    for family in FAMILIES
    for by_code in (False, True)
}
_REQUEST_DIRECTIVES = {False: REQUEST.directive(False), True: REQUEST.directive(True)}


def metrics_disabled() -> bool:
    """Powertools' switch, so that one variable silences both (read once: a lookup costs 1.3 us per request)."""
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true")


class EmfBuffer:
    """Records waiting for the next flush, and who else wants to see them (the worker's Prometheus counters)."""

    def __init__(self, write: Callable[[bytes], object] | None = None) -> None:
        self.enabled = not metrics_disabled()
        self._pending: list[Record] = []
        self._lock = threading.Lock()
        self._write = write
        self.listeners: list[Callable[[Record], None]] = []

    def add(self, record: Record) -> None:
        self._pending.append(record)  # a list append is atomic: the worker's threads record without the lock
        for listener in self.listeners:
            listener(record)

    def take(self) -> list[Record]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def flush(self) -> int:
        """Write what is pending as EMF lines, in one write; returns how many."""
        taken = self.take()
        if not taken or not self.enabled:
            return 0
        data = b"".join(orjson.dumps(record) + b"\n" for record in taken)
        if self._write is not None:
            self._write(data)
        else:
            sys.stdout.flush()  # after what print() may have buffered, in order
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        return len(taken)


records = EmfBuffer()


def record(
    family: Family,
    values: dict[str, float],
    *,
    code: str | None = None,
    buffer: EmfBuffer | None = None,
    **properties: Any,
) -> Record:
    """Buffer one EMF record of ``family``; ``code`` (an error code) adds the by-code dimension set.

    >>> record(JOB, {"Jobs": 1, "JobsFailed": 0}, tenant_id="acme", model="mlp", model_version="3")["model"]
    'mlp'
    """
    doc: Record = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": family.directive(code is not None)},
        "service": SERVICE,
        **{k: v for k, v in properties.items() if v is not None},
        **values,
    }
    if code is not None:
        doc["code"] = code
    if FUNCTION:
        doc["function"] = FUNCTION
    (buffer or records).add(doc)
    return doc


def record_request(
    route: str,
    status: int,
    latency_ms: float,
    *,
    code: str | None = None,
    tenant_id: str | None = None,
    model: str | None = None,
    model_version: str | None = None,
    request_id: str | None = None,
    buffer: EmfBuffer | None = None,
) -> Record:
    """One API request: its route (a dimension), its status and error code, and who asked for which model.

    Written out field by field (no ``record``): this runs on every inference request, where it costs ~1.5 us.
    """
    failed = status >= 400
    doc: Record = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": _REQUEST_DIRECTIVES[failed]},
        "service": SERVICE,
        "route": route,
        "status": status,
        "Invocations": 1,
        "Latency": round(latency_ms, 3),
        "Errors": 1 if failed else 0,
        "Throttles": 1 if status == THROTTLED_STATUS else 0,
    }
    if failed:
        doc["code"] = code or "ERROR"
    if tenant_id is not None:
        doc["tenant_id"] = tenant_id
    if model is not None:
        doc["model"] = model
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["request_id"] = request_id
    if FUNCTION:
        doc["function"] = FUNCTION
    (buffer or records).add(doc)
    return doc


def record_api_requests(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    """Decorate an HTTP API handler (a Powertools resolver's): one request record per call, its code from the body.

    The control plane and the jobs API answer through a resolver, so their route, status and ``{"code"}`` are
    read from the event and the result here; an exception that escapes is recorded as a 500 ``INTERNAL``.
    """

    @functools.wraps(handler)
    def decorated(event: dict[str, Any], context: Any) -> Any:
        started = time.perf_counter()
        status = 500
        code: str | None = "INTERNAL"
        try:
            result = handler(event, context)
            status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
            code = _error_code(result) if status >= 400 else None
            return result
        finally:
            request_context = event.get("requestContext") or {}
            principal = (request_context.get("authorizer") or {}).get("lambda") or {}
            params = event.get("pathParameters") or {}
            record_request(
                str(event.get("routeKey") or UNMATCHED_ROUTE),
                status,
                (time.perf_counter() - started) * 1000,
                code=code,
                tenant_id=principal.get("tenant_id"),
                model=params.get("name"),
                model_version=params.get("version"),
                request_id=request_context.get("requestId"),
            )

    return decorated


def _error_code(result: dict[str, Any]) -> str | None:
    try:
        body = orjson.loads(result.get("body") or b"{}")
    except orjson.JSONDecodeError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
