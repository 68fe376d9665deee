"""Every event the platform puts on its bus (``maas-events``, source ``maas``) or takes from it, in one module.

Each event's detail is a pydantic model that names its own EventBridge detail type, so that a publisher needs
only the event (``publisher.publish(InferenceCompleted(...))``) and a rule, a schema or a test can list them all.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from maas.domain import Signature, Target

SOURCE = "maas"


class PlatformEvent(BaseModel):
    """An event detail; ``detail_type`` is the EventBridge ``DetailType`` it travels under."""

    detail_type: ClassVar[str]


class ModelVersionReady(PlatformEvent):
    detail_type: ClassVar[str] = "ModelVersionReady"
    tenant_id: str
    model: str
    version: int
    sha256: str
    size_bytes: int
    signature: Signature


class ModelVersionFailed(PlatformEvent):
    detail_type: ClassVar[str] = "ModelVersionFailed"
    tenant_id: str
    model: str
    version: int
    reason: str


class AliasUpdated(PlatformEvent):
    detail_type: ClassVar[str] = "AliasUpdated"
    tenant_id: str
    model: str
    alias: str
    revision: int
    routes: list[dict[str, int]]
    shadow: dict[str, float] | None = None
    previous_routes: list[dict[str, int]] | None = None
    reason: str


class InferenceJobQueued(PlatformEvent):
    """Announced when a job is accepted; a rule per target routes it to its queue (gpu-jobs, cpu-jobs)."""

    detail_type: ClassVar[str] = "InferenceJobQueued"

    tenant_id: str
    job_id: str
    model: str
    version: int
    target: Target


class InferenceCompleted(PlatformEvent):
    detail_type: ClassVar[str] = "InferenceCompleted"
    tenant_id: str
    job_id: str
    model: str
    version: int
    status: str = "SUCCEEDED"
    queue_ms: float | None = None
    run_ms: float | None = None
    result_location: str
    """``inline`` (read it with GET /v1/jobs/{id}) or ``s3://bucket/key``."""


class InferenceFailed(PlatformEvent):
    detail_type: ClassVar[str] = "InferenceFailed"
    tenant_id: str
    job_id: str
    model: str
    version: int | None = None
    status: str = "FAILED"
    error: str
    code: str
    queue_ms: float | None = None
    run_ms: float | None = None


class InferenceRequestedDetail(PlatformEvent):
    """Ingress: another service asks for inference by putting ``InferenceRequested`` on the bus."""

    detail_type: ClassVar[str] = "InferenceRequested"

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    version: str | int | None = None
    request: dict[str, Any]
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class BatchJobCompleted(PlatformEvent):
    detail_type: ClassVar[str] = "BatchJobCompleted"
    tenant_id: str
    job_id: str
    model: str
    version: int
    status: str
    rows: int
    rows_failed: int
    predictions: str
    errors: str
    manifest: str


class BatchJobFailed(PlatformEvent):
    detail_type: ClassVar[str] = "BatchJobFailed"
    tenant_id: str
    job_id: str
    model: str
    reason: str
