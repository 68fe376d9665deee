"""``maas worker run``: the GPU worker process (ECS task, or one of the local runtime's workers).

Configuration comes from the environment (``maas.settings.WorkerSettings``); SIGTERM and SIGINT drain.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from maas.access import AccessPolicy
from maas.adapters.aws import client
from maas.adapters.batch import DynamoBatchStore
from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.jobs import DynamoJobStore
from maas.adapters.s3 import S3BlobStore
from maas.aliases import Aliases
from maas.backends.base import SandboxPolicy
from maas.backends.loader import backend_loader, cuda_available
from maas.batch.service import BatchService, BatchSettings
from maas.inference.cache import ModelCache
from maas.inference.service import VersionResolver
from maas.observability import logger
from maas.sandbox.confine import probe
from maas.settings import WorkerSettings
from maas.validation import ArtifactValidator, ValidationSettings
from maas.worker.consumer import SqsConsumer, worker_id
from maas.worker.engine import JobProcessor


def sandbox_policy(settings: WorkerSettings) -> SandboxPolicy:
    return SandboxPolicy(
        require_confinement=settings.tenant_code_sandbox == "required",
        memory_bytes=settings.max_model_memory_bytes,
    )


def build_processor(settings: WorkerSettings, name: str) -> tuple[JobProcessor, DynamoJobStore]:
    jobs = DynamoJobStore(settings.jobs_table)
    blobs = S3BlobStore()
    policy = sandbox_policy(settings)
    models = ModelCache(
        blobs,
        settings.artifacts_bucket,
        settings.model_cache_dir,
        settings.model_cache_bytes,
        loader=backend_loader(policy=policy),
    )
    events = EventBridgePublisher(settings.event_bus_name)
    registry = DynamoRegistryStore(settings.registry_table)
    validator = ArtifactValidator(
        registry,
        blobs,
        events,
        ValidationSettings(
            max_artifact_bytes=settings.max_artifact_bytes,
            max_model_memory_bytes=settings.max_model_memory_bytes,
            require_confinement=policy.require_confinement,
        ),
        aliases=Aliases(registry, registry, events),
        load_torch=True,
        use_cuda=True,
    )
    processor = JobProcessor(
        jobs,
        registry,
        models,
        blobs,
        bucket=settings.jobs_bucket,
        events=events,
        worker_id=name,
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        validator=validator,
        batches=_batches(settings, registry, blobs, events, models),
    )
    return processor, jobs


def _batches(
    settings: WorkerSettings,
    registry: DynamoRegistryStore,
    blobs: S3BlobStore,
    events: EventBridgePublisher,
    models: ModelCache,
) -> BatchService | None:
    if settings.inbox_bucket is None:
        return None
    return BatchService(
        DynamoBatchStore(settings.jobs_table),
        VersionResolver(registry, 2, aliases=registry),
        blobs,
        events,
        settings=BatchSettings(inbox_bucket=settings.inbox_bucket, outbox_bucket=settings.jobs_bucket),
        access=AccessPolicy(registry, 0),
        models=models,
    )


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
    processor, jobs = build_processor(settings, name)
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
