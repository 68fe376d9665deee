"""``maas models ...``: models, their settings and versions (``register`` and ``optimize`` live in versions)."""

from __future__ import annotations

import argparse
from typing import Any

from maas.cli import versions
from maas.cli.api import api_client
from maas.cli.output import print_json, print_table


def cmd_models_create(args: argparse.Namespace) -> int:
    print_json(api_client(args).create_model(args.name, args.framework, args.description, args.target))
    return 0


def cmd_models_update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.target:
        changes["target"] = args.target
    if args.description is not None:
        changes["description"] = args.description
    if args.max_batch_size is not None or args.max_queue_delay_ms is not None:
        current = api_client(args).get_model(args.name)["batching"]
        changes["batching"] = {
            "max_batch_size": args.max_batch_size or current["max_batch_size"],
            "max_queue_delay_ms": current["max_queue_delay_ms"]
            if args.max_queue_delay_ms is None
            else args.max_queue_delay_ms,
        }
    print_json(api_client(args).update_model(args.name, **changes))
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    print_table(api_client(args).list_models(), ["name", "framework", "created_at", "description"])
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    client = api_client(args)
    if args.version is not None:
        print_json(client.get_version(args.name, args.version))
        return 0
    model = client.get_model(args.name)
    model["versions"] = client.list_versions(args.name)
    print_json(model)
    return 0


def add_commands(sub: Any) -> None:
    models = sub.add_parser("models", help="models and versions").add_subparsers(dest="action", required=True)
    p = models.add_parser("create")
    p.add_argument("name")
    p.add_argument("--framework", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--description", default="")
    p.add_argument("--target", choices=["cpu", "gpu"], help="default: cpu for ONNX, gpu for TorchScript")
    p.set_defaults(func=cmd_models_create)
    p = models.add_parser("update", help="change a model's target or the GPU worker's batching")
    p.add_argument("name")
    p.add_argument("--target", choices=["cpu", "gpu"])
    p.add_argument("--max-batch-size", type=int)
    p.add_argument("--max-queue-delay-ms", type=float)
    p.add_argument("--description")
    p.set_defaults(func=cmd_models_update)
    versions.add_commands(models)
    p = models.add_parser("list")
    p.set_defaults(func=cmd_models_list)
    p = models.add_parser("show")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_models_show)
