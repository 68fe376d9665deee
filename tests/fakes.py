"""In-memory fakes of the ports in ``maas.ports``, with the semantics of the real adapters.

``InMemoryRegistryStore`` behaves like the DynamoDB adapters of ``maas.adapters.dynamodb``: conditional creates
raise ConflictError, ``allocate_version`` is atomic, ``finish_version`` writes only over a PENDING_UPLOAD item,
and every read returns a copy (as a DynamoDB read does), so a caller that edits what it read changes nothing
until it writes. ``InMemoryBlobStore`` is a versioned bucket; ``RecordingPublisher`` records the events.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from maas.domain import ApiKey, Model, ModelVersion, Target, Tenant, VersionStatus, utcnow
from maas.domain.access import Grant, Quota
from maas.domain.aliases import Alias
from maas.domain.audit import AuditEntry
from maas.domain.batch import BatchJob, BatchStatus
from maas.domain.jobs import EventSource, Job, JobOutcome, JobStatus
from maas.domain.paging import Page, page_of
from maas.domain.stats import InferenceCounters, VersionStats
from maas.errors import ConflictError, NotFoundError, PreconditionFailedError
from maas.events import PlatformEvent
from maas.ports import BlobInfo

M = TypeVar("M", bound=BaseModel)


def _copy(obj: M) -> M:
    return obj.model_copy(deep=True)


def _pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"  # the table's partition key: the fakes' page tokens are the adapters' tokens


class InMemoryRegistryStore:
    """A ``RegistryStore`` in dictionaries; lists come back in the table's sort-key order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tenants: dict[str, Tenant] = {}
        self.keys: dict[tuple[str, str], ApiKey] = {}
        self.models: dict[tuple[str, str], Model] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.versions: dict[tuple[str, str, int], ModelVersion] = {}
        self.aliases: dict[tuple[str, str, str], Alias] = {}
        self.shadow_samples: set[str] = set()
        self.grants: dict[tuple[str, str, str], Grant] = {}
        self.quotas: dict[str, Quota] = {}
        self.buckets: dict[tuple[str, str], float] = {}
        self.usage: dict[tuple[str, str, str], list[int]] = {}
        self.inference_stats: dict[tuple[str, str, int], InferenceCounters] = {}
        self.audit: list[AuditEntry] = []
        self.shadow_stats: dict[tuple[str, str, str, int], dict] = {}

    # --- tenants and keys ----------------------------------------------------------------------------------
    def create_tenant(self, tenant: Tenant) -> None:
        with self._lock:
            if tenant.tenant_id in self.tenants:
                raise ConflictError(f"tenant '{tenant.tenant_id}' already exists")
            self.tenants[tenant.tenant_id] = _copy(tenant)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        tenant = self.tenants.get(tenant_id)
        return _copy(tenant) if tenant else None

    def list_tenants(self, *, limit: int | None = None, next_token: str | None = None) -> Page[Tenant]:
        rows = [(_pk(t), _copy(tenant)) for t, tenant in self.tenants.items()]
        return page_of(rows, "TENANTS", "T#", limit=limit, next_token=next_token)

    def put_key(self, key: ApiKey) -> None:
        with self._lock:
            if (key.tenant_id, key.key_id) in self.keys:
                raise ConflictError("key id collision")
            self.keys[(key.tenant_id, key.key_id)] = _copy(key)

    def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None:
        key = self.keys.get((tenant_id, key_id))
        return _copy(key) if key else None

    def list_keys(self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None) -> Page[ApiKey]:
        rows = [(f"KEY#{k}", _copy(key)) for (t, k), key in self.keys.items() if t == tenant_id]
        return page_of(rows, _pk(tenant_id), "KEY#", limit=limit, next_token=next_token)

    def revoke_key(self, tenant_id: str, key_id: str, when: datetime) -> bool:
        with self._lock:
            key = self.keys.get((tenant_id, key_id))
            if key is None:
                return False
            if key.revoked_at is None:  # if_not_exists: the first revocation's time stays
                key.revoked_at = when
            return True

    # --- models and versions -------------------------------------------------------------------------------
    def create_model(self, model: Model) -> None:
        with self._lock:
            ident = (model.tenant_id, model.name)
            if ident in self.models:
                raise ConflictError(f"model '{model.name}' already exists")
            self.models[ident] = _copy(model)
            self.counters[ident] = 0

    def get_model(self, tenant_id: str, name: str) -> Model | None:
        model = self.models.get((tenant_id, name))
        return _copy(model) if model else None

    def list_models(self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None) -> Page[Model]:
        rows = [(f"MODEL#{n}", _copy(m)) for (t, n), m in self.models.items() if t == tenant_id]
        keep = lambda m: m.deleted_at is None  # noqa: E731
        return page_of(rows, _pk(tenant_id), "MODEL#", limit=limit, next_token=next_token, keep=keep)

    def update_model(self, model: Model) -> None:
        with self._lock:
            self.models[(model.tenant_id, model.name)] = _copy(model)

    def delete_model(self, tenant_id: str, name: str, when: datetime) -> None:
        with self._lock:
            self.models[(tenant_id, name)].deleted_at = when

    def allocate_version(self, tenant_id: str, name: str) -> int:
        with self._lock:
            ident = (tenant_id, name)
            if ident not in self.models:
                raise NotFoundError(f"model '{name}' not found")
            self.counters[ident] += 1
            return self.counters[ident]

    def put_version(self, version: ModelVersion) -> None:
        with self._lock:
            ident = (version.tenant_id, version.model, version.version)
            if ident in self.versions:
                raise ConflictError(f"version {version.version} of '{version.model}' already exists")
            self.versions[ident] = _copy(version)

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion | None:
        found = self.versions.get((tenant_id, model, version))
        return _copy(found) if found else None

    def list_versions(
        self, tenant_id: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[ModelVersion]:
        rows = [(f"VERSION#{m}#{n:010d}", _copy(v)) for (t, m, n), v in self.versions.items() if t == tenant_id]
        return page_of(rows, _pk(tenant_id), f"VERSION#{model}#", limit=limit, next_token=next_token)

    def finish_version(self, version: ModelVersion) -> bool:
        with self._lock:
            ident = (version.tenant_id, version.model, version.version)
            stored = self.versions.get(ident)
            # DynamoDB's condition status = PENDING_UPLOAD is false for a missing item too.
            if stored is None or stored.status != VersionStatus.PENDING_UPLOAD:
                return False
            self.versions[ident] = _copy(version)
            return True

    def set_version_status(
        self, tenant_id: str, model: str, version: int, status: VersionStatus, expected: VersionStatus
    ) -> bool:
        with self._lock:
            stored = self.versions.get((tenant_id, model, version))
            if stored is None or stored.status != expected:
                return False
            stored.status = status
            return True

    # --- aliases -------------------------------------------------------------------------------------------
    def get_alias(self, tenant_id: str, model: str, name: str) -> Alias | None:
        alias = self.aliases.get((tenant_id, model, name))
        return _copy(alias) if alias else None

    def list_aliases(
        self, tenant_id: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Alias]:
        rows = [(f"ALIAS#{m}#{n}", _copy(a)) for (t, m, n), a in self.aliases.items() if t == tenant_id]
        return page_of(rows, _pk(tenant_id), f"ALIAS#{model}#", limit=limit, next_token=next_token)

    def save_alias(self, alias: Alias, expected_revision: int) -> None:
        with self._lock:
            ident = (alias.tenant_id, alias.model, alias.name)
            stored = self.aliases.get(ident)
            if (stored.revision if stored else 0) != expected_revision:
                raise PreconditionFailedError(f"alias '{alias.name}' changed since revision {expected_revision}")
            self.aliases[ident] = _copy(alias)

    def delete_alias(self, tenant_id: str, model: str, name: str, expected_revision: int) -> bool:
        with self._lock:
            stored = self.aliases.get((tenant_id, model, name))
            if stored is None or stored.revision != expected_revision:
                return False
            del self.aliases[(tenant_id, model, name)]
            return True

    # --- grants ---------------------------------------------------------------------------------------------
    def get_grant(self, owner: str, model: str, grantee: str) -> Grant | None:
        grant = self.grants.get((owner, model, grantee))
        return _copy(grant) if grant else None

    def list_grants(
        self, owner: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Grant]:
        rows = [(f"GRANT#{m}#{g}", _copy(grant)) for (o, m, g), grant in self.grants.items() if o == owner]
        return page_of(rows, _pk(owner), f"GRANT#{model}#", limit=limit, next_token=next_token)

    def put_grant(self, grant: Grant) -> None:
        with self._lock:
            self.grants[(grant.owner, grant.model, grant.grantee)] = _copy(grant)

    def delete_grant(self, owner: str, model: str, grantee: str) -> bool:
        with self._lock:
            return self.grants.pop((owner, model, grantee), None) is not None

    def list_shared_with(self, grantee: str) -> list[Grant]:
        return [_copy(g) for (o, m, g_), g in sorted(self.grants.items()) if g_ == grantee]

    # --- quotas and usage -----------------------------------------------------------------------------------
    def get_quota(self, tenant_id: str) -> Quota | None:
        quota = self.quotas.get(tenant_id)
        return _copy(quota) if quota else None

    def put_quota(self, tenant_id: str, quota: Quota | None) -> None:
        with self._lock:
            if quota is None:
                self.quotas.pop(tenant_id, None)
            else:
                self.quotas[tenant_id] = _copy(quota)

    def take_token(self, tenant_id: str, bucket: str, rate: float, burst: int, now: float) -> float:
        interval = 1.0 / rate
        with self._lock:
            tat = self.buckets.get((tenant_id, bucket))
            if tat is None or tat <= now:
                self.buckets[(tenant_id, bucket)] = now + interval
                return 0.0
            limit = now + (burst - 1) * interval
            if tat <= limit:
                self.buckets[(tenant_id, bucket)] = tat + interval
                return 0.0
            return max(0.001, tat - limit)

    def add_usage(self, tenant_id: str, day: str, model: str, requests: int, throttled: int) -> None:
        with self._lock:
            slot = self.usage.setdefault((tenant_id, day, model), [0, 0])
            slot[0] += requests
            slot[1] += throttled

    def list_usage(self, tenant_id: str) -> list[dict]:
        return [
            {"day": d, "model": m, "requests": r, "throttled": t}
            for (tenant, d, m), (r, t) in sorted(self.usage.items())
            if tenant == tenant_id
        ]

    def add_inference_stats(self, tenant_id: str, model: str, version: int, counters: InferenceCounters) -> None:
        with self._lock:
            self.inference_stats.setdefault((tenant_id, model, version), InferenceCounters()).add(counters)

    def list_inference_stats(self, tenant_id: str, model: str | None = None) -> list[VersionStats]:
        return [
            VersionStats(m, v, InferenceCounters(**c.as_dict()))
            for (t, m, v), c in sorted(self.inference_stats.items())
            if t == tenant_id and model in (None, m)
        ]

    # --- audit ----------------------------------------------------------------------------------------------
    def put_audit(self, entry: AuditEntry) -> None:
        with self._lock:
            self.audit.append(_copy(entry))

    def list_audit(
        self, tenant_id: str, limit: int | None = None, *, model: str | None = None, next_token: str | None = None
    ) -> Page[AuditEntry]:
        rows = [(f"AUDIT#{e.at.isoformat()}#{e.entry_id}", _copy(e)) for e in self.audit if e.tenant_id == tenant_id]
        keep = None if model is None else (lambda e: e.model == model)
        return page_of(rows, _pk(tenant_id), "AUDIT#", limit=limit, next_token=next_token, newest_first=True, keep=keep)

    # --- shadow statistics ----------------------------------------------------------------------------------
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
        with self._lock:
            if sample_id in self.shadow_samples:
                return False
            self.shadow_samples.add(sample_id)
            stats = self.shadow_stats.setdefault((tenant_id, model, alias, version), {})
            for key, value in (
                ("samples", 1),
                ("agreements", int(agreed)),
                ("errors", int(errored)),
                ("primary_ms", primary_ms),
                ("shadow_ms", shadow_ms),
            ):
                stats[key] = stats.get(key, 0) + value
            return True

    def get_shadow_stats(self, tenant_id: str, model: str, alias: str, version: int) -> dict | None:
        stats = self.shadow_stats.get((tenant_id, model, alias, version))
        return dict(stats) if stats else None

    def set_optimization(self, tenant_id: str, model: str, version: int, report: dict) -> None:
        with self._lock:
            self.versions[(tenant_id, model, version)].optimization = dict(report)

    def mark_announced(self, tenant_id: str, model: str, version: int) -> None:
        with self._lock:
            stored = self.versions.get((tenant_id, model, version))
            if stored is None:
                # DynamoDB would create a stub item here; no caller does this, so say so loudly.
                raise LookupError(f"mark_announced on a missing version {tenant_id}/{model}/{version}")
            stored.announced = True


@dataclass
class _Blob:
    data: bytes
    version_id: str


@dataclass(frozen=True)
class Presign:
    bucket: str
    key: str
    expires_in: int
    content_type: str


class InMemoryBlobStore:
    """A ``BlobStore`` holding versioned buckets; ``chunk_size`` sets how ``iter_bytes`` splits an object."""

    def __init__(self, chunk_size: int = 64 * 1024) -> None:
        self.chunk_size = chunk_size
        self.objects: dict[tuple[str, str], list[_Blob]] = {}
        self.presigned: list[Presign] = []

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Upload an object (what the presigned PUT does); returns its new version id."""
        version_id = uuid.uuid4().hex
        self.objects.setdefault((bucket, key), []).append(_Blob(data, version_id))
        return version_id

    def _find(self, bucket: str, key: str, version_id: str | None) -> _Blob | None:
        history = self.objects.get((bucket, key))
        if not history:
            return None
        if version_id is None:
            return history[-1]
        return next((blob for blob in history if blob.version_id == version_id), None)

    def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str:
        self.presigned.append(Presign(bucket, key, expires_in, content_type))
        return f"https://{bucket}.s3.fake.test/{key}?X-Expires={expires_in}"

    def put_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "rb") as f:
            self.put(bucket, key, f.read())

    def presign_get(self, bucket: str, key: str, *, expires_in: int) -> str:
        return f"https://{bucket}.s3.fake.test/{key}?X-Expires={expires_in}&get"

    def head(self, bucket: str, key: str, version_id: str | None = None) -> BlobInfo | None:
        blob = self._find(bucket, key, version_id)
        return BlobInfo(size=len(blob.data), version_id=blob.version_id) if blob else None

    def iter_bytes(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
        blob = self._find(bucket, key, version_id)
        if blob is None:
            raise KeyError(f"no object s3://{bucket}/{key} (version {version_id})")  # S3 says NoSuchKey
        for start in range(0, len(blob.data), self.chunk_size):
            yield blob.data[start : start + self.chunk_size]


@dataclass
class RecordingQueue:
    """A ``QueueSender`` that keeps what was sent."""

    messages: list[str] = field(default_factory=list)

    def send(self, body: str) -> None:
        self.messages.append(body)


@dataclass
class RecordingPublisher:
    """An ``EventPublisher`` that records ``(detail_type, detail)``; ``failures`` makes the next N calls raise."""

    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    failures: int = 0

    def publish(self, event: PlatformEvent) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the event bus is unreachable (injected)")
        self.events.append((event.detail_type, event.model_dump(mode="json")))

    def of_type(self, detail_type: str) -> list[dict[str, object]]:
        return [detail for kind, detail in self.events if kind == detail_type]


class InMemoryJobStore:
    """A ``JobStore`` with the conditional moves of ``maas.adapters.dynamodb.jobs.DynamoJobStore``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: dict[tuple[str, str], Job] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}

    def create_job(self, job: Job, body_hash: str | None = None) -> tuple[Job, bool]:
        with self._lock:
            if job.idempotency_key is not None:
                earlier = self.idempotency.get((job.tenant_id, job.idempotency_key))
                if earlier is not None:
                    if earlier[1] != (body_hash or ""):
                        raise ConflictError("this Idempotency-Key was used with another request")
                    return _copy(self.jobs[(job.tenant_id, earlier[0])]), False
                self.idempotency[(job.tenant_id, job.idempotency_key)] = (job.job_id, body_hash or "")
            if (job.tenant_id, job.job_id) in self.jobs:
                raise ConflictError("job id collision")
            self.jobs[(job.tenant_id, job.job_id)] = _copy(job)
            return _copy(job), True

    def get_job(self, tenant_id: str, job_id: str) -> Job | None:
        job = self.jobs.get((tenant_id, job_id))
        return _copy(job) if job and not job.expired() else None

    def list_jobs(
        self,
        tenant_id: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[Job]:
        def keep(j: Job) -> bool:
            return not j.expired() and (status is None or j.status == status) and (model is None or j.model == model)

        rows = [(f"JOB#{i}", _copy(j)) for (t, i), j in self.jobs.items() if t == tenant_id]
        return page_of(rows, _pk(tenant_id), "JOB#", limit=limit, next_token=next_token, newest_first=True, keep=keep)

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
        with self._lock:
            job = self.jobs.get((tenant_id, job_id))
            claimable = (
                job is not None
                and job.attempts < max_attempts
                and (
                    job.status == JobStatus.QUEUED or (job.status == JobStatus.RUNNING and (job.lease_until or 0) < now)
                )
            )
            if job is None or not claimable:
                return None
            job.status, job.lease_token, job.lease_until, job.worker = JobStatus.RUNNING, token, lease_until, worker
            job.started_at = job.started_at or utcnow()
            job.attempts += 1
            return _copy(job)

    def extend_lease(self, tenant_id: str, job_id: str, token: str, lease_until: float) -> bool:
        with self._lock:
            job = self.jobs.get((tenant_id, job_id))
            if job is None or job.status != JobStatus.RUNNING or job.lease_token != token:
                return False
            job.lease_until = lease_until
            return True

    def release_job(self, tenant_id: str, job_id: str, token: str) -> bool:
        with self._lock:
            job = self.jobs.get((tenant_id, job_id))
            if job is None or job.status != JobStatus.RUNNING or job.lease_token != token:
                return False
            job.status, job.lease_token, job.lease_until = JobStatus.QUEUED, None, None
            return True

    def finish_job(
        self, tenant_id: str, job_id: str, outcome: JobOutcome, *, token: str | None, expect: tuple[JobStatus, ...]
    ) -> bool:
        with self._lock:
            job = self.jobs.get((tenant_id, job_id))
            if job is None or job.status not in expect or (token is not None and job.lease_token != token):
                return False
            for name, value in outcome.model_dump().items():
                if value is not None:
                    setattr(job, name, value)
            return True

    def cancel_job(self, tenant_id: str, job_id: str) -> bool:
        with self._lock:
            job = self.jobs.get((tenant_id, job_id))
            if job is None or job.status != JobStatus.QUEUED:
                return False
            job.status, job.finished_at = JobStatus.CANCELLED, utcnow()
            return True

    def count_active_jobs(self, tenant_id: str, *, model: str | None = None, stop_at: int = 1000) -> int:
        active = [
            j
            for (t, _), j in self.jobs.items()
            if t == tenant_id and j.status in (JobStatus.QUEUED, JobStatus.RUNNING) and model in (None, j.model)
        ]
        return min(len(active), stop_at)

    def mark_job_announced(self, tenant_id: str, job_id: str) -> None:
        with self._lock:
            job = self.jobs.get((tenant_id, job_id))
            if job is not None:
                job.announced = True


class InMemoryEventSourceStore:
    def __init__(self) -> None:
        self.sources: dict[tuple[str, str], EventSource] = {}

    def put_event_source(self, source: EventSource) -> None:
        if (source.tenant_id, source.source) in self.sources:
            raise ConflictError(f"event source '{source.source}' is registered already")
        self.sources[(source.tenant_id, source.source)] = source

    def get_event_source(self, tenant_id: str, source: str) -> EventSource | None:
        return self.sources.get((tenant_id, source))

    def list_event_sources(
        self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[EventSource]:
        rows = [(f"SOURCE#{s.source}", s) for s in self.sources.values() if s.tenant_id == tenant_id]
        return page_of(rows, _pk(tenant_id), "SOURCE#", limit=limit, next_token=next_token)

    def delete_event_source(self, tenant_id: str, source: str) -> bool:
        return self.sources.pop((tenant_id, source), None) is not None


class InMemoryBatchStore:
    """A ``BatchStore`` with the conditional moves of ``maas.adapters.dynamodb.batch.DynamoBatchStore``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches: dict[tuple[str, str], BatchJob] = {}
        self.inbox_keys: dict[tuple[str, str], str] = {}
        self.shards: dict[tuple[str, str, int], tuple[int, int]] = {}

    def _stored(self, tenant_id: str, job_id: str) -> BatchJob | None:
        return self.batches.get((tenant_id, job_id))

    def create_batch(self, job: BatchJob) -> tuple[BatchJob, bool]:
        with self._lock:
            earlier = self.inbox_keys.get((job.tenant_id, job.inbox_key))
            if earlier is not None:
                return _copy(self.batches[(job.tenant_id, earlier)]), False
            if (job.tenant_id, job.job_id) in self.batches:
                raise ConflictError("batch job id collision")
            self.inbox_keys[(job.tenant_id, job.inbox_key)] = job.job_id
            self.batches[(job.tenant_id, job.job_id)] = _copy(job)
            return _copy(job), True

    def find_by_key(self, tenant_id: str, key: str) -> BatchJob | None:
        job_id = self.inbox_keys.get((tenant_id, key))
        return self.get_batch(tenant_id, job_id) if job_id else None

    def get_batch(self, tenant_id: str, job_id: str) -> BatchJob | None:
        job = self._stored(tenant_id, job_id)
        return _copy(job) if job else None

    def list_batches(self, tenant_id: str, limit: int = 100, *, next_token: str | None = None) -> Page[BatchJob]:
        # the table's sort key is BATCH#<job id>, and job ids begin with their creation time: newest first; a
        # job's shard records (BATCH#<id>#S#<shard>) are read and passed over, as the adapter's filter does
        rows: list[tuple[str, BatchJob | None]] = [
            (f"BATCH#{i}", _copy(j)) for (t, i), j in self.batches.items() if t == tenant_id
        ]
        rows += [(f"BATCH#{i}#S#{s:06d}", None) for (t, i, s) in self.shards if t == tenant_id]
        page = page_of(rows, _pk(tenant_id), "BATCH#", limit=limit, next_token=next_token, newest_first=True, keep=bool)
        return Page([j for j in page if j is not None], page.next_token)

    def claim_split(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        with self._lock:
            job = self._stored(tenant_id, job_id)
            stale = (
                job is not None
                and job.status == BatchStatus.SPLITTING
                and job.split_since is not None
                and job.split_since < round(stale_before, 3)
            )
            if job is None or not (job.status == BatchStatus.PENDING_UPLOAD or stale):
                return False
            job.status, job.split_token, job.split_since = BatchStatus.SPLITTING, token, round(now, 3)
            job.started_at = job.started_at or utcnow()
            return True

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
        with self._lock:
            job = self._stored(tenant_id, job_id)
            if job is None or job.status != BatchStatus.SPLITTING or job.split_token != token:
                return False
            job.status, job.split_done = BatchStatus.RUNNING, True
            job.total_rows, job.total_shards, job.split_errors = rows, shards, errors
            job.version, job.target, job.input_bytes = version, Target(target), input_bytes
            job.split_finished_at = utcnow()
            job.rows_failed += errors
            return True

    def fail_batch(self, tenant_id: str, job_id: str, reason: str, expect: tuple[BatchStatus, ...]) -> bool:
        with self._lock:
            job = self._stored(tenant_id, job_id)
            if job is None or job.status not in expect:
                return False
            job.status, job.error, job.finished_at = BatchStatus.FAILED, reason, utcnow()
            return True

    def complete_shard(self, tenant_id: str, job_id: str, shard: int, rows_done: int, rows_failed: int) -> bool:
        with self._lock:
            job = self._stored(tenant_id, job_id)
            if job is None:
                # DynamoDB's ADD would create a stub job here; no caller does this, so say so loudly.
                raise LookupError(f"complete_shard on a missing batch job {tenant_id}/{job_id}")
            if (tenant_id, job_id, shard) in self.shards:
                return False
            self.shards[(tenant_id, job_id, shard)] = (rows_done, rows_failed)
            job.shards_done += 1
            job.rows_done += rows_done
            job.rows_failed += rows_failed
            return True

    def claim_assembly(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        with self._lock:
            job = self._stored(tenant_id, job_id)
            if job is None:
                return False
            ready = job.status == BatchStatus.RUNNING and job.split_done and job.shards_done == job.total_shards
            stale = (
                job.status == BatchStatus.ASSEMBLING
                and job.assembly_since is not None
                and job.assembly_since < round(stale_before, 3)
            )
            if not (ready or stale):
                return False
            job.status, job.assembly_token, job.assembly_since = BatchStatus.ASSEMBLING, token, round(now, 3)
            return True

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
        with self._lock:
            job = self._stored(tenant_id, job_id)
            if job is None or job.status != BatchStatus.ASSEMBLING or job.assembly_token != token:
                return False
            job.status, job.manifest, job.finished_at = status, copy.deepcopy(manifest), utcnow()
            if error:
                job.error = error
            return True

    def mark_batch_announced(self, tenant_id: str, job_id: str) -> None:
        with self._lock:
            job = self._stored(tenant_id, job_id)
            if job is None:
                raise LookupError(f"mark_batch_announced on a missing batch job {tenant_id}/{job_id}")
            job.announced = True
