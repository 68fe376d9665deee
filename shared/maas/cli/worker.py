"""``maas worker ...``: the GPU worker's two modes, the image's entrypoint (queue poller, SageMaker server)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_worker_run(args: argparse.Namespace) -> int:
    from maas.worker.main import run  # numpy, boto3 and the model backends: only for this command

    return run()


def cmd_worker_serve(args: argparse.Namespace) -> int:  # reached only through build_parser(); main() routes first
    from maas.worker.http import main  # numpy and the model backends: only for this command

    return main(args.serve_args)


def add_commands(sub: Any) -> None:
    worker = sub.add_parser("worker", help="the GPU worker").add_subparsers(dest="action", required=True)
    p = worker.add_parser("run", help="poll the gpu-jobs queue (configured from the environment)")
    p.set_defaults(func=cmd_worker_run)
    p = worker.add_parser(
        "serve", help="the SageMaker container contract: GET /ping, POST /invocations (port 8080)", add_help=False
    )
    p.add_argument("serve_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_worker_serve)
