"""``maas``: the local runtime, tenants and keys, models. Talks to the same HTTP API as every client.

Each command group lives in its own module, which adds its sub-parsers with ``add_commands(subparsers)``;
this one assembles them, turns an API error into a message and exit code 1, and Ctrl-C into 130.
"""

from __future__ import annotations

import argparse
import sys

from maas.cli import aliases, batch, deploy, grants, inference, jobs, keys, local, models, tenants, worker
from maas.cli.errors import ApiError

# In the order ``maas --help`` lists them.
COMMAND_GROUPS = (local, tenants, keys, models, aliases, grants, inference, jobs, worker, batch, deploy)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description="MaaS: serverless Model-as-a-Service")
    parser.add_argument("--url", help="API base URL (default: MAAS_URL, then .maas/local.env)")
    parser.add_argument("--api-key", help="API key (default: MAAS_API_KEY, then .maas/local.env)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw[:2] == ["worker", "serve"]:  # its own flags (and --help), parsed by maas.worker.http
        from maas.worker.http import main as serve  # numpy and the model backends: only for this command

        return serve(raw[2:])
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ApiError as error:
        print(f"error: {error.message} ({error.code}, HTTP {error.status})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
