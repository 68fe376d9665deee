"""Function instances and pools: each function runs in its own processes, scaled out when requests overlap."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from maas.local.built import BuiltFunctions
from maas.local.provision import FunctionSpec


class InvocationError(RuntimeError):
    """The function raised, timed out or its process died."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class FunctionInstance:
    """One function process: on this environment's Python, or, given ``built``, on its built code and layers."""

    def __init__(
        self, spec: FunctionSpec, environment: dict[str, str], log_path: Path, built: BuiltFunctions | None = None
    ) -> None:
        self.spec = spec
        parent, child = socket.socketpair()
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed in stop()
        env = {**environment, **spec.environment}
        fd = child.fileno()
        if built is None:
            command = [sys.executable, "-m", "maas.local.host", str(fd), str(spec.code_dir), spec.handler]
            command.append(str(spec.timeout))
        else:
            command, env = built.command(spec, fd), built.environment(spec, env)
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=spec.code_dir if built else None,  # Lambda starts a function in its code folder
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(child.fileno(),),
        )
        child.close()
        self._sock = parent
        self._conn = Connection(os.dup(parent.fileno()))
        self.ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float) -> None:
        if not self._conn.poll(timeout):
            self.stop()
            raise InvocationError("Init", f"{self.spec.logical_id} did not start within {timeout:.0f} s")
        try:
            status = json.loads(self._conn.recv_bytes())
        except EOFError:
            raise InvocationError("Init", f"{self.spec.logical_id} exited while starting") from None
        if not status.get("ready"):
            self.stop()
            raise InvocationError("Init", f"{self.spec.logical_id} failed to import: {status.get('error')}")
        self.ready = True

    def invoke(self, event: Any) -> Any:
        request = {"request_id": str(uuid.uuid4()), "event": event}
        try:
            self._conn.send_bytes(json.dumps(request).encode())
            if not self._conn.poll(self.spec.timeout + 1):
                self.stop()
                raise InvocationError("Timeout", f"Task timed out after {self.spec.timeout} seconds")
            reply = json.loads(self._conn.recv_bytes())
        except (EOFError, OSError) as exc:
            self.stop()
            raise InvocationError("Crash", f"{self.spec.logical_id} process exited ({exc})") from exc
        if not reply["ok"]:
            raise InvocationError(reply["errorType"], reply["errorMessage"])
        return reply["result"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        for closer in (self._conn.close, self._sock.close):
            try:
                closer()
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class FunctionPool:
    """Instances of one function: an idle one serves the next invocation; a new one starts while all are busy,
    up to ``max_instances`` (Lambda's concurrency limit, scaled to one machine)."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        log_dir: Path,
        *,
        max_instances: int = 4,
        on_change: Callable[[], None] | None = None,
        built: BuiltFunctions | None = None,
    ) -> None:
        self.spec = spec
        self._built = built
        self._environment = {
            **environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "_HANDLER": spec.handler,
        }
        self._log_path = log_dir / f"{spec.logical_id}.log"
        self._max = max_instances
        self._idle: list[FunctionInstance] = []
        self._all: list[FunctionInstance] = []
        self._starting = 0
        self._cond = threading.Condition()
        self._closed = False
        self._on_change = on_change or (lambda: None)

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [i.pid for i in self._all if i.alive]

    def _start_instance(self) -> FunctionInstance:
        instance = FunctionInstance(self.spec, self._environment, self._log_path, self._built)
        try:
            instance.wait_ready(timeout=60)
        except InvocationError:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._starting -= 1
            self._all.append(instance)
            self._cond.notify_all()
        self._on_change()
        return instance

    def warm(self) -> None:
        with self._cond:
            self._starting += 1
        self.release(self._start_instance())

    def acquire(self) -> FunctionInstance:
        with self._cond:
            while True:
                if self._closed:
                    raise InvocationError("Shutdown", "the local runtime is stopping")
                while self._idle:
                    instance = self._idle.pop()
                    if instance.alive:
                        return instance
                    self._discard_locked(instance)
                if len(self._all) + self._starting < self._max:
                    self._starting += 1
                    break
                self._cond.wait(timeout=1)
        return self._start_instance()

    def release(self, instance: FunctionInstance) -> None:
        with self._cond:
            if instance.alive and not self._closed:
                self._idle.append(instance)
            else:
                self._discard_locked(instance)
            self._cond.notify()

    def _discard_locked(self, instance: FunctionInstance) -> None:
        if instance in self._all:
            self._all.remove(instance)
        instance.stop()

    def invoke(self, event: Any) -> Any:
        instance = self.acquire()
        try:
            return instance.invoke(event)
        finally:
            self.release(instance)
            if not instance.alive:
                self._on_change()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            instances = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for instance in instances:
            instance.stop()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
