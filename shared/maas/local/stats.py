"""``maas stats``: the EMF records the functions and workers printed into the state folder's logs, summarised.

Each function's stdout is ``<state>/logs/<LogicalId>.log`` and each worker's ``worker-<n>.log``; the EMF lines
among them (``maas.metrics``: a JSON object with ``_aws``) are read back and grouped per tenant, model and
version: requests (invocations, errors by code, throttles, p50/p95 latency) and jobs (count, failures, p50/p95
queue wait and run time). Requests are the infer routes' (sync, or queued with ``Prefer: respond-async``).

    summary = summarise(Path(".maas/logs"))
    summary["models"][0]["latency_ms"]["p95"]
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Key = tuple[str, str, str]


def emf_records(log_dir: Path) -> Iterator[dict[str, Any]]:
    """Every EMF record in the ``*.log`` files of ``log_dir`` (other lines, and broken ones, are skipped)."""
    for path in sorted(log_dir.glob("*.log")):
        with path.open("rb") as lines:
            for line in lines:
                if not line.startswith(b"{") or b'"_aws"' not in line:
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and isinstance(doc.get("_aws"), dict):
                    yield doc


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)], 3)


def _spread(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95)}


def _key(doc: dict[str, Any]) -> Key:
    return (str(doc.get("tenant_id") or "-"), str(doc["model"]), str(doc.get("model_version") or "-"))


def summarise(log_dir: Path) -> dict[str, Any]:
    """Per (tenant, model, version): what its requests and jobs did, from the records in ``log_dir``."""
    requests: dict[Key, dict[str, Any]] = {}
    jobs: dict[Key, dict[str, Any]] = {}
    count = 0
    for doc in emf_records(log_dir):
        count += 1
        if "model" not in doc:
            continue
        if "Invocations" in doc and str(doc.get("route", "")).endswith("/infer"):
            entry = requests.setdefault(_key(doc), {"latency": [], "errors": Counter(), "n": 0, "throttles": 0})
            entry["n"] += int(doc["Invocations"])
            entry["throttles"] += int(doc.get("Throttles", 0))
            entry["latency"].append(float(doc.get("Latency", 0.0)))
            if doc.get("Errors"):
                entry["errors"][str(doc.get("code") or "ERROR")] += int(doc["Errors"])
        elif "Jobs" in doc:
            entry = jobs.setdefault(_key(doc), {"n": 0, "failed": 0, "queue": [], "run": []})
            entry["n"] += int(doc["Jobs"])
            entry["failed"] += int(doc.get("JobsFailed", 0))
            entry["queue"].append(float(doc.get("JobQueueWait", 0.0)))
            entry["run"].append(float(doc.get("JobRunTime", 0.0)))
    return {
        "log_dir": str(log_dir),
        "records": count,
        "models": [
            {
                "tenant_id": tenant,
                "model": model,
                "model_version": version,
                "invocations": entry["n"],
                "errors": dict(sorted(entry["errors"].items())),
                "throttles": entry["throttles"],
                "latency_ms": _spread(entry["latency"]),
            }
            for (tenant, model, version), entry in sorted(requests.items())
        ],
        "jobs": [
            {
                "tenant_id": tenant,
                "model": model,
                "model_version": version,
                "jobs": entry["n"],
                "failed": entry["failed"],
                "queue_wait_ms": _spread(entry["queue"]),
                "run_time_ms": _spread(entry["run"]),
            }
            for (tenant, model, version), entry in sorted(jobs.items())
        ],
    }
