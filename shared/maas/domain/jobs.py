"""The job record and the events around it.

A job is one OIP v2 infer request run asynchronously on a pinned model version. Its states::

    QUEUED -> RUNNING -> SUCCEEDED | FAILED
    QUEUED -> CANCELLED

Every move is a conditional write on the job's item, so that a duplicate delivery or a second worker never
produces a second outcome: a job id is processed at most once to completion.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from maas.domain import Target, utcnow

INLINE_REQUEST_BYTES = 64 * 1024
"""Requests up to this size are kept in the job item; larger ones go to the jobs bucket (never into a message)."""
INLINE_RESULT_BYTES = 64 * 1024
"""JSON results up to this size are kept in the job item; larger or binary ones go to the jobs bucket."""
RETENTION_SECONDS = 7 * 24 * 3600


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def new_job_id() -> str:
    """Sortable by creation time (milliseconds, then random): ``j-018c2f0e3a7b-9f1c2d3e4a5b``."""
    return f"j-{int(time.time() * 1000):012x}-{os.urandom(6).hex()}"


class Job(BaseModel):
    model_config = ConfigDict(validate_assignment=False)

    tenant_id: str
    job_id: str
    model: str
    """The model as the caller named it: ``name``, or ``owner.name`` through a grant."""
    owner: str
    model_name: str
    version: int
    alias: str | None = None
    target: Target = Target.CPU
    status: JobStatus = JobStatus.QUEUED
    source: str = "api"
    key_id: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None

    request_body: bytes | None = None
    request_key: str | None = None
    request_header_length: int | None = None

    result_body: bytes | None = None
    result_key: str | None = None
    result_header_length: int | None = None
    error: str | None = None
    error_code: str | None = None

    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_ms: float | None = None
    run_ms: float | None = None
    batch_rows: int | None = None
    attempts: int = 0
    lease_until: float | None = None
    lease_token: str | None = None
    worker: str | None = None
    announced: bool = False
    expires_at: int = Field(default_factory=lambda: int(time.time()) + RETENTION_SECONDS)

    def expired(self, now: float | None = None) -> bool:
        """DynamoDB deletes expired items late (and moto never): treat them as gone."""
        return self.expires_at <= (now if now is not None else time.time())


class JobOutcome(BaseModel):
    """What a worker writes when it finishes a job."""

    status: JobStatus
    result_body: bytes | None = None
    result_key: str | None = None
    result_header_length: int | None = None
    error: str | None = None
    error_code: str | None = None
    queue_ms: float | None = None
    run_ms: float | None = None
    batch_rows: int | None = None
    finished_at: datetime = Field(default_factory=utcnow)


class EventSource(BaseModel):
    """A source name a tenant registered: its ``InferenceRequested`` events run as that tenant.

    Names are scoped by tenant: a tenant's sources are ``<tenant_id>.<name>``, so that no tenant can take a
    name another one needs, or learn which names another registered. A source's tenant is read off its name.
    """

    source: str
    tenant_id: str
    created_at: datetime = Field(default_factory=utcnow)


def source_tenant(source: str) -> str:
    """The tenant whose namespace an event source name is in: ``acme.orders`` -> ``acme`` (tenant ids hold no
    dot); "" for a name outside every tenant's."""
    tenant_id, dot, name = source.partition(".")
    return tenant_id if dot and name else ""
