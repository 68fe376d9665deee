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


def _runtime_config(args: argparse.Namespace) -> Any:
    from maas.local.runtime import RuntimeConfig

    parameters = {}
    for item in args.parameter_overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--parameter-overrides takes Key=Value, not {item!r}")
        parameters[key] = value
    from_build = Path(args.from_build) if args.from_build else None
    return RuntimeConfig(
        template=_template_path(args),
        state_dir=Path(args.state_dir),
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
    from maas.local import state
    from maas.local.runtime import RuntimeStartError, run_foreground
    from maas.local.template import TemplateError

    state_dir = Path(args.state_dir)
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
        from maas.deployment.artifacts import stale_sources

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
    from maas.local import state

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
    from maas.local import state

    state_dir = Path(args.state_dir)
    current = state.running_state(state_dir)
    if not current:
        print("MaaS local runtime is not running (start it with: maas local up)")
        return 3
    _print_status(current, state_dir)
    return 0


def cmd_local_down(args: argparse.Namespace) -> int:
    from maas.local import state

    state_dir = Path(args.state_dir)
    current = state.running_state(state_dir)
    if not current:
        orphans = state.clean_up_after_dead_runtime(state_dir)
        if orphans:
            print(f"MaaS local runtime was not running; stopped {orphans} processes it had left behind")
        else:
            print("MaaS local runtime is not running")
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
        print(f"MaaS local runtime (pid {pid}) did not stop in time and was killed")
        return 0
    print(f"MaaS local runtime (pid {pid}) stopped")
    return 0
