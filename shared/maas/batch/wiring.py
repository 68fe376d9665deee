"""Building the batch service from a function's settings, on the AWS adapters."""

from __future__ import annotations

from maas.access import AccessPolicy
from maas.adapters.batch import DynamoBatchStore
from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.s3 import S3BlobStore
from maas.adapters.sqs import SqsQueueSender
from maas.batch.service import BatchService, BatchSettings
from maas.inference.cache import ModelCache
from maas.inference.service import VersionResolver
from maas.quotas import QuotaEnforcer
from maas.settings import BatchFunctionSettings


def batch_service(
    settings: BatchFunctionSettings, *, models: ModelCache | None = None, store: DynamoRegistryStore | None = None
) -> BatchService:
    registry = store or DynamoRegistryStore(settings.registry_table)
    return BatchService(
        DynamoBatchStore(settings.jobs_table),
        VersionResolver(registry, settings.registry_cache_seconds, aliases=registry),
        S3BlobStore(),
        EventBridgePublisher(settings.event_bus_name),
        settings=BatchSettings(
            inbox_bucket=settings.inbox_bucket,
            outbox_bucket=settings.jobs_bucket,
            shard_rows=settings.shard_rows,
            max_input_bytes=settings.max_input_bytes,
        ),
        access=AccessPolicy(registry, settings.grant_cache_seconds),
        quotas=QuotaEnforcer(registry, settings.registry_cache_seconds),
        tenants=registry,
        cpu_shards=SqsQueueSender(settings.cpu_shards_queue_url) if settings.cpu_shards_queue_url else None,
        gpu_shards=SqsQueueSender(settings.gpu_jobs_queue_url) if settings.gpu_jobs_queue_url else None,
        models=models,
    )
