"""``maas aliases ...``: named targets of a model (one version, a weighted split, a shadow)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_done, print_json, print_table


def _pair(text: str, kind: type) -> tuple[int, Any]:
    version, sep, value = text.partition(":")
    if not sep:
        raise SystemExit(f"expected VERSION:VALUE, got {text!r}")
    return int(version), kind(value)


def cmd_aliases_set(args: argparse.Namespace) -> int:
    routes = None
    if args.route:
        routes = [{"version": v, "weight": w} for v, w in (_pair(r, int) for r in args.route)]
    elif args.version is None:
        print("give --version N, or --route VERSION:WEIGHT (repeated)", file=sys.stderr)
        return 2
    shadow = None
    if args.shadow:
        version, rate = _pair(args.shadow, float)
        shadow = {"version": version, "sample_rate": rate}
    client = api_client(args)
    alias = client.set_alias(args.name, args.alias, args.version, routes=routes, shadow=shadow, if_match=args.if_match)
    print_json(alias)
    return 0


def _alias_line(alias: Any) -> dict[str, Any]:
    alias = alias.model_dump(mode="json")
    routes = ", ".join(f"v{r['version']} {r['weight']}%" for r in alias["routes"])
    shadow = alias.get("shadow")
    return {
        "alias": alias["name"],
        "routes": routes,
        "shadow": f"v{shadow['version']} at {shadow['sample_rate']:.0%}" if shadow else "-",
        "etag": alias["etag"],
        "updated_at": alias["updated_at"],
    }


def cmd_aliases_show(args: argparse.Namespace) -> int:
    client = api_client(args)
    if args.alias:
        print_json(client.get_alias(args.name, args.alias))
        return 0
    lines = [_alias_line(a) for a in client.list_aliases(args.name)]
    print_table(lines, ["alias", "routes", "shadow", "etag", "updated_at"])
    return 0


def cmd_aliases_rollback(args: argparse.Namespace) -> int:
    alias = api_client(args).rollback_alias(args.name, args.alias, if_match=args.if_match)
    line = _alias_line(alias)
    print_done(f"{args.name}/{args.alias} -> {line['routes']} (etag {line['etag']})", alias.model_dump(mode="json"))
    return 0


def cmd_aliases_delete(args: argparse.Namespace) -> int:
    api_client(args).delete_alias(args.name, args.alias, if_match=args.if_match)
    print_done(f"deleted alias {args.name}/{args.alias}", {"model": args.name, "alias": args.alias, "deleted": True})
    return 0


def cmd_aliases_shadow(args: argparse.Namespace) -> int:
    print_json(api_client(args).shadow_report(args.name, args.alias))
    return 0


def add_commands(sub: Any) -> None:
    aliases = sub.add_parser("aliases", help="aliases: named targets").add_subparsers(dest="action", required=True)
    p = aliases.add_parser("set", help="point an alias at a version, or split it by weight")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("--version", type=int)
    p.add_argument("--route", action="append", metavar="VERSION:WEIGHT", help="repeat; weights sum to 100")
    p.add_argument("--shadow", metavar="VERSION:SAMPLE_RATE", help="mirror a sample of traffic, e.g. 3:0.1")
    p.add_argument("--if-match", help="the ETag the alias must still have")
    p.set_defaults(func=cmd_aliases_set)
    p = aliases.add_parser("show", help="one alias, or a model's aliases")
    p.add_argument("name")
    p.add_argument("alias", nargs="?")
    p.set_defaults(func=cmd_aliases_show)
    p = aliases.add_parser("rollback", help="return an alias to its previous target")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("--if-match")
    p.set_defaults(func=cmd_aliases_rollback)
    p = aliases.add_parser("delete", help="delete an alias")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("--if-match", help="the ETag the alias must still have")
    p.set_defaults(func=cmd_aliases_delete)
    p = aliases.add_parser("shadow", help="how an alias's shadow compares with its live traffic")
    p.add_argument("name")
    p.add_argument("alias")
    p.set_defaults(func=cmd_aliases_shadow)
