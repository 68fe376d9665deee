"""``maas keys ...``: a tenant's API keys."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_done, print_json, print_table


def cmd_keys_create(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    created = api_client(args).create_key(args.tenant_id, scopes, args.description)
    print_json(created)
    print("Store the api_key now: it is not shown again.", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys = sorted(api_client(args).list_keys(args.tenant_id), key=lambda k: k.created_at)
    print_table(keys, ["key_id", "scopes", "description", "created_at", "revoked_at"])
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    api_client(args).revoke_key(args.tenant_id, args.key_id)
    print_done(f"revoked {args.key_id}", {"tenant_id": args.tenant_id, "key_id": args.key_id, "revoked": True})
    return 0


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    p = keys.add_parser("create")
    p.add_argument("tenant_id")
    p.add_argument("--scopes", default="publish,invoke,read", help="comma-separated: admin,publish,invoke,read")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list")
    p.add_argument("tenant_id")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke")
    p.add_argument("tenant_id")
    p.add_argument("key_id")
    p.set_defaults(func=cmd_keys_revoke)
