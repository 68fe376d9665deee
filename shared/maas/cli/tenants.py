"""``maas tenants ...``: tenants (operator only)."""

from __future__ import annotations

import argparse
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_json


def cmd_tenants_create(args: argparse.Namespace) -> int:
    print_json(api_client(args).create_tenant(args.tenant_id, args.name or args.tenant_id))
    return 0


def add_commands(sub: Any) -> None:
    tenants = sub.add_parser("tenants", help="tenants (operator)").add_subparsers(dest="action", required=True)
    p = tenants.add_parser("create")
    p.add_argument("tenant_id")
    p.add_argument("--name")
    p.set_defaults(func=cmd_tenants_create)
