"""``maas jobs ...``: asynchronous inference jobs; ``maas event-sources ...``: the sources whose events run them."""

from __future__ import annotations

import argparse
import json
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_done, print_json, print_table


def cmd_jobs_submit(args: argparse.Namespace) -> int:
    client = api_client(args)
    text = sys.stdin.read() if args.json == "-" else Path(args.json).read_text()
    submitted = client.submit_job(
        args.name, json.loads(text), version=args.version, idempotency_key=args.idempotency_key
    )
    if not args.wait:
        print_json(submitted)
        return 0
    print(f"job {submitted.job_id} {submitted.status}; waiting", file=sys.stderr)
    job = client.wait_job(submitted.job_id, timeout=args.timeout)
    print_json(job)
    return 0 if job.status == "SUCCEEDED" else 1


def cmd_jobs_get(args: argparse.Namespace) -> int:
    print_json(api_client(args).get_job(args.job_id))
    return 0


def _job_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    jobs = api_client(args).list_jobs(status=args.status, model=args.model, page_size=min(args.limit, 1000))
    rows = [
        {**j.model_dump(mode="json"), "queue_ms": j.timings.queue_ms, "run_ms": j.timings.run_ms}
        for j in islice(jobs, args.limit)
    ]
    print_table(rows, ["job_id", "status", "model", "version", "created_at", "queue_ms", "run_ms"], cell=_job_cell)
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    print_json(api_client(args).cancel_job(args.job_id))
    return 0


def cmd_sources_add(args: argparse.Namespace) -> int:
    print_json(api_client(args).add_event_source(args.source))
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    print_table(api_client(args).list_event_sources(), ["source", "tenant_id"])
    return 0


def cmd_sources_delete(args: argparse.Namespace) -> int:
    api_client(args).delete_event_source(args.source)
    print_done(f"deleted event source {args.source}", {"source": args.source, "deleted": True})
    return 0


def add_commands(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="asynchronous inference jobs").add_subparsers(dest="action", required=True)
    p = jobs.add_parser("submit", help="submit an OIP v2 infer request as a job")
    p.add_argument("name")
    p.add_argument("--json", required=True, help="file with the OIP v2 request body ('-' for stdin)")
    p.add_argument("--version", help="a version number or an alias (default: the production alias)")
    p.add_argument("--idempotency-key", help="a retry with the same key returns the same job")
    p.add_argument("--wait", action="store_true", help="wait until the job finishes and print it")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=cmd_jobs_submit)
    p = jobs.add_parser("get", help="a job: status, timings, result")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_jobs_get)
    p = jobs.add_parser("list", help="your jobs, newest first")
    p.add_argument("--status", choices=["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"])
    p.add_argument("--model")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_jobs_list)
    p = jobs.add_parser("cancel", help="cancel a QUEUED job")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_jobs_cancel)

    sources = sub.add_parser("event-sources", help="event sources: their InferenceRequested events run as you")
    actions = sources.add_subparsers(dest="action", required=True)
    p = actions.add_parser("add", help="register a source (its name starts with your tenant id: acme.orders)")
    p.add_argument("source")
    p.set_defaults(func=cmd_sources_add)
    p = actions.add_parser("list")
    p.set_defaults(func=cmd_sources_list)
    p = actions.add_parser("delete")
    p.add_argument("source")
    p.set_defaults(func=cmd_sources_delete)
