"""The API's responses as pydantic models. Each accepts fields it does not know (``extra="allow"``), so that a
newer server never breaks an older client; ``model_dump(mode="json")`` gives back what the API sent.

Annotations use ``typing.Optional`` (not ``X | None``): pydantic evaluates them, and the SDK runs on Python 3.9.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


# --- tenants, keys, quotas, usage, audit ------------------------------------------------------------------------
class Tenant(ApiModel):
    tenant_id: str
    name: str
    created_at: datetime


class ApiKey(ApiModel):
    key_id: str
    tenant_id: str
    scopes: list[str]
    description: str = ""
    created_at: datetime
    revoked_at: Optional[datetime] = None


class CreatedKey(ApiKey):
    api_key: str
    """The key itself: shown only in this response."""


class Quota(ApiModel):
    requests_per_second: Optional[float] = None
    burst: Optional[int] = None
    max_concurrent_jobs: Optional[int] = None


class TenantQuota(ApiModel):
    tenant_id: str
    quota: Optional[Quota] = None


class UsageRow(ApiModel):
    day: str
    model: str
    requests: int = 0
    throttled: int = 0


class TenantUsage(ApiModel):
    tenant_id: str
    usage: list[UsageRow] = []


class AuditEntry(ApiModel):
    tenant_id: str
    at: datetime
    entry_id: str
    actor: str
    action: str
    model: Optional[str] = None
    target: Optional[str] = None
    before: Any = None
    after: Any = None


# --- models, versions, aliases, grants -------------------------------------------------------------------------
class Batching(ApiModel):
    max_batch_size: int
    max_queue_delay_ms: float


class Model(ApiModel):
    name: str
    framework: str
    description: str = ""
    target: str
    batching: Optional[Batching] = None
    created_at: datetime


class TensorSpec(ApiModel):
    name: str
    datatype: str
    shape: list[int]


class Signature(ApiModel):
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []


class Upload(ApiModel):
    url: str
    method: str = "PUT"
    headers: dict[str, str] = {}
    expires_in: int = 0


class CreatedVersion(ApiModel):
    version: int
    status: str
    upload: Upload


class Version(ApiModel):
    version: int
    status: str
    sha256: Optional[str] = None
    size_bytes: Optional[int] = None
    memory_bytes: Optional[int] = None
    bundle: bool = False
    signature: Optional[Signature] = None
    failure_reason: Optional[str] = None
    created_at: datetime
    finished_at: Optional[datetime] = None
    derived_from: Optional[int] = None
    optimization: Optional[dict[str, Any]] = None


class Route(ApiModel):
    version: int
    weight: int


class Shadow(ApiModel):
    version: int
    sample_rate: float


class Alias(ApiModel):
    name: str
    model: str
    routes: list[Route]
    shadow: Optional[Shadow] = None
    revision: int
    etag: str
    updated_at: datetime
    updated_by: str = ""
    history: list[dict[str, Any]] = []


class ShadowReport(ApiModel):
    alias: str
    model: str


class Grant(ApiModel):
    model: str
    grantee: str
    actions: list[str]
    aliases: Optional[list[str]] = None
    quota: Optional[Quota] = None
    created_at: datetime


class SharedModel(ApiModel):
    """A model another tenant granted to the caller (``GET /v1/shared-models``); ``ref`` (``OWNER.MODEL``) is the
    name the caller uses for it."""

    owner: str
    name: str
    ref: str
    actions: list[str] = []
    aliases: Optional[list[str]] = None
    quota: Optional[Quota] = None
    created_at: Optional[datetime] = None


# --- jobs, event sources, batch jobs ---------------------------------------------------------------------------
class Timings(ApiModel):
    queue_ms: Optional[float] = None
    run_ms: Optional[float] = None


class SubmittedJob(ApiModel):
    job_id: str
    status: str
    location: str


class Job(ApiModel):
    job_id: str
    status: str
    location: str = ""
    model: str
    version: int
    alias: Optional[str] = None
    target: str = ""
    source: str = ""
    created_at: datetime
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    timings: Timings = Field(default_factory=Timings)
    attempts: int = 0
    result: Optional[dict[str, Any]] = None
    result_url: Optional[str] = None
    result_header_length: Optional[int] = None
    error: Optional[dict[str, str]] = None


class EventSource(ApiModel):
    source: str
    tenant_id: str


class StartedBatch(ApiModel):
    job_id: str
    status: str
    upload: Upload


class BatchJob(ApiModel):
    job_id: str
    status: str
    model: str
    version: Optional[int] = None
    format: str
    name: str = ""
    source: str = ""
    inbox_key: str = ""
    rows: dict[str, Optional[int]] = {}
    shards: dict[str, Optional[int]] = {}
    created_at: datetime
    finished_at: Optional[datetime] = None
    error: Optional[str] = None
    downloads: dict[str, str] = {}
    manifest: Optional[dict[str, Any]] = None


# --- the Open Inference Protocol v2 ------------------------------------------------------------------------------
class ServerMetadata(ApiModel):
    name: str
    version: str = ""
    extensions: list[str] = []


class ModelMetadata(ApiModel):
    name: str
    versions: list[str] = []
    platform: str = ""
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []


class OutputTensor(ApiModel):
    name: str
    datatype: str
    shape: list[int]
    data: Optional[list[Any]] = None
    parameters: Optional[dict[str, Any]] = None


class InferResponse(ApiModel):
    model_name: str
    model_version: Optional[str] = None
    id: Optional[str] = None
    outputs: list[OutputTensor] = []


class RepositoryModel(ApiModel):
    """One entry of Triton's repository index: ``{name, version, state, reason}``."""

    name: str
    version: Optional[str] = None
    state: Optional[str] = None
    reason: Optional[str] = None
