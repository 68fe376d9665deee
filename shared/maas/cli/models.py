"""``maas models ...``: models, their settings and versions (``register`` and ``optimize`` live in versions), the
models others share with you, and what the Open Inference Protocol says of them (metadata, readiness, Triton's
statistics, configuration and repository index)."""

from __future__ import annotations

import argparse
from typing import Any

from maas.cli import versions
from maas.cli.api import api_client
from maas.cli.output import print_done, print_json, print_table


def cmd_models_create(args: argparse.Namespace) -> int:
    print_json(api_client(args).create_model(args.name, args.framework, args.description, target=args.target))
    return 0


def cmd_models_update(args: argparse.Namespace) -> int:
    client = api_client(args)
    batching = None
    if args.max_batch_size is not None or args.max_queue_delay_ms is not None:
        current = client.get_model(args.name).batching
        batching = {
            "max_batch_size": args.max_batch_size or (current.max_batch_size if current else 32),
            "max_queue_delay_ms": args.max_queue_delay_ms
            if args.max_queue_delay_ms is not None
            else (current.max_queue_delay_ms if current else 5.0),
        }
    print_json(client.update_model(args.name, target=args.target, description=args.description, batching=batching))
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    print_table(api_client(args).list_models(), ["name", "framework", "target", "created_at", "description"])
    return 0


def cmd_models_shared(args: argparse.Namespace) -> int:
    rows = [
        {**s.model_dump(mode="json"), "actions": ",".join(s.actions), "aliases": ",".join(s.aliases or []) or "any"}
        for s in api_client(args).list_shared_models()
    ]
    print_table(rows, ["ref", "owner", "name", "actions", "aliases", "created_at"])
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    client = api_client(args)
    if args.version is not None:
        print_json(client.get_version(args.name, args.version))
        return 0
    model = client.get_model(args.name).model_dump(mode="json")
    model["versions"] = [v.model_dump(mode="json") for v in client.list_versions(args.name)]
    print_json(model)
    return 0


def cmd_models_delete(args: argparse.Namespace) -> int:
    api_client(args).delete_model(args.name)
    print_done(f"deleted model {args.name}", {"model": args.name, "deleted": True})
    return 0


def cmd_models_archive(args: argparse.Namespace) -> int:
    api_client(args).archive_version(args.name, args.version)
    done = {"model": args.name, "version": args.version, "status": "ARCHIVED"}
    print_done(f"archived {args.name} version {args.version}", done)
    return 0


def cmd_models_metadata(args: argparse.Namespace) -> int:
    print_json(api_client(args).model_metadata(args.name, args.version))
    return 0


def cmd_models_ready(args: argparse.Namespace) -> int:
    ready = api_client(args).model_ready(args.name, args.version)
    print_done(f"{args.name}: {'ready' if ready else 'not ready'}", {"model": args.name, "ready": ready})
    return 0 if ready else 1


def cmd_models_stats(args: argparse.Namespace) -> int:
    print_json(api_client(args).model_stats(args.name, args.version))
    return 0


def cmd_models_config(args: argparse.Namespace) -> int:
    print_json(api_client(args).model_config(args.name, args.version))
    return 0


def cmd_models_index(args: argparse.Namespace) -> int:
    print_table(api_client(args).repository_index(ready=args.ready), ["name", "version", "state", "reason"])
    return 0


def _with_version(p: Any, help_text: str = "a version number or an alias (default: the production alias)") -> None:
    p.add_argument("name")
    p.add_argument("--version", help=help_text)


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
    p = models.add_parser("list", help="your models")
    p.set_defaults(func=cmd_models_list)
    p = models.add_parser("shared", help="the models other tenants shared with you (call them OWNER.MODEL)")
    p.set_defaults(func=cmd_models_shared)
    p = models.add_parser("show", help="a model with its versions, or one version")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_models_show)
    p = models.add_parser("delete", help="delete a model no alias routes traffic to (its name is not reused)")
    p.add_argument("name")
    p.set_defaults(func=cmd_models_delete)
    p = models.add_parser("archive", help="stop serving a version for good (refused while an alias points at it)")
    p.add_argument("name")
    p.add_argument("--version", type=int, required=True)
    p.set_defaults(func=cmd_models_archive)
    p = models.add_parser("metadata", help="the model's OIP v2 metadata: inputs and outputs")
    _with_version(p)
    p.set_defaults(func=cmd_models_metadata)
    p = models.add_parser("ready", help="whether the model serves now (exit 0 if it does, 1 if not)")
    _with_version(p)
    p.set_defaults(func=cmd_models_ready)
    p = models.add_parser("stats", help="Triton's inference statistics of a model (or of all: NAME omitted)")
    p.add_argument("name", nargs="?")
    p.add_argument("--version")
    p.set_defaults(func=cmd_models_stats)
    p = models.add_parser("config", help="Triton's model configuration")
    _with_version(p)
    p.set_defaults(func=cmd_models_config)
    p = models.add_parser("index", help="Triton's repository index: every version of your models and its state")
    p.add_argument("--ready", action="store_true", help="only the versions that serve")
    p.set_defaults(func=cmd_models_index)
