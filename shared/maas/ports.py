"""Every port the core talks through, side by side: stores per aggregate, blobs, queues and events.

The real adapters wrap boto3 (``maas.adapters``); unit tests pass the in-memory fakes of ``tests/fakes.py``, and
one contract suite per port (``tests/integration/test_*_store.py``) runs against both, so a fake cannot drift.
Ports import only the domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from maas.domain import ApiKey, Model, ModelVersion, Tenant, VersionStatus
from maas.domain.access import Grant, Quota
from maas.domain.aliases import Alias
from maas.domain.audit import AuditEntry
from maas.domain.batch import BatchJob, BatchStatus
from maas.domain.jobs import EventSource, Job, JobOutcome, JobStatus
from maas.domain.paging import Page
from maas.domain.stats import InferenceCounters, VersionStats
from maas.events import PlatformEvent


# --- the registry table: one store per aggregate ---------------------------------------------------------------
class RegistryStore(Protocol):
    """Tenants, key hashes, models and versions. Every item is keyed under its tenant, but the tenants' index."""

    def create_tenant(self, tenant: Tenant) -> None:
        """Store a new tenant; ConflictError if the id is taken."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def list_tenants(self, *, limit: int | None = None, next_token: str | None = None) -> Page[Tenant]:
        """Every tenant, in id order (the operator's listing)."""

    def put_key(self, key: ApiKey) -> None: ...

    def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None: ...

    def list_keys(self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None) -> Page[ApiKey]:
        """Every list method takes a page's ``limit`` and the ``next_token`` of the page before (maas.domain.paging)."""

    def revoke_key(self, tenant_id: str, key_id: str, when: datetime) -> bool:
        """Mark a key revoked; False when there is no such key."""

    def create_model(self, model: Model) -> None:
        """Store a new model; ConflictError if the name is taken in the tenant."""

    def get_model(self, tenant_id: str, name: str) -> Model | None: ...

    def list_models(
        self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Model]: ...

    def update_model(self, model: Model) -> None:
        """Write a model's description, target and batching."""

    def allocate_version(self, tenant_id: str, name: str) -> int:
        """Atomically take the model's next version number: 1, 2, ...; never the same one twice."""

    def put_version(self, version: ModelVersion) -> None: ...

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion | None: ...

    def list_versions(
        self, tenant_id: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[ModelVersion]: ...

    def finish_version(self, version: ModelVersion) -> bool:
        """Write a validated version only if the stored one is still PENDING_UPLOAD; False if it was not."""

    def mark_announced(self, tenant_id: str, model: str, version: int) -> None: ...

    def set_optimization(self, tenant_id: str, model: str, version: int, report: dict[str, Any]) -> None: ...

    def set_version_status(
        self, tenant_id: str, model: str, version: int, status: VersionStatus, expected: VersionStatus
    ) -> bool:
        """Change a version's status only from ``expected``; False if it was not."""

    def delete_model(self, tenant_id: str, name: str, when: datetime) -> None:
        """Mark the model deleted; its name and version numbers are never reused."""


class AliasStore(Protocol):
    """Aliases, next to their model in the registry table."""

    def get_alias(self, tenant_id: str, model: str, name: str) -> Alias | None: ...

    def list_aliases(
        self, tenant_id: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Alias]: ...

    def save_alias(self, alias: Alias, expected_revision: int) -> None:
        """Write if the stored revision is ``expected_revision`` (0: no alias yet); PreconditionFailedError if not."""

    def delete_alias(self, tenant_id: str, model: str, name: str, expected_revision: int) -> bool:
        """Delete if the stored revision is ``expected_revision``; False if it is not."""


class GrantStore(Protocol):
    """Grants under the owner's tenant: who else may use a model, how."""

    def get_grant(self, owner: str, model: str, grantee: str) -> Grant | None: ...

    def list_grants(
        self, owner: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Grant]: ...

    def put_grant(self, grant: Grant) -> None: ...

    def delete_grant(self, owner: str, model: str, grantee: str) -> bool: ...

    def list_shared_with(self, grantee: str) -> list[Grant]:
        """Every grant made to ``grantee``, whoever the owner, by owner then model."""


class AuditStore(Protocol):
    def put_audit(self, entry: AuditEntry) -> None: ...

    def list_audit(
        self, tenant_id: str, limit: int | None = None, *, model: str | None = None, next_token: str | None = None
    ) -> Page[AuditEntry]:
        """Newest first."""


class QuotaStore(Protocol):
    def get_quota(self, tenant_id: str) -> Quota | None: ...

    def put_quota(self, tenant_id: str, quota: Quota | None) -> None: ...

    def take_token(self, tenant_id: str, bucket: str, rate: float, burst: int, now: float) -> float:
        """Admit one request: 0.0, or the seconds until the bucket has room again."""

    def add_usage(self, tenant_id: str, day: str, model: str, requests: int, throttled: int) -> None: ...

    def list_usage(self, tenant_id: str) -> list[dict[str, Any]]: ...

    def add_inference_stats(self, tenant_id: str, model: str, version: int, counters: InferenceCounters) -> None:
        """Add an instance's counters to the version's (atomic); ``last_inference`` only moves forward."""

    def list_inference_stats(self, tenant_id: str, model: str | None = None) -> list[VersionStats]:
        """The stored statistics of the tenant's versions (of one model), by model then version."""


class ShadowStatsStore(Protocol):
    def record_shadow_sample(
        self,
        tenant_id: str,
        model: str,
        alias: str,
        version: int,
        sample_id: str,
        *,
        agreed: bool,
        errored: bool,
        primary_ms: float,
        shadow_ms: float,
    ) -> bool:
        """Add one sample to the alias's counters; False (and nothing added) if this sample id was seen."""

    def get_shadow_stats(self, tenant_id: str, model: str, alias: str, version: int) -> dict[str, Any] | None: ...


# --- the jobs table ---
class JobStore(Protocol):
    def create_job(self, job: Job, body_hash: str | None = None) -> tuple[Job, bool]:
        """Store a new QUEUED job; with ``job.idempotency_key``, at most one job per key.

        Returns (the job, True) when created, (the earlier job, False) when the key was used before with the same
        ``body_hash``; ConflictError when it was used with another.
        """

    def get_job(self, tenant_id: str, job_id: str) -> Job | None: ...

    def list_jobs(
        self,
        tenant_id: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[Job]:
        """Newest first."""

    def claim_job(
        self,
        tenant_id: str,
        job_id: str,
        *,
        token: str,
        worker: str,
        lease_until: float,
        now: float,
        max_attempts: int = 1_000_000,
    ) -> Job | None:
        """QUEUED (or RUNNING with an expired lease), claimed fewer than ``max_attempts`` times, -> RUNNING under
        ``token``; None when not claimable."""

    def extend_lease(self, tenant_id: str, job_id: str, token: str, lease_until: float) -> bool: ...

    def release_job(self, tenant_id: str, job_id: str, token: str) -> bool:
        """RUNNING under ``token`` -> QUEUED: a stopping worker hands back a job it has not started."""

    def finish_job(
        self, tenant_id: str, job_id: str, outcome: JobOutcome, *, token: str | None, expect: tuple[JobStatus, ...]
    ) -> bool:
        """Write the outcome only if the job is in one of ``expect`` (and still under ``token``, if given)."""

    def cancel_job(self, tenant_id: str, job_id: str) -> bool:
        """QUEUED -> CANCELLED; False when the job has started or finished."""

    def mark_job_announced(self, tenant_id: str, job_id: str) -> None: ...

    def count_active_jobs(self, tenant_id: str, *, model: str | None = None, stop_at: int = 1000) -> int:
        """QUEUED and RUNNING jobs of the tenant (of one model as the tenant names it), counting up to ``stop_at``."""


class EventSourceStore(Protocol):
    """A tenant's event sources, kept under the tenant: a source is looked up in the tenant its name names."""

    def put_event_source(self, source: EventSource) -> None:
        """ConflictError when the tenant registered the source already."""

    def get_event_source(self, tenant_id: str, source: str) -> EventSource | None: ...

    def list_event_sources(
        self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[EventSource]: ...

    def delete_event_source(self, tenant_id: str, source: str) -> bool: ...


class BatchStore(Protocol):
    """Batch jobs in the jobs table. Every move is conditional, so that a split, a shard and an assembly each count
    once however often SQS and S3 deliver them: a call that finds the job in another state returns False."""

    def create_batch(self, job: BatchJob) -> tuple[BatchJob, bool]:
        """Store the job and claim its inbox key; (the earlier job, False) when the key was claimed before."""

    def find_by_key(self, tenant_id: str, key: str) -> BatchJob | None:
        """The job that claimed this inbox key."""

    def get_batch(self, tenant_id: str, job_id: str) -> BatchJob | None: ...

    def list_batches(self, tenant_id: str, limit: int = 100, *, next_token: str | None = None) -> Page[BatchJob]:
        """Newest first."""

    def claim_split(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        """PENDING_UPLOAD (or SPLITTING since before ``stale_before``) -> SPLITTING under ``token``."""

    def finish_split(
        self,
        tenant_id: str,
        job_id: str,
        token: str,
        *,
        version: int,
        target: str,
        rows: int,
        shards: int,
        errors: int,
        input_bytes: int,
    ) -> bool:
        """SPLITTING under ``token`` -> RUNNING with its totals; the rows the split rejected count as failed."""

    def fail_batch(self, tenant_id: str, job_id: str, reason: str, expect: tuple[BatchStatus, ...]) -> bool:
        """-> FAILED with ``reason``, only from one of ``expect``."""

    def complete_shard(self, tenant_id: str, job_id: str, shard: int, rows_done: int, rows_failed: int) -> bool:
        """Add a shard's counts to its job once: False when it was counted before (a duplicate delivery)."""

    def claim_assembly(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        """RUNNING with the split and every shard done (or ASSEMBLING since before ``stale_before``) ->
        ASSEMBLING under ``token``."""

    def finish_batch(
        self,
        tenant_id: str,
        job_id: str,
        token: str,
        status: BatchStatus,
        *,
        manifest: dict[str, Any],
        error: str | None,
    ) -> bool:
        """ASSEMBLING under ``token`` -> ``status`` with the manifest: False for an assembly taken over."""

    def mark_batch_announced(self, tenant_id: str, job_id: str) -> None: ...


class ShardPredictor(Protocol):
    """The one call a shard makes into a model (``maas.batch.predict.CachedModelPredictor`` on the model cache)."""

    def predict(self, version: ModelVersion, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``{"row", "id", "inputs"}`` rows -> ``{"row", "id", "outputs"}`` or ``{"row", "id", "error"}``, in order."""


# --- blobs, queues and events ---
class QueueSender(Protocol):
    def send(self, body: str) -> None: ...


class BlobInfo(NamedTuple):
    size: int
    version_id: str | None


class BlobStore(Protocol):
    def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str: ...

    def presign_get(self, bucket: str, key: str, *, expires_in: int) -> str: ...

    def put_file(self, bucket: str, key: str, path: str) -> None:
        """Upload a local file without reading it into memory (multipart for large files)."""

    def put(self, bucket: str, key: str, data: bytes) -> str | None:
        """Write an object; returns its version id where the bucket keeps versions."""

    def head(self, bucket: str, key: str, version_id: str | None = None) -> BlobInfo | None: ...

    def iter_bytes(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]: ...


class EventPublisher(Protocol):
    def publish(self, event: PlatformEvent) -> None:
        """Put one event on the platform bus (source ``maas``)."""
