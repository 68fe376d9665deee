"""The port the job logic talks through; ``maas.adapters.jobs`` implements it on DynamoDB, tests in memory."""

from __future__ import annotations

from typing import Protocol

from maas.jobs.model import EventSource, Job, JobOutcome, JobStatus


class JobStore(Protocol):
    def create_job(self, job: Job, body_hash: str | None = None) -> tuple[Job, bool]:
        """Store a new QUEUED job; with ``job.idempotency_key``, at most one job per key.

        Returns (the job, True) when created, (the earlier job, False) when the key was used before with the same
        ``body_hash``; ConflictError when it was used with another.
        """

    def get_job(self, tenant_id: str, job_id: str) -> Job | None: ...

    def list_jobs(
        self, tenant_id: str, *, status: JobStatus | None = None, model: str | None = None, limit: int = 100
    ) -> list[Job]:
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

    def list_event_sources(self, tenant_id: str) -> list[EventSource]: ...

    def delete_event_source(self, tenant_id: str, source: str) -> bool: ...
