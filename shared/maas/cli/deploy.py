"""``maas deploy ...``: what follows ``sam deploy``, read from the deployed stack's outputs.

``bootstrap`` issues the operator's first admin key, straight into the registry table (the API cannot: every
call needs a key), and prints it with the API URL. ``outputs`` prints the stack's outputs that another template
takes as parameters, as ``Key=Value`` for ``aws cloudformation deploy --parameter-overrides`` (the worker stacks
in infra/). Both use the AWS credentials of the environment (``--profile``, ``--region`` or the usual variables).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from maas.cli.output import print_json, wants_json


class StackError(LookupError):
    """The stack does not exist or lacks an output; the message says which."""


def _use_account(args: argparse.Namespace) -> None:
    # The boto3 adapters make their clients from the environment, once per process.
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    from maas.adapters import aws  # boto3 and the registry's modules load for `deploy` only

    aws.reset()


def stack_outputs(stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError  # as in _use_account

    from maas.adapters.aws import client

    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise StackError(f"cannot read stack {stack_name}: {error.response['Error'].get('Message', error)}") from error
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _output(outputs: dict[str, str], stack_name: str, key: str) -> str:
    if key not in outputs:
        raise StackError(f"stack {stack_name} has no output {key}: is it the MaaS stack, fully deployed?")
    return outputs[key]


def cmd_deploy_bootstrap(args: argparse.Namespace) -> int:
    from maas import wiring  # as in _use_account: boto3 and the stores load only for this command

    _use_account(args)
    try:
        outputs = stack_outputs(args.stack_name)
        table = _output(outputs, args.stack_name, "RegistryTableName")
        url = _output(outputs, args.stack_name, "ApiUrl")
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    api_key = wiring.tenants(table).bootstrap_operator(description="created by maas deploy bootstrap")
    if wants_json():
        print_json({"MAAS_URL": url, "MAAS_API_KEY": api_key})
    else:
        print(f"MAAS_URL={url}")
        print(f"MAAS_API_KEY={api_key}")
    if args.env_file:
        path = Path(args.env_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key is a secret
        with os.fdopen(descriptor, "w") as f:
            f.write(f"MAAS_URL={url}\nMAAS_API_KEY={api_key}\n")
        print(f"written to {path} (mode 600)", file=sys.stderr)
    print(
        "The operator's admin key is shown once: store it now. Each run issues another one; revoke one with "
        "`maas keys revoke admin KEY_ID`.",
        file=sys.stderr,
    )
    return 0


def cmd_deploy_outputs(args: argparse.Namespace) -> int:
    _use_account(args)
    try:
        outputs = stack_outputs(args.stack_name)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.parameters_of:
        from samtranslator.yaml_helper import yaml_parse  # a `local` extra, absent from the worker image

        declared = yaml_parse(Path(args.parameters_of).read_text()).get("Parameters", {})
        outputs = {k: v for k, v in outputs.items() if k in declared}
    if wants_json():
        print_json(dict(sorted(outputs.items())))
        return 0
    print(" ".join(f"{key}={value}" for key, value in sorted(outputs.items())))
    return 0


def add_commands(sub: Any) -> None:
    deploy = sub.add_parser("deploy", help="after sam deploy: the first admin key, the stack's outputs")
    actions = deploy.add_subparsers(dest="action", required=True)
    p = actions.add_parser("bootstrap", help="create the operator's first admin key; print it and the API URL")
    p.add_argument("--env-file", help="also write MAAS_URL and MAAS_API_KEY to this file (mode 600)")
    p.set_defaults(func=cmd_deploy_bootstrap)
    p = actions.add_parser("outputs", help="the stack's outputs as Key=Value, for --parameter-overrides")
    p.add_argument("--parameters-of", metavar="TEMPLATE", help="only the outputs this template takes as parameters")
    p.set_defaults(func=cmd_deploy_outputs)
    for p in actions.choices.values():
        p.add_argument("--stack-name", default="maas", help="the stack sam deploy created (default: maas)")
        p.add_argument("--region", help="its region (default: AWS_REGION, then your AWS config)")
        p.add_argument("--profile", help="the AWS profile to use (default: AWS_PROFILE, then the default one)")
