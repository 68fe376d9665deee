"""``maas infer``: one Open Inference Protocol v2 request, from a file or from ``--input`` values. ``maas health``,
``maas server`` and ``maas openapi``: whether the API is up, what it says of itself, its OpenAPI document."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import plain, print_done, print_json


def _parse_inputs(items: list[str], metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """``name=1,2,3`` -> an OIP input, shaped by the model's signature (one free dimension is inferred)."""
    specs = {spec["name"]: spec for spec in metadata["inputs"]}
    inputs = []
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in specs:
            raise SystemExit(f"--input takes NAME=v1,v2,...; the model's inputs are {', '.join(specs)}")
        spec = specs[name]
        values: list[Any] = [v.strip() for v in text.split(",") if v.strip()]
        if spec["datatype"] == "BOOL":
            values = [v.lower() in ("1", "true", "yes") for v in values]
        elif spec["datatype"] != "BYTES":
            values = [float(v) if spec["datatype"].startswith("FP") else int(v) for v in values]
        fixed = 1
        for dim in spec["shape"]:
            fixed *= dim if dim > 0 else 1
        free = [i for i, dim in enumerate(spec["shape"]) if dim < 0]
        shape = [dim if dim > 0 else 1 for dim in spec["shape"]]
        if free:
            shape[free[0]] = max(1, len(values) // fixed)
        inputs.append({"name": name, "shape": shape, "datatype": spec["datatype"], "data": values})
    return inputs


def cmd_infer(args: argparse.Namespace) -> int:
    client = api_client(args)
    if args.json:
        text = sys.stdin.read() if args.json == "-" else Path(args.json).read_text()
        request = json.loads(text)
    elif args.input:
        request = {"inputs": _parse_inputs(args.input, plain(client.model_metadata(args.name, args.version)))}
    else:
        print("give the request with --json FILE, or inputs with --input NAME=v1,v2,...", file=sys.stderr)
        return 2
    print_json(client.infer_json(args.name, request, args.version))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    client = api_client(args)
    live, ready = client.live(), client.ready()
    print_done(f"live: {live}, ready: {ready}", {"url": client.url, "live": live, "ready": ready})
    return 0 if live and ready else 1


def cmd_server(args: argparse.Namespace) -> int:
    print_json(api_client(args).server_metadata())
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    print_json(api_client(args).openapi())
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("infer", help="run an Open Inference Protocol v2 infer request")
    p.add_argument("name")
    p.add_argument("--version", help="a version number or an alias (default: the production alias)")
    p.add_argument("--json", help="file with the OIP v2 request body ('-' for stdin)")
    p.add_argument("--input", action="append", metavar="NAME=V1,V2,...", help="an input's values, row-major")
    p.set_defaults(func=cmd_infer)
    p = sub.add_parser("health", help="whether the API is live and ready (exit 0 when both)")
    p.set_defaults(func=cmd_health)
    p = sub.add_parser("server", help="the OIP v2 server metadata: name, version, extensions")
    p.set_defaults(func=cmd_server)
    p = sub.add_parser("openapi", help="the API's OpenAPI document (Swagger UI is at /docs)")
    p.set_defaults(func=cmd_openapi)
