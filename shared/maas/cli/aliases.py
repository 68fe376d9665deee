"""``maas aliases ...``: named targets of a model (one version, a weighted split, a shadow)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_json, print_table


def _pair(text: str, kind: type) -> tuple[int, Any]:
    version, sep, value = text.partition(":")
    if not sep:
        raise SystemExit(f"expected VERSION:VALUE, got {text!r}")
    return int(version), kind(value)


def cmd_aliases_set(args: argparse.Namespace) -> int:
    target: dict[str, Any]
    if args.version is not None:
        target = {"version": args.version}
    elif args.route:
        target = {"routes": [{"version": v, "weight": w} for v, w in (_pair(r, int) for r in args.route)]}
    else:
        print("give --version N, or --route VERSION:WEIGHT (repeated)", file=sys.stderr)
        return 2
    if args.shadow:
        version, rate = _pair(args.shadow, float)
        target["shadow"] = {"version": version, "sample_rate": rate}
    print_json(api_client(args).set_alias(args.name, args.alias, target, args.if_match))
    return 0


def _alias_line(alias: dict[str, Any]) -> dict[str, Any]:
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
    alias = api_client(args).rollback_alias(args.name, args.alias, args.if_match)
    line = _alias_line(alias)
    print(f"{args.name}/{args.alias} -> {line['routes']} (etag {line['etag']})")
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
