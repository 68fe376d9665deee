"""``maas models register|optimize``: the commands that make a new version of a model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from maas.cli.api import api_client
from maas.cli.output import print_signature
from maas.cli.prepare import PrepareError


def cmd_models_register(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    client = api_client(args)
    signature = json.loads(Path(args.signature).read_text()) if args.signature else None
    framework = "torchscript" if path.suffix == ".pt" else "onnx"
    try:
        version = client.register(
            args.name,
            path,
            wait=args.wait,
            progress=True,
            signature=signature,
            framework=framework,
            target=args.target,
            notice=lambda note: print(f"note: {note}", file=sys.stderr),
        )
    except PrepareError as exc:
        print(f"cannot register {path.name}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name} version {version['version']}: {version['status']}")
    if version["status"] == "READY":
        print(f"  sha256  {version['sha256']}  ({version['size_bytes']} bytes)")
        print_signature(version)
    elif version["status"] == "FAILED":
        print(f"  reason: {version.get('failure_reason')}")
        return 1
    return 0


def cmd_models_optimize(args: argparse.Namespace) -> int:
    client = api_client(args)
    created = client.optimize(args.name, args.version, args.method)
    print(f"{args.name} version {created['version']}: {args.method} variant of version {args.version} queued")
    if not args.wait:
        return 0
    version = client.wait_for_version(args.name, created["version"], timeout=600)
    print(f"{args.name} version {version['version']}: {version['status']}")
    report = version.get("optimization") or {}
    if version["status"] == "READY" and report:
        print(f"  size      {report['source_size_bytes']} -> {report['size_bytes']} bytes ({report['size_ratio']:.0%})")
        print(f"  latency   {report['source_latency_ms_p50']} -> {report['latency_ms_p50']} ms p50")
        print(f"  agreement {report['agreement_rate']:.0%} of {report['agreement_samples']} generated inputs")
    return 0 if version["status"] == "READY" else 1


def add_commands(models: Any) -> None:
    """Adds ``register`` and ``optimize`` to the ``models`` command's actions."""
    p = models.add_parser("register", help="upload a model file as a new version")
    p.add_argument("name")
    p.add_argument("file")
    p.add_argument("--wait", action="store_true", help="wait for READY or FAILED and print the signature")
    p.add_argument("--signature", help="JSON file with the signature (TorchScript only: {inputs, outputs})")
    p.add_argument("--target", choices=["cpu", "gpu"], help="when the model is created here")
    p.set_defaults(func=cmd_models_register)
    p = models.add_parser("optimize", help="build an optimised variant of a version as a new version")
    p.add_argument("name")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--method", default="dynamic_int8")
    p.add_argument("--wait", action="store_true")
    p.set_defaults(func=cmd_models_optimize)
