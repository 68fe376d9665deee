"""``maas worker run``: the GPU worker process (ECS task, or one of the local runtime's workers).

Configuration comes from the environment (``maas.settings.WorkerSettings``); SIGTERM and SIGINT drain.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from maas import wiring
from maas.adapters.aws import client
from maas.backends.loader import cuda_available
from maas.observability import logger
from maas.sandbox.confine import probe
from maas.settings import WorkerSettings
from maas.worker.consumer import SqsConsumer, worker_id


def announce_sandbox(settings: WorkerSettings) -> None:
    """Say at start what this host can do with tenant code, and what the worker will do about it."""
    support = probe()
    if support.can_confine:
        logger.info("tenant code runs confined", extra={"sandbox": support.describe()})
    elif settings.tenant_code_sandbox == "required":
        logger.warning(
            "this host cannot confine tenant code: TorchScript versions are refused (set "
            "TENANT_CODE_SANDBOX=allow-unconfined to run them in a plain process instead)",
            extra={"sandbox": support.describe()},
        )
    else:
        logger.warning(
            "TENANT_CODE_SANDBOX=allow-unconfined on a host that cannot confine tenant code: TorchScript runs in "
            "a process of its own with an empty environment and a memory limit, but can read and write what "
            "this worker's user can",
            extra={"sandbox": support.describe()},
        )


def run() -> int:
    settings = WorkerSettings.from_env()
    if not settings.jobs_queue_url:
        raise SystemExit("JOBS_QUEUE_URL is not set: the worker needs the gpu-jobs queue to poll")
    name = worker_id()
    processor, jobs = wiring.job_processor(settings, name)
    worker = SqsConsumer(
        processor,
        jobs,
        client("sqs"),
        settings.jobs_queue_url,
        settings.dead_letter_queue_url,
        lease_seconds=settings.lease_seconds,
        max_inflight=settings.max_inflight,
        drain_seconds=settings.drain_seconds,
    )

    def stop(signum: int, frame: Any) -> None:
        logger.info("stopping: draining", extra={"signal": signum})
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    announce_sandbox(settings)
    logger.info("worker starting", extra={"worker": name, "cuda": cuda_available()})
    worker.run()
    # Whatever still ran at the drain deadline was handed back; do not wait for its threads at exit.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(run())
