"""``maas local ...``: start, inspect and stop the local runtime (the whole template on this machine)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from maas.cli.output import print_done, print_json, wants_json
from maas.deployment.artifacts import stale_sources
from maas.local import state
from maas.local.template import TemplateError

DEFAULT_STATE_DIR = ".maas"


def state_dir_of(args: argparse.Namespace) -> Path:
    """``--state-dir``, then ``MAAS_STATE_DIR`` (the global option's default), then ``.maas``."""
    return Path(getattr(args, "state_dir", None) or DEFAULT_STATE_DIR)


def _runtime_config(args: argparse.Namespace) -> Any:
    from maas.local.runtime import RuntimeConfig  # the runtime's modules and Powertools: for `up` only

    parameters = {}
    for item in args.parameter_overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--parameter-overrides takes Key=Value, not {item!r}")
        parameters[key] = value
    from_build = Path(args.from_build) if args.from_build else None
    return RuntimeConfig(
        template=_template_path(args),
        state_dir=state_dir_of(args),
        host=args.host,
        gateway_port=args.port,
        aws_port=args.aws_port,
        aws_endpoint=args.aws_endpoint,
        parameters=parameters,
        max_instances=args.max_instances,
        gpu_workers=args.gpu_workers,
        from_build=from_build,
        python=args.python,
        provided=Path(args.lambda_runtime_dir),
    )


def _template_path(args: argparse.Namespace) -> Path:
    """The built template when running from a build (its CodeUri and ContentUri name the built folders)."""
    return Path(args.from_build) / "template.yaml" if args.from_build else Path(args.template)


def _print_status(state: dict[str, Any], state_dir: Path) -> None:
    if wants_json():
        print_json({**state, "credentials": str(state_dir / "local.env")})
        return
    print(f"MaaS local runtime: {state['status']} (supervisor pid {state['pid']})")
    if state.get("ready_seconds") is not None:
        print(f"  ready in        {state['ready_seconds']} s")
    print(f"  gateway         {state.get('gateway_url')}")
    emulator = state.get("emulator", {})
    pid = f" (moto, pid {emulator['pid']})" if emulator.get("pid") else " (external)"
    print(f"  AWS endpoint    {state.get('aws_endpoint')}{pid}")
    built = state.get("from_build")
    if built:
        pythons = ", ".join(f"{runtime} = {python}" for runtime, python in built["pythons"].items())
        print(f"  functions from  {built['folder']} ({pythons})")
    for name, pids in state.get("functions", {}).items():
        print(f"  function        {name:28} pids {', '.join(map(str, pids)) or '-'}")
    for poller in state.get("pollers", []):
        print(f"  delivers        {poller['kind']:11} -> {poller['function']}")
    for worker in state.get("workers", []):
        restarts = f", restarted {worker['restarts']}x" if worker.get("restarts") else ""
        print(f"  gpu worker      #{worker['index']:<27} pid {worker['pid']}{restarts}")
    print(f"  credentials     {state_dir / 'local.env'}")
    print(f"  logs            {state.get('logs')}")


def cmd_local_up(args: argparse.Namespace) -> int:
    from maas.local.runtime import RuntimeStartError, run_foreground  # as in _runtime_config

    state_dir = state_dir_of(args)
    running = state.running_state(state_dir)
    if running:
        print(
            f"MaaS local runtime is already running (pid {running['pid']}, {running.get('gateway_url')}).\n"
            "Use it as it is, or stop it first with: maas local down",
            file=sys.stderr,
        )
        return 1
    template = _template_path(args)
    if not template.is_file():
        hint = "run `make build` first" if args.from_build else "run from the project folder or pass --template"
        print(f"no template at {template}: {hint}", file=sys.stderr)
        return 2
    if args.from_build:
        stale = stale_sources(Path(args.from_build))
        if stale:
            print(
                f"warning: {len(stale)} source files changed since the build (such as {stale[0]}): "
                "run `make build` to test what would be deployed",
                file=sys.stderr,
            )
    orphans = state.clean_up_after_dead_runtime(state_dir)
    if orphans:
        print(f"stopped {orphans} processes left behind by a runtime that was killed", file=sys.stderr)
    if args.detach:
        return _detach(args, state_dir)

    def announce(runtime: Any) -> None:
        print(f"MaaS local runtime ready in {runtime.ready_seconds} s")
        print(f"  gateway       {runtime.gateway.url}")
        print(f"  AWS endpoint  {runtime.endpoint}")
        print(f"  credentials   {runtime.state_dir / 'local.env'}  (MAAS_URL, MAAS_API_KEY, AWS_ENDPOINT_URL)")
        print("Press Ctrl-C to stop everything.", flush=True)

    try:
        return run_foreground(_runtime_config(args), on_ready=announce)
    except (RuntimeStartError, TemplateError) as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 1


def _detach(args: argparse.Namespace, state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(exist_ok=True)
    log_path = state_dir / "logs" / "runtime.log"
    argv = [a for a in sys.argv[1:] if a not in ("--detach", "-d")]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "maas.cli.main", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.ready_timeout
    while time.monotonic() < deadline:
        current = state.read_state(state_dir)
        if current and current.get("status") == "ready" and current.get("pid") == process.pid:
            _print_status(current, state_dir)
            return 0
        if process.poll() is not None:
            print(f"the local runtime exited while starting; its log ({log_path}) ends:", file=sys.stderr)
            print("".join(log_path.read_text(errors="replace").splitlines(True)[-15:]), file=sys.stderr)
            return 1
        time.sleep(0.1)
    process.terminate()
    print(f"the local runtime was not ready within {args.ready_timeout} s; see {log_path}", file=sys.stderr)
    return 1


def cmd_local_status(args: argparse.Namespace) -> int:
    state_dir = state_dir_of(args)
    current = state.running_state(state_dir)
    if not current:
        sentence = f"MaaS local runtime is not running in {state_dir} (start it with: maas local up)"
        print_done(sentence, {"status": "not running", "state_dir": str(state_dir)})
        return 3
    _print_status(current, state_dir)
    return 0


def cmd_local_down(args: argparse.Namespace) -> int:
    state_dir = state_dir_of(args)
    current = state.running_state(state_dir)
    if not current:
        orphans = state.clean_up_after_dead_runtime(state_dir)
        done = {"status": "not running", "state_dir": str(state_dir), "stopped_orphans": orphans}
        if orphans:
            print_done(f"MaaS local runtime was not running; stopped {orphans} processes it had left behind", done)
        else:
            print_done(f"MaaS local runtime is not running in {state_dir}", done)
        return 0
    pid = int(current["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while state.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if state.pid_alive(pid):
        for child in [pid, *state.recorded_children(current)]:
            if child and state.pid_alive(child):
                os.kill(child, signal.SIGKILL)
        (state_dir / state.STATE_FILE).unlink(missing_ok=True)
        done = {"status": "killed", "pid": pid, "state_dir": str(state_dir)}
        print_done(f"MaaS local runtime (pid {pid}) did not stop in time and was killed", done)
        return 0
    print_done(
        f"MaaS local runtime (pid {pid}) stopped", {"status": "stopped", "pid": pid, "state_dir": str(state_dir)}
    )
    return 0


def add_commands(sub: Any) -> None:
    local = sub.add_parser("local", help="the local runtime").add_subparsers(dest="action", required=True)
    _add_up_command(local)
    for name, func, text in (("status", cmd_local_status, "what runs"), ("down", cmd_local_down, "stop it all")):
        p = local.add_parser(name, help=text)
        p.set_defaults(func=func)
    for p in local.choices.values():
        # SUPPRESS: given here or before the command (`maas --state-dir X local status`), the same option
        p.add_argument("--state-dir", default=argparse.SUPPRESS, help="where state, logs and local.env live")


def _add_up_command(local: Any) -> None:
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
