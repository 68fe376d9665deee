"""The worker's side of a model host: start it, hand it tensors, read its answers, stop it.

    host = ModelHost(HostConfig(framework="torchscript", artifact_dir=d, entry="model.pt",
                                inputs=["x"], outputs=["y"], memory_bytes=1 << 30))
    host.start()                       # raises ModelHostError if it cannot load (or cannot be confined)
    outputs = host.run({"x": np.ones((4, 16), np.float32)})
    host.close()

A host serves one call at a time (the dynamic batcher hands it whole batches). When its process dies (a crash,
its memory limit), the call in flight fails and the next call starts a new process. The environment it gets
is empty but for what finds the runtime and the device (``PYTHONPATH``, ``LD_LIBRARY_PATH``, the visible GPUs):
no AWS credentials, no platform state.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from maas.sandbox import frames
from maas.sandbox.confine import probe

PASSED_ENVIRONMENT = ("PYTHONPATH", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
START_TIMEOUT_SECONDS = 120.0


class ModelHostError(RuntimeError):
    """The host could not load or run the model. ``kind``: unconfined, load, run, memory, crashed, timeout."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def _error(header: dict[str, Any], default: str) -> ModelHostError:
    """The host's error answer; an allocation that failed (the memory limit) is said to be one."""
    message = str(header.get("error", default))
    kind = str(header.get("kind", "run"))
    if any(sign in message for sign in _OUT_OF_MEMORY):
        kind = "memory"
    return ModelHostError(message, kind)


_OUT_OF_MEMORY = ("MemoryError", "Failed to allocate memory", "bad_alloc", "DefaultCPUAllocator: can't allocate")


@dataclass
class HostConfig:
    framework: str  # "onnx" | "torchscript"
    artifact_dir: str
    entry: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    input_specs: list[tuple[str, str, list[int]]] = field(default_factory=list)  # for smoke runs of TorchScript
    memory_bytes: int | None = None
    use_cuda: bool = False
    threads: int = 1
    require_confinement: bool = True
    run_timeout: float = 60.0
    max_frame_bytes: int = 256 << 20  # what the worker accepts back per call (its memory, not the host's)
    scratch_bytes: int = 64 << 20  # the scratch directory's files, all together (each one by RLIMIT_FSIZE)
    scratch_files: int = 64


def host_environment(scratch: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENVIRONMENT if k in os.environ}
    # This process's import path, not its PYTHONPATH: on Lambda the runtime's bootstrap puts the code and the
    # layers (/opt/python, where maas is) on sys.path itself, and PYTHONPATH holds only /var/runtime.
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    return {**env, "HOME": scratch, "TMPDIR": scratch, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


class ModelHost:
    def __init__(self, config: HostConfig, *, scratch_root: str | None = None) -> None:
        self.config = config
        self._scratch_root = scratch_root
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._scratch: str | None = None
        self.loaded: dict[str, Any] = {}
        self.confinement: dict[str, Any] = {}
        self.base_rss = 0
        self.peak_rss = 0
        self.starts = 0

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        with self._lock:
            return self._start()

    def _start(self) -> dict[str, Any]:
        self._stop()
        if self.config.require_confinement:
            support = probe()
            if not support.can_confine:  # the host checks again: what it applies is what counts
                raise ModelHostError(f"this host cannot confine model code ({support.describe()})", "unconfined")
        self._scratch = tempfile.mkdtemp(prefix="maas-host-", dir=self._scratch_root)
        parent, child = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-s", "-m", "maas.sandbox.host", str(child.fileno())],
                env=host_environment(self._scratch),
                cwd=self._scratch,
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the worker's terminal is the worker's to handle
            )
        finally:
            child.close()
        self._sock = parent
        self.starts += 1
        config = {**asdict(self.config), "framework": self.config.framework}
        try:
            frames.send(parent, {"op": "config", "config": config})
            header, _ = self._receive(START_TIMEOUT_SECONDS)
        except ModelHostError:
            self._stop()
            raise
        if header.get("op") != "loaded":
            self._stop()
            raise _error(header, "the model host did not load the model")
        self.loaded = header.get("model", {})
        self.confinement = header.get("confinement", {})
        self.base_rss = int(header.get("base_rss", 0))
        self.peak_rss = int(header.get("peak_rss", 0))
        return self.loaded

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        process, self._process = self._process, None
        if process is not None:
            try:
                process.wait(timeout=2)  # it stops by itself once its socket closes
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def memory_bytes(self) -> int:
        """What loading and running the model has cost this host at its peak, above the runtime itself."""
        return max(0, self.peak_rss - self.base_rss)

    # --- calls --------------------------------------------------------------------------------------------------
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._call({"op": "run"}, inputs)[1]

    def smoke(self) -> list[dict[str, Any]]:
        """Run the model once on inputs the host makes from its signature; the outputs' names, dtypes, shapes."""
        header, _ = self._call({"op": "smoke"}, None)
        return list(header.get("outputs", []))

    def _call(
        self, request: dict[str, Any], inputs: dict[str, np.ndarray] | None
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        with self._lock:
            if not self.alive:
                self._start()
            assert self._sock is not None
            try:
                frames.send(self._sock, request, inputs)
            except OSError as exc:
                self._stop()
                raise ModelHostError(f"the model host stopped ({exc.__class__.__name__})", "crashed") from exc
            header, outputs = self._receive(self.config.run_timeout)
            self._check_scratch()
            self.peak_rss = max(self.peak_rss, int(header.get("peak_rss", 0)))  # loads and smoke runs report it
            if header.get("op") != "result":
                raise _error(header, "the model failed")
            return header, outputs

    def _receive(self, timeout: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            return frames.recv(self._sock, max_body_bytes=self.config.max_frame_bytes)
        except TimeoutError:
            self._kill()
            raise ModelHostError(f"the model did not answer within {timeout:.0f} s", "timeout") from None
        except (frames.FrameError, OSError):
            reason = self._exit_reason()
            self._stop()
            kind = "memory" if "memory" in reason else "crashed"
            raise ModelHostError(f"the model host stopped ({reason})", kind) from None
        finally:
            if self._sock is not None:
                self._sock.settimeout(None)

    def _check_scratch(self) -> None:
        """The host may write files into its scratch, up to a total: past it, it stops (the disk is shared)."""
        if self._scratch is None:
            return
        total = count = 0
        with os.scandir(self._scratch) as entries:
            for entry in entries:
                count += 1
                total += entry.stat(follow_symlinks=False).st_size
                if count > self.config.scratch_files or total > self.config.scratch_bytes:
                    self._kill()
                    raise ModelHostError(
                        f"the model wrote more than its scratch allows ({self.config.scratch_files} files, "
                        f"{self.config.scratch_bytes} bytes); its host was stopped",
                        "scratch",
                    )

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self._stop()

    def _exit_reason(self) -> str:
        if self._process is None:
            return "not running"
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            return "killed: out of memory" if name == "SIGKILL" else f"killed by {name}"
        return f"exit status {code}"

    def __enter__(self) -> ModelHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
