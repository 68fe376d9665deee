"""``maas models register|optimize``: the commands that make a new version of a model."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from maas.cli.api import api_client
from maas.cli.credentials import progress_bar
from maas.cli.output import print_json, print_signature, wants_json
from maas.cli.prepare import PrepareError, prepare_onnx


def cmd_models_register(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    client = api_client(args)
    signature = json.loads(Path(args.signature).read_text()) if args.signature else None
    framework = "torchscript" if path.suffix == ".pt" else "onnx"
    with tempfile.TemporaryDirectory(prefix="maas-upload-") as workdir:
        upload = path
        if framework == "onnx":  # weights kept in other files are inlined, or bundled when over 2 GB
            try:
                prepared = prepare_onnx(path, Path(workdir))
            except PrepareError as exc:
                print(f"cannot register {path.name}: {exc}", file=sys.stderr)
                return 2
            upload = prepared.path
            if prepared.note:
                print(f"note: {prepared.note}", file=sys.stderr)
        bar = progress_bar(f"uploading {upload.name}", upload.stat().st_size)
        version = client.register(
            args.name,
            upload,
            framework=framework,
            signature=signature,
            target=args.target,
            wait=args.wait,
            timeout=args.timeout,
            progress=lambda done, total: bar(done),
        )
    if wants_json():
        print_json(version)
        return 1 if version.status == "FAILED" else 0
    print(f"{args.name} version {version.version}: {version.status}")
    if version.status == "READY":
        print(f"  sha256  {version.sha256}  ({version.size_bytes} bytes)")
        print_signature(version)
    elif version.status == "FAILED":
        print(f"  reason: {version.failure_reason}")
        return 1
    return 0


def cmd_models_optimize(args: argparse.Namespace) -> int:
    client = api_client(args)
    created = client.optimize(args.name, args.version, args.method)
    if not wants_json():
        print(f"{args.name} version {created.version}: {args.method} variant of version {args.version} queued")
    if not args.wait:
        if wants_json():
            print_json(created)
        return 0
    version = client.wait_version(args.name, created.version, timeout=args.timeout)
    if wants_json():
        print_json(version)
        return 0 if version.status == "READY" else 1
    print(f"{args.name} version {version.version}: {version.status}")
    report: dict[str, Any] = version.optimization or {}
    if version.status == "READY" and report:
        print(f"  size      {report['source_size_bytes']} -> {report['size_bytes']} bytes ({report['size_ratio']:.0%})")
        print(f"  latency   {report['source_latency_ms_p50']} -> {report['latency_ms_p50']} ms p50")
        print(f"  agreement {report['agreement_rate']:.0%} of {report['agreement_samples']} generated inputs")
    return 0 if version.status == "READY" else 1


def add_commands(models: Any) -> None:
    """Adds ``register`` and ``optimize`` to the ``models`` command's actions."""
    p = models.add_parser("register", help="upload a model file as a new version")
    p.add_argument("name")
    p.add_argument("file")
    p.add_argument("--wait", action="store_true", help="wait for READY or FAILED and print the signature")
    p.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    p.add_argument("--signature", help="JSON file with the signature (TorchScript only: {inputs, outputs})")
    p.add_argument("--target", choices=["cpu", "gpu"], help="when the model is created here")
    p.set_defaults(func=cmd_models_register)
    p = models.add_parser("optimize", help="build an optimised variant of a version as a new version")
    p.add_argument("name")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--method", default="dynamic_int8")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=cmd_models_optimize)
