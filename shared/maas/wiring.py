"""The one place that builds services: every function, the GPU worker and the local runtime call a factory here.

Each factory takes the function's settings model (``maas.settings``) and returns what its handler serves, on the
AWS adapters. Numbers come from the settings, never from here. A handler is then its decorators, one call into
this module at cold start, and the handler itself (``functions/*/app.py``).

Imports of what only some functions serve (onnxruntime-backed inference, the batch formats, the worker engine)
are made inside the factory that needs them: a function's cold start pays for its own code and nothing else,
and a function whose layers lack a package (the authorizer has no numpy-heavy path) never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maas.access import AccessPolicy, Grants
from maas.adapters.dynamodb import RegistryStores, registry_stores
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.s3 import S3BlobStore
from maas.adapters.sqs import SqsQueueSender
from maas.aliases import Aliases
from maas.audit import AuditLog
from maas.authorizer import Authorizer
from maas.ports import JobStore
from maas.quotas import QuotaEnforcer, Quotas, UsageRecorder
from maas.registry import Registry
from maas.settings import (
    AuthorizerSettings,
    BatchFunctionSettings,
    ControlPlaneSettings,
    InferenceSettings,
    JobsApiSettings,
    OptimizeSettings,
    ShadowSettings,
    ValidatorSettings,
    WorkerSettings,
)
from maas.tenants import Tenants

if TYPE_CHECKING:  # annotations only: the modules themselves load inside the factories below (see the docstring)
    from maas.api.inference import OipApi
    from maas.batch.service import BatchService
    from maas.batch.settings import BatchSettings
    from maas.batch.shards import ShardRunner
    from maas.batch.split import BatchSplitter
    from maas.inference.cache import ModelCache
    from maas.inference.service import VersionResolver
    from maas.inference.shadow import ShadowRunner
    from maas.jobs.service import Ingress, JobService
    from maas.optimize import Optimizer
    from maas.validation import ArtifactValidator
    from maas.worker.engine import JobProcessor


def _queue(url: str | None) -> SqsQueueSender | None:
    return SqsQueueSender(url) if url else None


def version_resolver(stores: RegistryStores, cache_seconds: float) -> VersionResolver:
    from maas.inference.service import VersionResolver

    return VersionResolver(stores.registry, cache_seconds, aliases=stores.aliases)


def tenants(table_name: str) -> Tenants:
    """Tenants and keys without an audit log: the operator's bootstrap (``maas local up``, ``maas deploy``)."""
    return Tenants(registry_stores(table_name).registry)


def aliases(stores: RegistryStores, event_bus_name: str) -> Aliases:
    return Aliases(
        stores.registry,
        stores.aliases,
        EventBridgePublisher(event_bus_name),
        shadow_stats=stores.shadow_stats,
        audit=AuditLog(stores.audit),
    )


# --- the HTTP API -----------------------------------------------------------------------------------------------
def authorizer(settings: AuthorizerSettings) -> Authorizer:
    return Authorizer(tenants(settings.registry_table), settings.auth_cache_seconds)


def control_plane_app(settings: ControlPlaneSettings) -> Any:
    from maas.api.control_plane import ControlPlane, create_app
    from maas.optimize import Optimizer

    stores = registry_stores(settings.registry_table)
    audit = AuditLog(stores.audit)
    blobs = S3BlobStore()
    registry = Registry(
        stores.registry,
        blobs,
        artifacts_bucket=settings.artifacts_bucket,
        upload_expires_in=settings.upload_expires_in,
        aliases=stores.aliases,
        access=AccessPolicy(stores.grants, settings.grant_cache_seconds),
        audit=audit,
    )
    return create_app(
        ControlPlane(
            tenants=Tenants(stores.registry, audit),
            registry=registry,
            aliases=aliases(stores, settings.event_bus_name),
            grants=Grants(stores.grants, stores.registry, audit),
            quotas=Quotas(stores.quotas, stores.registry, audit),
            audit=audit,
            optimizer=Optimizer(
                registry, stores.registry, blobs, settings.artifacts_bucket, _queue(settings.optimize_queue_url)
            ),
        )
    )


def inference_api(settings: InferenceSettings) -> OipApi:
    from maas.api.inference import OipApi
    from maas.inference.cache import model_cache_for
    from maas.inference.repository import ModelRepository
    from maas.inference.service import InferenceLimits, InferenceService
    from maas.inference.stats import ModelStatistics

    stores = registry_stores(settings.registry_table)
    resolver = version_resolver(stores, settings.registry_cache_seconds)
    usage = UsageRecorder(stores.quotas, settings.usage_flush_seconds, background=True)
    access = AccessPolicy(stores.grants, settings.grant_cache_seconds)
    service = InferenceService(
        resolver,
        model_cache_for(settings, S3BlobStore()),
        InferenceLimits(max_request_bytes=settings.max_request_bytes),
        shadow_queue=_queue(settings.shadow_queue_url),
        access=access,
        quotas=QuotaEnforcer(stores.quotas, settings.registry_cache_seconds),
        usage=usage,
    )
    return OipApi(
        service,
        job_service(settings, resolver=resolver, usage=usage),  # "Prefer: respond-async"
        statistics=ModelStatistics(stores.registry, stores.quotas, resolver, access),
        repository=ModelRepository(stores.registry, resolver, access),
    )


