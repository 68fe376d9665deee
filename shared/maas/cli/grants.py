"""``maas grants ...``: share a model with other tenants (who call it OWNER.MODEL)."""

from __future__ import annotations

import argparse
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_done, print_json, print_table


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_grants_add(args: argparse.Namespace) -> int:
    aliases = _names(args.aliases) if args.aliases else None
    quota = None
    if args.rps:
        quota = {"requests_per_second": args.rps} | ({"burst": args.burst} if args.burst else {})
    grant = api_client(args).put_grant(args.name, args.tenant_id, _names(args.actions), aliases=aliases, quota=quota)
    print_json(grant)
    return 0


def cmd_grants_list(args: argparse.Namespace) -> int:
    rows = [
        {**g.model_dump(mode="json"), "actions": ",".join(g.actions), "aliases": ",".join(g.aliases or []) or "any"}
        for g in api_client(args).list_grants(args.name)
    ]
    print_table(rows, ["grantee", "actions", "aliases", "created_at"])
    return 0


def cmd_grants_revoke(args: argparse.Namespace) -> int:
    api_client(args).revoke_grant(args.name, args.tenant_id)
    done = {"model": args.name, "grantee": args.tenant_id, "revoked": True}
    print_done(f"revoked {args.tenant_id}'s grant on {args.name}", done)
    return 0


def add_commands(sub: Any) -> None:
    grants = sub.add_parser("grants", help="share models with other tenants")
    actions = grants.add_subparsers(dest="action", required=True)
    p = actions.add_parser("add", help="grant a tenant use of a model (they call it OWNER.MODEL)")
    p.add_argument("name")
    p.add_argument("tenant_id")
    p.add_argument("--actions", default="infer,read", help="comma-separated: infer,read")
    p.add_argument("--aliases", help="comma-separated aliases the tenant may use (default: any)")
    p.add_argument("--rps", type=float, help="quota: requests per second")
    p.add_argument("--burst", type=int, help="quota: burst")
    p.set_defaults(func=cmd_grants_add)
    p = actions.add_parser("list")
    p.add_argument("name")
    p.set_defaults(func=cmd_grants_list)
    p = actions.add_parser("revoke")
    p.add_argument("name")
    p.add_argument("tenant_id")
    p.set_defaults(func=cmd_grants_revoke)
