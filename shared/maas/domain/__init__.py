"""The platform's domain objects: tenants, keys, models, versions, signatures.

These are what the core reads and writes; the API's request and response bodies live in ``maas.api.schemas``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from maas.datatypes import Datatype

OPERATOR_TENANT = "admin"
"""The operator's own tenant. Its admin keys manage every tenant; no customer tenant can take the name."""

_TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _check_tenant_id(value: str) -> str:
    if not _TENANT_ID.fullmatch(value):
        raise ValueError("a tenant id is 3 to 40 characters: lowercase letters, digits and '-', starting with a letter")
    return value


def _check_model_name(value: str) -> str:
    if not _MODEL_NAME.fullmatch(value):
        raise ValueError(
            "a model name is 1 to 64 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return value


TenantId = Annotated[str, AfterValidator(_check_tenant_id)]
ModelName = Annotated[str, AfterValidator(_check_model_name)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Scope(StrEnum):
    ADMIN = "admin"
    PUBLISH = "publish"
    INVOKE = "invoke"
    READ = "read"


# What each scope also grants. admin manages its tenant; publish and invoke both read what they act on.
_IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.ADMIN: frozenset(Scope),
    Scope.PUBLISH: frozenset({Scope.PUBLISH, Scope.READ}),
    Scope.INVOKE: frozenset({Scope.INVOKE, Scope.READ}),
    Scope.READ: frozenset({Scope.READ}),
}


class Principal(BaseModel):
    """Who is calling: the tenant and scopes of the API key the authorizer accepted."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    key_id: str
    scopes: frozenset[Scope]

    @property
    def effective_scopes(self) -> frozenset[Scope]:
        out: set[Scope] = set()
        for scope in self.scopes:
            out |= _IMPLIED[scope]
        return frozenset(out)

    def has(self, scope: Scope) -> bool:
        return scope in self.effective_scopes

    @property
    def is_operator(self) -> bool:
        return self.tenant_id == OPERATOR_TENANT and Scope.ADMIN in self.scopes


class Tenant(BaseModel):
    tenant_id: TenantId
    name: str = Field(min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(BaseModel):
    """A stored API key: its hash only, never the key."""

    tenant_id: str
    key_id: str
    key_hash: str
    scopes: frozenset[Scope]
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Framework(StrEnum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"


class Target(StrEnum):
    """Where a model runs: ``cpu`` serves synchronously in Lambda; ``gpu`` only through async jobs on workers."""

    CPU = "cpu"
    GPU = "gpu"


class Batching(BaseModel):
    """Dynamic batching on the worker (Triton's ``dynamic_batching``): rows per batch, and the longest wait."""

    model_config = ConfigDict(frozen=True)

    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_queue_delay_ms: float = Field(default=5, ge=0, le=10_000)


class Model(BaseModel):
    tenant_id: str
    name: ModelName
    framework: Framework
    description: str = ""
    target: Target = Target.CPU
    batching: Batching = Field(default_factory=Batching)
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class VersionStatus(StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    READY = "READY"
    FAILED = "FAILED"
    ARCHIVED = "ARCHIVED"


class TensorSpec(BaseModel):
    """One input or output of a model: OIP v2 datatype, and -1 for every free dimension."""

    name: str
    datatype: Datatype
    shape: list[int]


class Signature(BaseModel):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class ModelVersion(BaseModel):
    tenant_id: str
    model: str
    version: int
    status: VersionStatus = VersionStatus.PENDING_UPLOAD
    artifact_key: str
    declared_sha256: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    # what loading and a smoke run cost in memory at validation (resident bytes above the runtime itself)
    memory_bytes: int | None = None
    bundle: bool = False  # an archive of model.onnx and its data files (a model over protobuf's 2 GB)
    artifact_version_id: str | None = None
    signature: Signature | None = None
    failure_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    announced: bool = False
    derived_from: int | None = None
    optimization: dict[str, Any] | None = None

    @property
    def is_final(self) -> bool:
        return self.status != VersionStatus.PENDING_UPLOAD


ARTIFACT_EXTENSIONS = {Framework.ONNX: "onnx", Framework.TORCHSCRIPT: "pt"}


def framework_of(key: str) -> Framework:
    """The framework an artifact key's extension names (``model.onnx`` or ``model.pt``)."""
    return Framework.TORCHSCRIPT if key.endswith(".pt") else Framework.ONNX


def artifact_key(tenant_id: str, model: str, version: int, framework: Framework = Framework.ONNX) -> str:
    """Where a version's artifact lives in the artifacts bucket."""
    ext = ARTIFACT_EXTENSIONS[framework]
    return f"models/{tenant_id}/{model}/{version}/model.{ext}"


def parse_artifact_key(key: str) -> tuple[str, str, int] | None:
    """``models/{tenant}/{model}/{version}/model.{ext}`` -> (tenant, model, version); None for anything else."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != "models" or not parts[4].startswith("model."):
        return None
    tenant, model, version = parts[1], parts[2], parts[3]
    if not (_TENANT_ID.fullmatch(tenant) and _MODEL_NAME.fullmatch(model)):
        return None
    if not (version.isascii() and version.isdigit()) or version.startswith("0"):
        return None
    return tenant, model, int(version)
