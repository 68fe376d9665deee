"""Building the batch parts from a function's settings, on the AWS adapters.

The jobs function serves the API (``batch_service``), the split function splits (``batch_splitter``), the batch
worker function and the GPU worker run shards (``batch_shard_runner``, ``shard_runner``).
"""

from __future__ import annotations

from maas.access import AccessPolicy
from maas.adapters.batch import DynamoBatchStore
from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.s3 import S3BlobStore
from maas.adapters.sqs import SqsQueueSender
from maas.batch.assembly import BatchAssembler
from maas.batch.predict import CachedModelPredictor
from maas.batch.service import BatchService
from maas.batch.settings import BatchSettings
from maas.batch.shards import ShardRunner
from maas.batch.split import BatchSplitter
from maas.batch.store import BatchStore
from maas.inference.cache import ModelCache
from maas.inference.service import VersionResolver
from maas.ports import BlobStore, EventPublisher
from maas.quotas import QuotaEnforcer
from maas.settings import BatchFunctionSettings


def _batch_settings(settings: BatchFunctionSettings) -> BatchSettings:
    return BatchSettings(
        inbox_bucket=settings.inbox_bucket,
        outbox_bucket=settings.jobs_bucket,
        shard_rows=settings.shard_rows,
        max_input_bytes=settings.max_input_bytes,
    )


def _resolver(settings: BatchFunctionSettings, registry: DynamoRegistryStore) -> VersionResolver:
    return VersionResolver(registry, settings.registry_cache_seconds, aliases=registry)


def batch_service(settings: BatchFunctionSettings, *, store: DynamoRegistryStore | None = None) -> BatchService:
    """The batch routes' side: start, read and list jobs."""
    registry = store or DynamoRegistryStore(settings.registry_table)
    return BatchService(
        DynamoBatchStore(settings.jobs_table),
        _resolver(settings, registry),
        S3BlobStore(),
        settings=_batch_settings(settings),
        access=AccessPolicy(registry, settings.grant_cache_seconds),
        quotas=QuotaEnforcer(registry, settings.registry_cache_seconds),
    )


def batch_splitter(settings: BatchFunctionSettings) -> BatchSplitter:
    """The split function's side: inbox files -> shards on cpu-shards or gpu-jobs."""
    registry = DynamoRegistryStore(settings.registry_table)
    jobs = DynamoBatchStore(settings.jobs_table)
    blobs = S3BlobStore()
    batch_settings = _batch_settings(settings)
    return BatchSplitter(
        jobs,
        _resolver(settings, registry),
        blobs,
        BatchAssembler(jobs, blobs, EventBridgePublisher(settings.event_bus_name), settings=batch_settings),
        settings=batch_settings,
        access=AccessPolicy(registry, settings.grant_cache_seconds),
        tenants=registry,
        cpu_shards=SqsQueueSender(settings.cpu_shards_queue_url) if settings.cpu_shards_queue_url else None,
        gpu_shards=SqsQueueSender(settings.gpu_jobs_queue_url) if settings.gpu_jobs_queue_url else None,
    )


def batch_shard_runner(settings: BatchFunctionSettings, *, models: ModelCache) -> ShardRunner:
    """The batch worker function's side: cpu-target shards on the function's model cache."""
    registry = DynamoRegistryStore(settings.registry_table)
    return shard_runner(
        DynamoBatchStore(settings.jobs_table),
        _resolver(settings, registry),
        S3BlobStore(),
        EventBridgePublisher(settings.event_bus_name),
        settings=_batch_settings(settings),
        access=AccessPolicy(registry, settings.grant_cache_seconds),
        models=models,
    )


def shard_runner(
    store: BatchStore,
    resolver: VersionResolver,
    blobs: BlobStore,
    events: EventPublisher,
    *,
    settings: BatchSettings,
    access: AccessPolicy,
    models: ModelCache,
) -> ShardRunner:
    """A shard runner on adapters a process has built already (the GPU worker's), with the assembler its last
    shard runs."""
    return ShardRunner(
        store,
        resolver,
        blobs,
        CachedModelPredictor(models),
        BatchAssembler(store, blobs, events, settings=settings),
        settings=settings,
        access=access,
    )
