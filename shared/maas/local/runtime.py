"""The supervisor: starts the emulator, provisions the template, runs the functions, the gateway and the pollers.

``maas local up`` runs one ``LocalRuntime`` in the foreground; ``--detach`` runs the same in a background
process and returns once it is ready. Everything it starts, it stops: on Ctrl-C, SIGTERM or ``maas local down``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from maas.local import state
from maas.local.built import BuiltFunctions, BuiltRuntimeError
from maas.local.functions import FunctionPool, wait_until
from maas.local.gateway import Gateway
from maas.local.pollers import QueuePoller
from maas.local.provision import Provisioner, Topology
from maas.local.template import Resolver, TemplateError, load_template
from maas.local.workers import WorkerSupervisor, worker_environment
from maas.observability import logger

ACCOUNT_ID = "123456789012"
# Where the local runtime departs from the template's defaults (a user's --parameter-overrides still win):
# a revoked grant takes effect at once, and usage reaches the table within a second.
LOCAL_PARAMETER_DEFAULTS = {"GrantCacheSeconds": "0", "UsageFlushSeconds": "1"}
# moto accepts any signature and serves every tenant's objects: it must never be reachable from another machine,
# whatever address the gateway is given
EMULATOR_HOST = "127.0.0.1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class RuntimeStartError(RuntimeError):
    """The runtime could not start; the message says why, for a person."""


@dataclass
class RuntimeConfig:
    template: Path
    state_dir: Path
    host: str = "127.0.0.1"
    gateway_port: int = 3000
    aws_port: int = 4566
    aws_endpoint: str | None = None
    region: str = "us-east-1"
    stack_name: str = "maas"
    parameters: dict[str, str] = field(default_factory=dict)
    max_instances: int = 4
    gpu_workers: int = 1
    # From a `sam build` folder (the template is its template.yaml): each function runs on its built code and
    # layers, on the Lambda runtime's Python (``python``, else found), with the runtime's boto3 (``provided``).
    from_build: Path | None = None
    python: str | None = None
    provided: Path = Path("build/lambda-runtime/python")


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status < 500)
    except OSError:
        return False


class LocalRuntime:
    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.log_dir = self.state_dir / "logs"
        self.endpoint = config.aws_endpoint or f"http://{EMULATOR_HOST}:{config.aws_port}"
        self.moto: subprocess.Popen[bytes] | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[QueuePoller] = []
        self.gateway: Gateway | None = None
        self.workers: WorkerSupervisor | None = None
        self.topology: Topology | None = None
        self.built: BuiltFunctions | None = None
        self.started_at = datetime.now(UTC)
        self.ready_seconds: float | None = None
        self._stopped = threading.Event()
        self._state_lock = threading.Lock()

    # --- environment ----------------------------------------------------------------------------------------
    def aws_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            **LOCAL_CREDENTIALS,
        }

    def function_environment(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
        return {
            **{k: os.environ[k] for k in keep if k in os.environ},
            **self.aws_environment(),
            "PYTHONUNBUFFERED": "1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_EXECUTION_ENV": "maas-local",
        }

    def client(self, service: str) -> Any:
        if self.config.aws_endpoint:
            from localstack_client.session import Session

            return Session(region_name=self.config.region).client(service)
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.config.region)

    # --- start ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        started = time.perf_counter()
        config = self.config
        if state.running_state(self.state_dir):
            raise RuntimeStartError(f"already running ({self.state_dir / state.STATE_FILE})")
        if not port_free(config.host, config.gateway_port):
            raise RuntimeStartError(f"port {config.gateway_port} on {config.host} is in use; choose --port")
        if not config.aws_endpoint and not port_free(EMULATOR_HOST, config.aws_port):
            raise RuntimeStartError(
                f"port {config.aws_port} on {EMULATOR_HOST} is in use (LocalStack or another moto?); "
                "choose --aws-port, or use it with --aws-endpoint"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(self.aws_environment())
        from maas.adapters import aws

        aws.reset()
        self._write_state("starting")

        with ThreadPoolExecutor(2) as pool:
            # moto and the SAM translation both take about a second: overlap them.
            emulator = pool.submit(self._start_emulator)
            template = pool.submit(load_template, config.template, config.region)
            emulator.result()
            translated = template.result()

        resolver = Resolver(config.region, ACCOUNT_ID, config.stack_name, self._parameters(translated.raw))
        self.topology = topology = Provisioner(translated, resolver, self.client).run()
        if config.from_build is not None:
            runtimes = {spec.runtime for spec in topology.functions.values()}
            try:
                self.built = BuiltFunctions.prepare(runtimes, config.provided, config.python)
            except BuiltRuntimeError as error:
                raise RuntimeStartError(str(error)) from error

        environment = self.function_environment()
        for logical_id, spec in topology.functions.items():
            self.pools[logical_id] = FunctionPool(
                spec,
                environment,
                self.log_dir,
                max_instances=config.max_instances,
                on_change=self._refresh_state,
                built=self.built,
            )
        with ThreadPoolExecutor(max(1, len(self.pools))) as pool:
            for future in [pool.submit(p.warm) for p in self.pools.values()]:
                future.result()

        admin_key = self._bootstrap_admin(topology)
        self.gateway = Gateway(topology.routes, self.invoke, host=config.host, port=config.gateway_port)
        self.gateway.start()
        sqs = self.client("sqs")
        for source in topology.sources:
            poller = QueuePoller(source, sqs, self.invoke, config.region, concurrency=config.max_instances)
            poller.start()
            self.pollers.append(poller)
        if config.gpu_workers > 0:
            self.workers = WorkerSupervisor(
                config.gpu_workers,
                {**environment, **worker_environment(topology.outputs)},
                self.log_dir,
                self.state_dir / "worker-models",
                on_change=self._refresh_state,
            )
            self.workers.start()

        state.write_env(
            self.state_dir,
            {
                "MAAS_URL": self.gateway.url,
                "MAAS_API_KEY": admin_key,
                **self.aws_environment(),
                **{
                    f"MAAS_RESOURCE_{k}": v
                    for k, v in sorted(topology.names.items())
                    if k in ("RegistryTable", "ArtifactsBucket", "EventBus")
                },
            },
        )
        self.ready_seconds = round(time.perf_counter() - started, 2)
        self._write_state("ready")
        logger.info("local runtime ready", extra={"seconds": self.ready_seconds, "url": self.gateway.url})

    def _parameters(self, raw: dict[str, Any]) -> dict[str, str]:
        declared = raw.get("Parameters", {})
        unknown = set(self.config.parameters) - set(declared)
        if unknown:
            raise TemplateError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        values = {name: str(p["Default"]) for name, p in declared.items() if "Default" in p}
        values.update({k: v for k, v in LOCAL_PARAMETER_DEFAULTS.items() if k in declared})
        values.update(self.config.parameters)
        missing = set(declared) - set(values)
        if missing:
            raise TemplateError(f"template parameters without a value: {', '.join(sorted(missing))}")
        return values

    def _start_emulator(self) -> None:
        if self.config.aws_endpoint:
            if not wait_until(lambda: _http_ok(self.endpoint), 10):
                raise RuntimeStartError(f"no emulator answers at {self.endpoint}")
            return
        log = open(self.log_dir / "moto.log", "ab")  # noqa: SIM115 - handed to the child
        self.moto = subprocess.Popen(
            [sys.executable, "-m", "maas.local.emulator", "-H", EMULATOR_HOST, "-p", str(self.config.aws_port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.aws_environment(), "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        log.close()
        if not wait_until(lambda: _http_ok(f"{self.endpoint}/moto-api/"), 20):
            raise RuntimeStartError(f"moto did not start; see {self.log_dir / 'moto.log'}")

    def _bootstrap_admin(self, topology: Topology) -> str:
        from maas import wiring  # boto3 and the stores: only when bootstrapping

        table = topology.names.get("RegistryTable")
        if table is None:
            raise TemplateError("the template has no RegistryTable")
        return wiring.tenants(table).bootstrap_operator()

    # --- serving --------------------------------------------------------------------------------------------
    def invoke(self, function: str, event: Any) -> Any:
        return self.pools[function].invoke(event)

    def _refresh_state(self) -> None:
        if self.ready_seconds is not None and not self._stopped.is_set():
            self._write_state("ready")

    def _write_state(self, status: str) -> None:
        with self._state_lock:
            state.write_json_atomic(
                self.state_dir / state.STATE_FILE,
                {
                    "status": status,
                    "pid": os.getpid(),
                    "started_at": self.started_at.isoformat(),
                    "ready_seconds": self.ready_seconds,
                    "gateway_url": self.gateway.url if self.gateway else None,
                    "aws_endpoint": self.endpoint,
                    "emulator": {"kind": "moto", "pid": self.moto.pid} if self.moto else {"kind": "external"},
                    "functions": {name: pool.pids for name, pool in self.pools.items()},
                    "workers": self.workers.describe() if self.workers else [],
                    "pollers": [
                        {"kind": p.source.kind, "function": p.source.function, "queue": p.source.queue_url}
                        for p in self.pollers
                    ],
                    "template": str(self.config.template),
                    "from_build": (
                        {"folder": str(self.config.from_build), "pythons": self.built.pythons} if self.built else None
                    ),
                    "logs": str(self.log_dir),
                },
            )

    def wait(self) -> None:
        self._stopped.wait()

    # --- stop -----------------------------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for poller in self.pollers:
            poller.stop()
        if self.gateway:
            self.gateway.stop()
        if self.workers:
            self.workers.stop()
        for pool in self.pools.values():
            pool.close()
        for poller in self.pollers:
            poller.join(3)
        if self.moto and self.moto.poll() is None:
            self.moto.terminate()
            try:
                self.moto.wait(5)
            except subprocess.TimeoutExpired:
                self.moto.kill()
        try:
            (self.state_dir / state.STATE_FILE).unlink()
        except FileNotFoundError:
            pass


def run_foreground(config: RuntimeConfig, on_ready: Any = None) -> int:
    """Start, serve until SIGINT or SIGTERM, stop everything. Returns the exit code."""
    runtime = LocalRuntime(config)

    def shutdown(signum: int, frame: Any) -> None:
        threading.Thread(target=runtime.stop, daemon=True).start()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        runtime.start()
    except BaseException:
        runtime.stop()
        raise
    if on_ready:
        on_ready(runtime)
    while not runtime._stopped.wait(0.5):
        pass
    # stop() runs on its own thread; wait until it has removed the state file.
    wait_until(lambda: not (runtime.state_dir / state.STATE_FILE).exists(), 15)
    return 0