# --- async jobs -------------------------------------------------------------------------------------------------
def job_service(
    settings: InferenceSettings, *, resolver: VersionResolver | None = None, usage: UsageRecorder | None = None
) -> JobService | None:
    """The job service when the settings name a jobs table, bucket and bus; None otherwise."""
    from maas.adapters.dynamodb.jobs import DynamoJobStore
    from maas.jobs.service import JobService

    if not (settings.jobs_table and settings.jobs_bucket and settings.event_bus_name):
        return None
    stores = registry_stores(settings.registry_table)
    return JobService(
        DynamoJobStore(settings.jobs_table),
        resolver or version_resolver(stores, settings.registry_cache_seconds),
        S3BlobStore(),
        settings.jobs_bucket,
        EventBridgePublisher(settings.event_bus_name),
        access=AccessPolicy(stores.grants, settings.grant_cache_seconds),
        quotas=QuotaEnforcer(stores.quotas, settings.registry_cache_seconds),
        usage=usage,
    )


def _required_job_service(settings: JobsApiSettings, usage: UsageRecorder | None = None) -> JobService:
    jobs = job_service(settings, usage=usage)
    if jobs is None:  # JobsApiSettings requires the table, bucket and bus; this only narrows the type
        raise RuntimeError("the jobs table, bucket and bus are not configured")
    return jobs


def jobs_app(settings: JobsApiSettings, batch_settings: BatchFunctionSettings) -> Any:
    from maas.api.jobs import create_jobs_app
    from maas.jobs.service import EventSources

    stores = registry_stores(settings.registry_table)
    usage = UsageRecorder(stores.quotas, settings.usage_flush_seconds, background=True)
    return create_jobs_app(
        _required_job_service(settings, usage),
        EventSources(stores.event_sources),
        batch_service(batch_settings),
    )


def ingress(settings: JobsApiSettings) -> Ingress:
    from maas.jobs.service import Ingress

    if not settings.ingress_dead_letter_queue_url:
        raise RuntimeError("INGRESS_DEAD_LETTER_QUEUE_URL is required")
    return Ingress(
        _required_job_service(settings),
        registry_stores(settings.registry_table).event_sources,
        SqsQueueSender(settings.ingress_dead_letter_queue_url),
    )


# --- batch predictions ------------------------------------------------------------------------------------------
def _batch_settings(settings: BatchFunctionSettings) -> BatchSettings:
    from maas.batch.settings import BatchSettings

    return BatchSettings(
        inbox_bucket=settings.inbox_bucket,
        outbox_bucket=settings.jobs_bucket,
        shard_rows=settings.shard_rows,
        max_input_bytes=settings.max_input_bytes,
    )


def batch_service(settings: BatchFunctionSettings) -> BatchService:
    """The batch routes' side: start, read and list batch jobs."""
    from maas.adapters.dynamodb.batch import DynamoBatchStore
    from maas.batch.service import BatchService

    stores = registry_stores(settings.registry_table)
    return BatchService(
        DynamoBatchStore(settings.jobs_table),
        version_resolver(stores, settings.registry_cache_seconds),
        S3BlobStore(),
        settings=_batch_settings(settings),
        access=AccessPolicy(stores.grants, settings.grant_cache_seconds),
        quotas=QuotaEnforcer(stores.quotas, settings.registry_cache_seconds),
    )


def batch_splitter(settings: BatchFunctionSettings) -> BatchSplitter:
    """The split function's side: an inbox file -> a job, shards on cpu-shards or gpu-jobs."""
    from maas.adapters.dynamodb.batch import DynamoBatchStore
    from maas.batch.assembly import BatchAssembler
    from maas.batch.split import BatchSplitter

    stores = registry_stores(settings.registry_table)
    jobs = DynamoBatchStore(settings.jobs_table)
    blobs = S3BlobStore()
    batch_settings = _batch_settings(settings)
    return BatchSplitter(
        jobs,
        version_resolver(stores, settings.registry_cache_seconds),
        blobs,
        BatchAssembler(jobs, blobs, EventBridgePublisher(settings.event_bus_name), settings=batch_settings),
        settings=batch_settings,
        access=AccessPolicy(stores.grants, settings.grant_cache_seconds),
        tenants=stores.registry,
        cpu_shards=_queue(settings.cpu_shards_queue_url),
        gpu_shards=_queue(settings.gpu_jobs_queue_url),
    )


