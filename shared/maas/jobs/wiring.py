"""Building the job services from a function's settings, on the AWS adapters (one place for every function)."""

from __future__ import annotations

from maas.access import AccessPolicy
from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.jobs import DynamoJobStore
from maas.adapters.s3 import S3BlobStore
from maas.inference.service import VersionResolver
from maas.jobs.service import JobService
from maas.quotas import QuotaEnforcer, UsageRecorder
from maas.settings import InferenceSettings


def job_service(
    settings: InferenceSettings,
    store: DynamoRegistryStore,
    resolver: VersionResolver | None = None,
    usage: UsageRecorder | None = None,
) -> JobService | None:
    """The job service when the settings name a jobs table, bucket and bus; None otherwise."""
    if not (settings.jobs_table and settings.jobs_bucket and settings.event_bus_name):
        return None
    return JobService(
        DynamoJobStore(settings.jobs_table),
        resolver or VersionResolver(store, settings.registry_cache_seconds, aliases=store),
        S3BlobStore(),
        settings.jobs_bucket,
        EventBridgePublisher(settings.event_bus_name),
        access=AccessPolicy(store, settings.grant_cache_seconds),
        quotas=QuotaEnforcer(store, settings.registry_cache_seconds),
        usage=usage,
    )
