"""One settings model per function, read from the environment once at cold start.

A missing or malformed variable fails the cold start loudly instead of the first request.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T", bound="FunctionSettings")
# How tenant code (TorchScript) runs: "required" refuses it on a host that cannot confine it; "allow-unconfined"
# runs it there too (in a process of its own, empty environment, memory limit), with a warning at start
SandboxMode = Literal["required", "allow-unconfined"]


class FunctionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_env(cls: type[T]) -> T:
        return cls.model_validate(dict(os.environ))


class AuthorizerSettings(FunctionSettings):
    registry_table: str = Field(alias="REGISTRY_TABLE")
    auth_cache_seconds: float = Field(default=0, alias="AUTH_CACHE_SECONDS", ge=0, le=3600)


class ControlPlaneSettings(FunctionSettings):
    registry_table: str = Field(alias="REGISTRY_TABLE")
    grant_cache_seconds: float = Field(default=0, alias="GRANT_CACHE_SECONDS", ge=0)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    artifacts_bucket: str = Field(alias="ARTIFACTS_BUCKET")
    upload_expires_in: int = Field(default=900, alias="UPLOAD_URL_EXPIRES_SECONDS", gt=0, le=7 * 24 * 3600)
    optimize_queue_url: str | None = Field(default=None, alias="OPTIMIZE_QUEUE_URL")


class ValidatorSettings(FunctionSettings):
    registry_table: str = Field(alias="REGISTRY_TABLE")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    max_artifact_bytes: int = Field(alias="MAX_ARTIFACT_BYTES", gt=0)
    max_model_memory_bytes: int = Field(default=1024**3, alias="MAX_MODEL_MEMORY_BYTES", gt=0)
    torchscript_queue_url: str | None = Field(default=None, alias="TORCHSCRIPT_VALIDATION_QUEUE_URL")


class InferenceSettings(FunctionSettings):
    registry_table: str = Field(alias="REGISTRY_TABLE")
    artifacts_bucket: str = Field(alias="ARTIFACTS_BUCKET")
    model_cache_bytes: int = Field(default=512 * 1024 * 1024, alias="MODEL_CACHE_BYTES", gt=0)
    model_disk_cache_bytes: int = Field(default=1536 * 1024 * 1024, alias="MODEL_DISK_CACHE_BYTES", gt=0)
    model_cache_dir: str = Field(default="/tmp/maas-models", alias="MODEL_CACHE_DIR")  # noqa: S108 - Lambda's disk
    registry_cache_seconds: float = Field(default=5, alias="REGISTRY_CACHE_SECONDS", ge=0)
    max_request_bytes: int = Field(default=6 * 1024 * 1024, alias="MAX_REQUEST_BYTES", gt=0)
    shadow_queue_url: str | None = Field(default=None, alias="SHADOW_QUEUE_URL")
    grant_cache_seconds: float = Field(default=0, alias="GRANT_CACHE_SECONDS", ge=0)
    usage_flush_seconds: float = Field(default=10, alias="USAGE_FLUSH_SECONDS", ge=0)
    # for "Prefer: respond-async" (and the jobs API, which requires them)
    jobs_table: str | None = Field(default=None, alias="JOBS_TABLE")
    jobs_bucket: str | None = Field(default=None, alias="JOBS_BUCKET")
    event_bus_name: str | None = Field(default=None, alias="EVENT_BUS_NAME")


class ShadowSettings(InferenceSettings):
    """The shadow worker loads models exactly as the inference function does."""


class OptimizeSettings(FunctionSettings):
    registry_table: str = Field(alias="REGISTRY_TABLE")
    artifacts_bucket: str = Field(alias="ARTIFACTS_BUCKET")


class WorkerSettings(FunctionSettings):
    """The GPU worker container (ECS task, SageMaker, or a local process), and the CPU jobs function."""

    registry_table: str = Field(alias="REGISTRY_TABLE")
    jobs_table: str = Field(alias="JOBS_TABLE")
    artifacts_bucket: str = Field(alias="ARTIFACTS_BUCKET")
    jobs_bucket: str = Field(alias="JOBS_BUCKET")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    jobs_queue_url: str | None = Field(default=None, alias="JOBS_QUEUE_URL")
    dead_letter_queue_url: str | None = Field(default=None, alias="JOBS_DEAD_LETTER_QUEUE_URL")
    lease_seconds: int = Field(default=60, alias="JOB_LEASE_SECONDS", ge=2, le=43_200)
    max_attempts: int = Field(default=3, alias="JOB_MAX_ATTEMPTS", ge=1, le=100)
    max_inflight: int = Field(default=64, alias="WORKER_MAX_INFLIGHT", ge=1, le=1024)
    model_cache_bytes: int = Field(default=4 * 1024**3, alias="MODEL_CACHE_BYTES", gt=0)
    model_cache_dir: str = Field(default="/tmp/maas-models", alias="MODEL_CACHE_DIR")  # noqa: S108
    drain_seconds: float = Field(default=25, alias="WORKER_DRAIN_SECONDS", ge=0, le=120)
    max_artifact_bytes: int = Field(default=2 * 1024**3, alias="MAX_ARTIFACT_BYTES", gt=0)
    max_model_memory_bytes: int = Field(default=1024**3, alias="MAX_MODEL_MEMORY_BYTES", gt=0)
    tenant_code_sandbox: SandboxMode = Field(default="required", alias="TENANT_CODE_SANDBOX")
    inbox_bucket: str | None = Field(default=None, alias="INBOX_BUCKET")  # batch shards of gpu-target models
    registry_cache_seconds: float = Field(default=2, alias="REGISTRY_CACHE_SECONDS", ge=0)
    grant_cache_seconds: float = Field(default=0, alias="GRANT_CACHE_SECONDS", ge=0)


class JobsApiSettings(InferenceSettings):
    """The jobs API and the event ingress: submission checks requests as the inference function does."""

    jobs_table: str = Field(alias="JOBS_TABLE")
    jobs_bucket: str = Field(alias="JOBS_BUCKET")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    ingress_dead_letter_queue_url: str | None = Field(default=None, alias="INGRESS_DEAD_LETTER_QUEUE_URL")


class BatchFunctionSettings(InferenceSettings):
    """The batch split and shard functions, and the batch routes of the jobs function."""

    jobs_table: str = Field(alias="JOBS_TABLE")
    jobs_bucket: str = Field(alias="JOBS_BUCKET")  # the outbox: shards, results, predictions
    inbox_bucket: str = Field(alias="INBOX_BUCKET")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    cpu_shards_queue_url: str | None = Field(default=None, alias="CPU_SHARDS_QUEUE_URL")
    gpu_jobs_queue_url: str | None = Field(default=None, alias="GPU_JOBS_QUEUE_URL")
    shard_rows: int = Field(default=1000, alias="BATCH_SHARD_ROWS", ge=1, le=1_000_000)
    max_input_bytes: int = Field(default=5 * 1024**3, alias="MAX_BATCH_INPUT_BYTES", gt=0)
