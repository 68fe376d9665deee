"""``maas``: the local runtime, tenants and keys, models. Talks to the same HTTP API as every client."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maas.cli import deploy as deploy_commands
from maas.cli import jobs as jobs_commands
from maas.cli.errors import ApiError
from maas.cli.local import cmd_local_down, cmd_local_status, cmd_local_up
from maas.cli.prepare import PrepareError

if TYPE_CHECKING:  # the client imports requests, which the worker image (`maas worker ...`) does not install
    from maas.cli.client import MaasClient

DEFAULT_STATE_DIR = ".maas"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "") if row.get(c) is not None else "-").ljust(widths[c]) for c in columns))


def print_signature(version: dict[str, Any]) -> None:
    signature = version.get("signature") or {}
    for kind in ("inputs", "outputs"):
        for spec in signature.get(kind, []):
            print(f"  {kind[:-1]:6}  {spec['name']:24} {spec['datatype']:6} {spec['shape']}")


# --- API commands ---------------------------------------------------------------------------------------------
def _client(args: argparse.Namespace) -> MaasClient:
    from maas.cli.client import MaasClient

    return MaasClient(args.url, args.api_key)


def cmd_tenants_create(args: argparse.Namespace) -> int:
    _print_json(_client(args).create_tenant(args.tenant_id, args.name or args.tenant_id))
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    created = _client(args).create_key(args.tenant_id, scopes, args.description)
    _print_json(created)
    print("Store the api_key now: it is not shown again.", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    _table(_client(args).list_keys(args.tenant_id), ["key_id", "scopes", "description", "created_at", "revoked_at"])
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    _client(args).revoke_key(args.tenant_id, args.key_id)
    print(f"revoked {args.key_id}")
    return 0


def cmd_models_create(args: argparse.Namespace) -> int:
    _print_json(_client(args).create_model(args.name, args.framework, args.description, args.target))
    return 0


def cmd_models_update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.target:
        changes["target"] = args.target
    if args.description is not None:
        changes["description"] = args.description
    if args.max_batch_size is not None or args.max_queue_delay_ms is not None:
        current = _client(args).get_model(args.name)["batching"]
        changes["batching"] = {
            "max_batch_size": args.max_batch_size or current["max_batch_size"],
            "max_queue_delay_ms": current["max_queue_delay_ms"]
            if args.max_queue_delay_ms is None
            else args.max_queue_delay_ms,
        }
    _print_json(_client(args).update_model(args.name, **changes))
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    _table(_client(args).list_models(), ["name", "framework", "created_at", "description"])
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.version is not None:
        version = client.get_version(args.name, args.version)
        _print_json(version)
        return 0
    model = client.get_model(args.name)
    model["versions"] = client.list_versions(args.name)
    _print_json(model)
    return 0


def cmd_models_register(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    client = _client(args)
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
    _print_json(_client(args).set_alias(args.name, args.alias, target, args.if_match))
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
    client = _client(args)
    if args.alias:
        _print_json(client.get_alias(args.name, args.alias))
        return 0
    _table(
        [_alias_line(a) for a in client.list_aliases(args.name)], ["alias", "routes", "shadow", "etag", "updated_at"]
    )
    return 0


def cmd_aliases_rollback(args: argparse.Namespace) -> int:
    alias = _client(args).rollback_alias(args.name, args.alias, args.if_match)
    line = _alias_line(alias)
    print(f"{args.name}/{args.alias} -> {line['routes']} (etag {line['etag']})")
    return 0


def cmd_grants_add(args: argparse.Namespace) -> int:
    grant: dict[str, Any] = {"actions": [a.strip() for a in args.actions.split(",") if a.strip()]}
    if args.aliases:
        grant["aliases"] = [a.strip() for a in args.aliases.split(",") if a.strip()]
    if args.rps:
        grant["quota"] = {"requests_per_second": args.rps} | ({"burst": args.burst} if args.burst else {})
    _print_json(_client(args).put_grant(args.name, args.tenant_id, grant))
    return 0


def cmd_grants_list(args: argparse.Namespace) -> int:
    rows = [
        {**g, "actions": ",".join(g["actions"]), "aliases": ",".join(g["aliases"] or []) or "any"}
        for g in _client(args).list_grants(args.name)
    ]
    _table(rows, ["grantee", "actions", "aliases", "created_at"])
    return 0


def cmd_grants_revoke(args: argparse.Namespace) -> int:
    _client(args).revoke_grant(args.name, args.tenant_id)
    print(f"revoked {args.tenant_id}'s grant on {args.name}")
    return 0


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
    client = _client(args)
    if args.json:
        text = sys.stdin.read() if args.json == "-" else Path(args.json).read_text()
        request = json.loads(text)
    elif args.input:
        request = {"inputs": _parse_inputs(args.input, client.model_metadata(args.name, args.version))}
    else:
        print("give the request with --json FILE, or inputs with --input NAME=v1,v2,...", file=sys.stderr)
        return 2
    _print_json(client.infer(args.name, request, args.version))
    return 0


def cmd_models_optimize(args: argparse.Namespace) -> int:
    client = _client(args)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description="MaaS: serverless Model-as-a-Service")
    parser.add_argument("--url", help="API base URL (default: MAAS_URL, then .maas/local.env)")
    parser.add_argument("--api-key", help="API key (default: MAAS_API_KEY, then .maas/local.env)")
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="the local runtime").add_subparsers(dest="action", required=True)
    up = local.add_parser("up", help="start the platform on this machine (foreground; Ctrl-C stops it)")
    up.add_argument("--detach", "-d", action="store_true", help="run in the background and return when ready")
    up.add_argument("--template", default="template.yaml")
    up.add_argument(
        "--host", default="127.0.0.1", help="gateway address (the AWS emulator listens on 127.0.0.1 whatever it is)"
    )
    up.add_argument("--port", type=int, default=3000, help="gateway port")
    up.add_argument("--aws-port", type=int, default=4566, help="moto server port")
    up.add_argument("--aws-endpoint", help="use this emulator (e.g. LocalStack) instead of starting moto")
    up.add_argument("--parameter-overrides", nargs="*", metavar="KEY=VALUE", help="template parameters")
    up.add_argument("--max-instances", type=int, default=4, help="instances per function at most")
    up.add_argument("--gpu-workers", type=int, default=1, help="GPU worker processes (CUDA when present)")
    up.add_argument(
        "--from-build",
        nargs="?",
        const=".aws-sam/build",
        metavar="DIR",
        help="run each function from its `sam build` code and layers (default DIR: .aws-sam/build)",
    )
    up.add_argument("--python", help="with --from-build: the Lambda runtime's Python (default: found)")
    up.add_argument(
        "--lambda-runtime-dir",
        default="build/lambda-runtime/python",
        help="with --from-build: the boto3 the Lambda runtime provides (make build installs it here)",
    )
    up.add_argument("--ready-timeout", type=float, default=60, help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_local_up)
    for name, func, text in (("status", cmd_local_status, "what runs"), ("down", cmd_local_down, "stop it all")):
        p = local.add_parser(name, help=text)
        p.set_defaults(func=func)
    for p in local.choices.values():
        p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="where state, logs and local.env live")

    tenants = sub.add_parser("tenants", help="tenants (operator)").add_subparsers(dest="action", required=True)
    p = tenants.add_parser("create")
    p.add_argument("tenant_id")
    p.add_argument("--name")
    p.set_defaults(func=cmd_tenants_create)

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
    p = models.add_parser("list")
    p.set_defaults(func=cmd_models_list)
    p = models.add_parser("show")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_models_show)
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

    grants = sub.add_parser("grants", help="share models with other tenants").add_subparsers(
        dest="action", required=True
    )
    p = grants.add_parser("add", help="grant a tenant use of a model (they call it OWNER.MODEL)")
    p.add_argument("name")
    p.add_argument("tenant_id")
    p.add_argument("--actions", default="infer,read", help="comma-separated: infer,read")
    p.add_argument("--aliases", help="comma-separated aliases the tenant may use (default: any)")
    p.add_argument("--rps", type=float, help="quota: requests per second")
    p.add_argument("--burst", type=int, help="quota: burst")
    p.set_defaults(func=cmd_grants_add)
    p = grants.add_parser("list")
    p.add_argument("name")
    p.set_defaults(func=cmd_grants_list)
    p = grants.add_parser("revoke")
    p.add_argument("name")
    p.add_argument("tenant_id")
    p.set_defaults(func=cmd_grants_revoke)

    p = sub.add_parser("infer", help="run an Open Inference Protocol v2 infer request")
    p.add_argument("name")
    p.add_argument("--version", help="a version number or an alias (default: the production alias)")
    p.add_argument("--json", help="file with the OIP v2 request body ('-' for stdin)")
    p.add_argument("--input", action="append", metavar="NAME=V1,V2,...", help="an input's values, row-major")
    p.set_defaults(func=cmd_infer)
    jobs_commands.add_commands(sub)
    jobs_commands.add_batch_commands(sub)
    deploy_commands.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw[:2] == ["worker", "serve"]:  # its own flags (and --help), parsed by maas.worker.http
        from maas.worker.http import main as serve

        return serve(raw[2:])
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ApiError as error:
        print(f"error: {error.message} ({error.code}, HTTP {error.status})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
