"""``maas batch ...``: batch predictions from a JSONL, CSV or Parquet file."""

from __future__ import annotations

import argparse
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from maas.cli.api import api_client
from maas.cli.credentials import progress_bar
from maas.cli.output import print_json, print_table

_FILES = {"errors": "errors.jsonl", "manifest": "manifest.json"}


def cmd_batch_run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("jsonl", "csv", "parquet"):
        print("the file must end in .jsonl, .csv or .parquet", file=sys.stderr)
        return 2
    client = api_client(args)
    started = client.start_batch(args.name, fmt, args.version, args.job_name)
    job_id = started.job_id
    print(f"batch job {job_id}: uploading {path.name}", file=sys.stderr)
    bar = progress_bar(f"uploading {path.name}", path.stat().st_size)
    client.upload_file(started.upload, path, lambda done, total: bar(done))
    if not args.wait and not args.out:
        print_json(client.get_batch(job_id))
        return 0
    last = [""]

    def progress(job: Any) -> None:
        rows, shards = job.rows, job.shards
        line = (
            f"{job.status}: rows {rows.get('done')}/{rows.get('total') or '?'}, "
            f"shards {shards.get('done')}/{shards.get('total') or '?'}"
        )
        if line != last[0]:
            print(line, file=sys.stderr)
            last[0] = line

    job = client.wait_batch(job_id, timeout=args.timeout, on_progress=progress)
    if job.status == "FAILED":
        print(f"failed: {job.error}", file=sys.stderr)
        return 1
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for kind, url in job.downloads.items():
            name = _FILES.get(kind, f"predictions.{fmt}" if kind == "predictions" else kind)
            (out / name).write_bytes(client.download(url))
            print(f"wrote {out / name}", file=sys.stderr)
    summary = job.model_dump(mode="json")
    print_json({k: summary[k] for k in ("job_id", "status", "model", "version", "rows", "shards", "manifest")})
    return 0 if job.status == "SUCCEEDED" else 1


def cmd_batch_get(args: argparse.Namespace) -> int:
    print_json(api_client(args).get_batch(args.job_id))
    return 0


def cmd_batch_list(args: argparse.Namespace) -> int:
    jobs = api_client(args).list_batches(page_size=min(args.limit, 1000))
    rows = [
        {**j.model_dump(mode="json"), "rows_done": j.rows.get("done"), "rows_total": j.rows.get("total")}
        for j in islice(jobs, args.limit)
    ]
    print_table(rows, ["job_id", "status", "model", "version", "name", "rows_done", "rows_total", "created_at"])
    return 0


def add_commands(sub: Any) -> None:
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
    p = batch.add_parser("list", help="your batch jobs, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_batch_list)
