"""``maas batch ...``: batch predictions from a JSONL, CSV or Parquet file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_json


def cmd_batch_run(args: argparse.Namespace) -> int:
    # requests and the client: absent from the worker image, which imports this module through maas.cli.main
    import requests

    from maas.cli.client import progress_bar

    path = Path(args.file)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("jsonl", "csv", "parquet"):
        print("the file must end in .jsonl, .csv or .parquet", file=sys.stderr)
        return 2
    client = api_client(args)
    started = client.start_batch(args.name, fmt, args.version, args.job_name)
    job_id = started["job_id"]
    print(f"batch job {job_id}: uploading {path.name}", file=sys.stderr)
    client.upload(started["upload"], path, progress_bar(f"uploading {path.name}", path.stat().st_size))
    if not args.wait and not args.out:
        print_json(client.get_batch(job_id))
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
    print_json({k: job[k] for k in ("job_id", "status", "model", "version", "rows", "shards", "manifest")})
    return 0 if job["status"] == "SUCCEEDED" else 1


def cmd_batch_get(args: argparse.Namespace) -> int:
    print_json(api_client(args).get_batch(args.job_id))
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
