"""``maas tenants ...``, ``maas quotas ...``, ``maas usage``, ``maas audit``: tenants and what they may and did do.

Only the operator creates and lists tenants (``maas tenants create|list``); a tenant's key gets 403.
"""

from __future__ import annotations

import argparse
from itertools import islice
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_json, print_table


def cmd_tenants_create(args: argparse.Namespace) -> int:
    print_json(api_client(args).create_tenant(args.tenant_id, args.name or args.tenant_id))
    return 0


def cmd_tenants_list(args: argparse.Namespace) -> int:
    print_table(api_client(args).list_tenants(), ["tenant_id", "name", "created_at"])
    return 0


def cmd_quotas_get(args: argparse.Namespace) -> int:
    print_json(api_client(args).get_quota(args.tenant_id))
    return 0


def cmd_quotas_set(args: argparse.Namespace) -> int:
    if not args.remove and args.rps is None:
        raise SystemExit("give --rps (with --burst, --max-concurrent-jobs), or --remove")
    rps = None if args.remove else args.rps
    quota = api_client(args).set_quota(
        args.tenant_id, rps, burst=args.burst, max_concurrent_jobs=args.max_concurrent_jobs
    )
    print_json(quota)
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    usage = api_client(args).get_usage(args.tenant_id)
    print_table(usage.usage, ["day", "model", "requests", "throttled"])
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    entries = api_client(args).list_audit(args.model, page_size=min(args.limit, 1000))
    print_table(islice(entries, args.limit), ["at", "actor", "action", "model", "target"])
    return 0


def add_commands(sub: Any) -> None:
    tenants = sub.add_parser("tenants", help="tenants (operator)").add_subparsers(dest="action", required=True)
    p = tenants.add_parser("create")
    p.add_argument("tenant_id")
    p.add_argument("--name")
    p.set_defaults(func=cmd_tenants_create)
    p = tenants.add_parser("list", help="every tenant, the operator's included")
    p.set_defaults(func=cmd_tenants_list)

    quotas = sub.add_parser("quotas", help="a tenant's quota").add_subparsers(dest="action", required=True)
    p = quotas.add_parser("get", help="a tenant's quota (yours, or any as the operator)")
    p.add_argument("tenant_id")
    p.set_defaults(func=cmd_quotas_get)
    p = quotas.add_parser("set", help="set a tenant's quota (operator)")
    p.add_argument("tenant_id")
    p.add_argument("--rps", type=float, help="requests per second")
    p.add_argument("--burst", type=int)
    p.add_argument("--max-concurrent-jobs", type=int)
    p.add_argument("--remove", action="store_true", help="no quota at all")
    p.set_defaults(func=cmd_quotas_set)

    p = sub.add_parser("usage", help="a tenant's requests and throttled requests per model and day")
    p.add_argument("tenant_id")
    p.set_defaults(func=cmd_usage)

    p = sub.add_parser("audit", help="control-plane changes to your objects, newest first")
    p.add_argument("--model")
    p.add_argument("--limit", type=int, default=100, help="at most this many entries (default 100)")
    p.set_defaults(func=cmd_audit)