def batch_shard_runner(settings: BatchFunctionSettings) -> ShardRunner:
    """The batch worker function's side: the shards of cpu-target models, on onnxruntime (CPU)."""
    from maas.backends.loader import backend_loader
    from maas.inference.cache import model_cache_for

    models = model_cache_for(settings, S3BlobStore(), backend_loader(use_cuda=False))
    return _shard_runner(settings, _batch_settings(settings), models)


def _shard_runner(
    settings: BatchFunctionSettings | WorkerSettings, batch_settings: BatchSettings, models: ModelCache
) -> ShardRunner:
    """A shard runner with the assembler its last shard runs (the batch worker function's, the GPU worker's)."""
    from maas.adapters.dynamodb.batch import DynamoBatchStore
    from maas.batch.assembly import BatchAssembler
    from maas.batch.predict import CachedModelPredictor
    from maas.batch.shards import ShardRunner

    stores = registry_stores(settings.registry_table)
    jobs = DynamoBatchStore(settings.jobs_table)
    blobs = S3BlobStore()
    return ShardRunner(
        jobs,
        version_resolver(stores, settings.registry_cache_seconds),
        blobs,
        CachedModelPredictor(models),
        BatchAssembler(jobs, blobs, EventBridgePublisher(settings.event_bus_name), settings=batch_settings),
        settings=batch_settings,
        access=AccessPolicy(stores.grants, settings.grant_cache_seconds),
    )


# --- models: validation, optimisation, shadow -------------------------------------------------------------------
def artifact_validator(settings: ValidatorSettings) -> ArtifactValidator:
    from maas.validation import ArtifactValidator, ValidationSettings

    stores = registry_stores(settings.registry_table)
    return ArtifactValidator(
        stores.registry,
        S3BlobStore(),
        EventBridgePublisher(settings.event_bus_name),
        ValidationSettings(
            max_artifact_bytes=settings.max_artifact_bytes, max_model_memory_bytes=settings.max_model_memory_bytes
        ),
        aliases=aliases(stores, settings.event_bus_name),
        # torch does not fit this function: TorchScript versions are loaded and smoke-run on the GPU workers
        torch_handoff=_queue(settings.torchscript_queue_url),
    )


def optimizer(settings: OptimizeSettings) -> Optimizer:
    from maas.optimize import Optimizer

    stores = registry_stores(settings.registry_table)
    blobs = S3BlobStore()
    registry = Registry(stores.registry, blobs, artifacts_bucket=settings.artifacts_bucket)
    return Optimizer(registry, stores.registry, blobs, settings.artifacts_bucket, None)


def shadow_runner(settings: ShadowSettings) -> ShadowRunner:
    from maas.inference.cache import model_cache_for
    from maas.inference.shadow import ShadowRunner

    stores = registry_stores(settings.registry_table)
    return ShadowRunner(
        version_resolver(stores, settings.registry_cache_seconds),
        model_cache_for(settings, S3BlobStore()),
        stores.shadow_stats,
    )


# --- the GPU worker and the CPU jobs function -------------------------------------------------------------------
def job_processor(settings: WorkerSettings, worker_name: str) -> tuple[JobProcessor, JobStore]:
    """The job engine (jobs, validation hand-offs, gpu batch shards) and the job store it claims from."""
    from maas.adapters.dynamodb.jobs import DynamoJobStore
    from maas.backends.loader import backend_loader
    from maas.inference.cache import ModelCache
    from maas.validation import ArtifactValidator, ValidationSettings
    from maas.worker.engine import JobProcessor

    stores = registry_stores(settings.registry_table)
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
    validator = ArtifactValidator(
        stores.registry,
        blobs,
        events,
        ValidationSettings(
            max_artifact_bytes=settings.max_artifact_bytes,
            max_model_memory_bytes=settings.max_model_memory_bytes,
            require_confinement=policy.require_confinement,
        ),
        aliases=Aliases(stores.registry, stores.aliases, events),
        load_torch=True,
        use_cuda=True,
    )
    processor = JobProcessor(
        jobs,
        stores.registry,
        models,
        blobs,
        bucket=settings.jobs_bucket,
        events=events,
        worker_id=worker_name,
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        validator=validator,
        batches=_gpu_shards(settings, models),
    )
    return processor, jobs


def sandbox_policy(settings: WorkerSettings) -> Any:
    from maas.backends.base import SandboxPolicy

    return SandboxPolicy(
        require_confinement=settings.tenant_code_sandbox == "required",
        memory_bytes=settings.max_model_memory_bytes,
    )


def _gpu_shards(settings: WorkerSettings, models: ModelCache) -> ShardRunner | None:
    """Batch shards of gpu-target models come on the worker's queue too."""
    from maas.batch.settings import BatchSettings

    if settings.inbox_bucket is None:
        return None
    return _shard_runner(
        settings, BatchSettings(inbox_bucket=settings.inbox_bucket, outbox_bucket=settings.jobs_bucket), models
    )
