"""``maas stats``: per model and version, what the local runtime's functions and workers measured (EMF logs)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from maas.cli.local import state_dir_of
from maas.cli.output import print_table, wants_json
from maas.local.stats import summarise


def cmd_stats(args: argparse.Namespace) -> int:
    log_dir = state_dir_of(args) / "logs"
    if not log_dir.is_dir():
        print(f"no logs in {log_dir} (start the local runtime with: maas local up)")
        return 1
    summary = summarise(log_dir)
    if wants_json():
        print(json.dumps(summary, indent=2))
        return 0
    rows = [
        {
            **m,
            "errors": ", ".join(f"{code}={n}" for code, n in m["errors"].items()) or "0",
            "p50_ms": m["latency_ms"]["p50"],
            "p95_ms": m["latency_ms"]["p95"],
        }
        for m in summary["models"]
    ]
    print_table(rows, ["tenant_id", "model", "model_version", "invocations", "errors", "throttles", "p50_ms", "p95_ms"])
    if summary["jobs"]:
        print()
        jobs = [
            {**j, "run_p50_ms": j["run_time_ms"]["p50"], "queue_p50_ms": j["queue_wait_ms"]["p50"]}
            for j in summary["jobs"]
        ]
        print_table(jobs, ["tenant_id", "model", "model_version", "jobs", "failed", "queue_p50_ms", "run_p50_ms"])
    print(f"\n{summary['records']} EMF records in {log_dir}")
    return 0


def add_commands(sub: Any) -> None:
    stats = sub.add_parser("stats", help="per model and version: invocations, errors, latency (local runtime logs)")
    stats.add_argument("--state-dir", default=argparse.SUPPRESS, help="where state, logs and local.env live")
    stats.set_defaults(func=cmd_stats)
