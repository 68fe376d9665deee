"""The GPU workers on the local runtime: ``maas worker run`` processes, restarted when they die (as ECS would).

Their configuration comes from the template's outputs (the same ones the ECS and SageMaker stacks in infra/
take), so the local worker reads exactly the queue, tables, buckets and bus the template declares.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from maas.observability import logger

# template output -> worker environment variable
OUTPUT_ENVIRONMENT = {
    "RegistryTableName": "REGISTRY_TABLE",
    "JobsTableName": "JOBS_TABLE",
    "ArtifactsBucketName": "ARTIFACTS_BUCKET",
    "JobsBucketName": "JOBS_BUCKET",
    "EventBusName": "EVENT_BUS_NAME",
    "GpuJobsQueueUrl": "JOBS_QUEUE_URL",
    "GpuJobsDeadLetterQueueUrl": "JOBS_DEAD_LETTER_QUEUE_URL",
    "JobLeaseSeconds": "JOB_LEASE_SECONDS",
    "JobMaxAttempts": "JOB_MAX_ATTEMPTS",
    "MaxArtifactBytes": "MAX_ARTIFACT_BYTES",
    "MaxModelMemoryBytes": "MAX_MODEL_MEMORY_BYTES",
    "InboxBucketName": "INBOX_BUCKET",
}
STOP_SECONDS = 35  # the worker drains within 30 s of SIGTERM


def worker_environment(outputs: dict[str, str]) -> dict[str, str]:
    missing = [name for name in OUTPUT_ENVIRONMENT if name not in outputs]
    if missing:
        raise ValueError(f"the template has no outputs {', '.join(missing)}: the GPU worker cannot be configured")
    return {env: outputs[name] for name, env in OUTPUT_ENVIRONMENT.items()}


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)


class WorkerSupervisor:
    def __init__(
        self,
        count: int,
        environment: dict[str, str],
        log_dir: Path,
        cache_dir: Path,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.environment = {
            **environment,
            "MODEL_CACHE_DIR": str(cache_dir),
            "MODEL_CACHE_BYTES": environment.get("MODEL_CACHE_BYTES", str(1024**3)),
            "POWERTOOLS_SERVICE_NAME": "maas-worker",
        }
        self.log_dir = log_dir
        self.slots = [_Slot(i) for i in range(count)]
        self._on_change = on_change
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot)
        self._watcher.start()

    def _spawn(self, slot: _Slot) -> None:
        with (self.log_dir / f"worker-{slot.index}.log").open("ab") as log:
            slot.process = subprocess.Popen(
                [sys.executable, "-m", "maas.worker.main"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
            )

    def _watch(self) -> None:
        while not self._stopping.wait(0.3):
            changed = False
            with self._lock:
                for slot in self.slots:
                    process = slot.process
                    if process is None or process.poll() is None or self._stopping.is_set():
                        continue
                    slot.exit_codes.append(process.returncode)
                    slot.restarts += 1
                    logger.warning(
                        "GPU worker exited; starting another",
                        extra={"worker": slot.index, "code": process.returncode, "restarts": slot.restarts},
                    )
                    self._spawn(slot)
                    changed = True
            if changed and self._on_change is not None:
                self._on_change()

    def describe(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {
                    "index": s.index,
                    "pid": s.process.pid if s.process else None,
                    "restarts": s.restarts,
                    "log": str(self.log_dir / f"worker-{s.index}.log"),
                }
                for s in self.slots
            ]

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots if s.process is not None and s.process.poll() is None]

    def stop(self) -> None:
        """SIGTERM every worker (they drain), then SIGKILL whatever is left after ``STOP_SECONDS``."""
        self._stopping.set()
        with self._lock:
            processes = [s.process for s in self.slots if s.process is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def gpu_worker_count(default: int = 1) -> int:
    value = os.environ.get("MAAS_GPU_WORKERS")
    return int(value) if value and value.isdigit() else default
