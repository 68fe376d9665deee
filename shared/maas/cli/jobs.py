"""``maas jobs ...`` (asynchronous inference) and ``maas worker ...`` (the GPU worker's two modes)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client imports requests, which the worker image (`maas worker ...`) does not install
    from maas.cli.client import MaasClient


def _client(args: argparse.Namespace) -> MaasClient:
    from maas.cli.client import MaasClient

    return MaasClient(args.url, args.api_key)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def cmd_jobs_submit(args: argparse.Namespace) -> int:
    client = _client(args)
    text = sys.stdin.read() if args.json == "-" else Path(args.json).read_text()
    submitted = client.submit_job(args.name, json.loads(text), args.version, idempotency_key=args.idempotency_key)
    if not args.wait:
        _print_json(submitted)
        return 0
    print(f"job {submitted['job_id']} {submitted['status']}; waiting", file=sys.stderr)
    job = client.wait_for_job(submitted["job_id"], timeout=args.timeout)
    _print_json(job)
    return 0 if job["status"] == "SUCCEEDED" else 1


def cmd_jobs_get(args: argparse.Namespace) -> int:
    _print_json(_client(args).get_job(args.job_id))
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    jobs = _client(args).list_jobs(args.status, args.model, args.limit)
    columns = ["job_id", "status", "model", "version", "created_at", "queue_ms", "run_ms"]
    rows = [{**j, "queue_ms": j["timings"]["queue_ms"], "run_ms": j["timings"]["run_ms"]} for j in jobs]
    widths = {c: max([len(c)] + [len(_cell(r.get(c))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns))
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    _print_json(_client(args).cancel_job(args.job_id))
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def cmd_worker_run(args: argparse.Namespace) -> int:
    from maas.worker.main import run

    return run()


def cmd_worker_serve(args: argparse.Namespace) -> int:  # reached only through build_parser(); main() routes first
    from maas.worker.http import main

    return main(args.serve_args)


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

    worker = sub.add_parser("worker", help="the GPU worker").add_subparsers(dest="action", required=True)
    p = worker.add_parser("run", help="poll the gpu-jobs queue (configured from the environment)")
    p.set_defaults(func=cmd_worker_run)
    p = worker.add_parser(
        "serve", help="the SageMaker container contract: GET /ping, POST /invocations (port 8080)", add_help=False
    )
    p.add_argument("serve_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_worker_serve)


# --- batch ---------------------------------------------------------------------------------------------------
def cmd_batch_run(args: argparse.Namespace) -> int:
    import time

    import requests

    from maas.cli.client import progress_bar

    path = Path(args.file)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("jsonl", "csv", "parquet"):
        print("the file must end in .jsonl, .csv or .parquet", file=sys.stderr)
        return 2
    client = _client(args)
    started = client.start_batch(args.name, fmt, args.version, args.job_name)
    job_id = started["job_id"]
    print(f"batch job {job_id}: uploading {path.name}", file=sys.stderr)
    client.upload(started["upload"], path, progress_bar(f"uploading {path.name}", path.stat().st_size))
    if not args.wait and not args.out:
        _print_json(client.get_batch(job_id))
        return 0
    deadline = time.monotonic() + args.timeout
    last = ""
    while True:
        job = client.get_batch(job_id)
        rows, shards = job["rows"], job["shards"]
        line = (
            f"{job['status']}: rows {rows['done']}/{rows['total'] or '?'}, "
            f"shards {shards['done']}/{shards['total'] or '?'}"
        )
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if job["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
            break
        if time.monotonic() > deadline:
            print(f"still {job['status']} after {args.timeout} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    if job["status"] == "FAILED":
        print(f"failed: {job['error']}", file=sys.stderr)
        return 1
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for kind, url in job["downloads"].items():
            name = {"predictions": f"predictions.{fmt}", "errors": "errors.jsonl", "manifest": "manifest.json"}[kind]
            response = requests.get(url, timeout=300)
            response.raise_for_status()
            (out / name).write_bytes(response.content)
            print(f"wrote {out / name}", file=sys.stderr)
    _print_json({k: job[k] for k in ("job_id", "status", "model", "version", "rows", "shards", "manifest")})
    return 0 if job["status"] == "SUCCEEDED" else 1


def add_batch_commands(sub: Any) -> None:
    batch = sub.add_parser("batch", help="batch predictions from a file").add_subparsers(dest="action", required=True)
    p = batch.add_parser("run", help="upload a JSONL, CSV or Parquet file and run it through a model")
    p.add_argument("name", help="the model (or OWNER.MODEL through a grant)")
    p.add_argument("file")
    p.add_argument("--version", help="a version number or an alias (default: the production alias)")
    p.add_argument("--job-name", help="a name for the job (default: its id)")
    p.add_argument("--wait", action="store_true", help="show progress until the job ends")
    p.add_argument("--out", help="download predictions, errors and manifest into this folder (implies --wait)")
    p.add_argument("--timeout", type=float, default=3600)
    p.set_defaults(func=cmd_batch_run)
    p = batch.add_parser("get", help="a batch job")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_batch_get)


def cmd_batch_get(args: argparse.Namespace) -> int:
    _print_json(_client(args).get_batch(args.job_id))
    return 0
