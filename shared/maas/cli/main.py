"""``maas``: the local runtime, tenants and keys, models. Talks to the same HTTP API as every client.

Each command group lives in its own module, which adds its sub-parsers with ``add_commands(subparsers)``;
this one assembles them, turns an API error into a message and exit code 1, and Ctrl-C into 130.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version

from maas.cli import aliases, batch, deploy, grants, inference, jobs, keys, local, models, stats, tenants, worker
from maas.cli.completion import bash_script
from maas.cli.errors import ApiError
from maas.cli.output import FORMATS, choose_format

# In the order ``maas --help`` lists them.
COMMAND_GROUPS = (local, tenants, keys, models, aliases, grants, inference, jobs, worker, batch, deploy, stats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description="MaaS: serverless Model-as-a-Service")
    parser.add_argument("--version", action="version", version=f"maas {_version()}")
    parser.add_argument("--url", help="API base URL (default: MAAS_URL, then the state folder's local.env)")
    parser.add_argument("--api-key", help="API key (default: MAAS_API_KEY, then the state folder's local.env)")
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("MAAS_STATE_DIR"),
        help="the local runtime's state folder (default: MAAS_STATE_DIR, then .maas here or in a folder above)",
    )
    parser.add_argument(
        "--output", "-o", choices=FORMATS, help="json for scripts, table for people (default: each command's own)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    completion = sub.add_parser("completion", help='shell completion: eval "$(maas completion bash)"')
    completion.add_argument("shell", choices=["bash"])
    completion.set_defaults(func=lambda args: _print_completion(parser))
    for command in _commands(parser):  # also after the command: `maas models list -o json`
        if "--output" not in command._option_string_actions:
            command.add_argument("--output", "-o", choices=FORMATS, default=argparse.SUPPRESS, help="json or table")
    return parser


def _print_completion(parser: argparse.ArgumentParser) -> int:
    print(bash_script(parser), end="")
    return 0


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` that takes no further subcommand."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for child in getattr(action, "choices", {}).values():
            found += _commands(child) if child._subparsers else [child]
    return found


def _version() -> str:
    try:
        return version("maas")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw[:2] == ["worker", "serve"]:  # its own flags (and --help), parsed by maas.worker.http
        from maas.worker.http import main as serve  # numpy and the model backends: only for this command

        return serve(raw[2:])
    args = build_parser().parse_args(argv)
    choose_format(args.output)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at interpreter exit
    except ApiError as error:
        print(f"error: {error.message} ({error.code}, HTTP {error.status})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `maas ... | head` stopped reading: stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except Exception as error:
        message = _sdk_error(error)  # before OSError: the SDK's WaitTimeoutError is a TimeoutError
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return 1
        if not isinstance(error, OSError):
            raise
        # requests' errors are OSErrors: connection refused, unknown host, timeout
        print(f"error: cannot reach the API: {_reason(error)}", file=sys.stderr)
        return 2
    return code


def _sdk_error(error: Exception) -> str | None:
    """The one line for an error of the SDK (``maas_client``: absent from the worker image, hence looked up here)."""
    errors = sys.modules.get("maas_client.errors")
    if errors is None:
        return None
    if isinstance(error, errors.MaasApiError):
        return f"{error.message} ({error.code}, HTTP {error.status})"
    return str(error) if isinstance(error, errors.MaasError) else None


def _reason(error: OSError) -> str:
    """The operating system's words (``[Errno 111] Connection refused``), not a library's nested repr."""
    found = re.findall(r"\[Errno -?\d+\] [^'\")]+", str(error))
    return found[-1] if found else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
