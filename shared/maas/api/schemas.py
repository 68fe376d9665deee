"""Request and response bodies of the control-plane API. Requests refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maas.datatypes import Datatype
from maas.domain import (
    ApiKey,
    Batching,
    Framework,
    Model,
    ModelName,
    ModelVersion,
    Scope,
    Signature,
    Target,
    TenantId,
    VersionStatus,
)
from maas.domain.access import Action, Grant, Quota
from maas.domain.aliases import Alias, AliasName, AliasState, AliasTarget, Route, Shadow

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the artifact")]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateTenantRequest(RequestBody):
    tenant_id: TenantId
    name: str = Field(min_length=1, max_length=200)


class TenantResponse(BaseModel):
    tenant_id: str
    name: str
    created_at: datetime


class TenantListResponse(BaseModel):
    tenants: list[TenantResponse]
    next_token: str | None = None


class CreateKeyRequest(RequestBody):
    scopes: list[Scope] = Field(min_length=1)
    description: str = Field(default="", max_length=200)


class KeyResponse(BaseModel):
    key_id: str
    tenant_id: str
    scopes: list[Scope]
    description: str
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, key: ApiKey) -> KeyResponse:
        return cls(
            key_id=key.key_id,
            tenant_id=key.tenant_id,
            scopes=sorted(key.scopes),
            description=key.description,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class CreatedKeyResponse(KeyResponse):
    api_key: str = Field(description="the key itself; shown only in this response")


class KeyListResponse(BaseModel):
    keys: list[KeyResponse]
    next_token: str | None = None


class CreateModelRequest(RequestBody):
    name: ModelName
    framework: Framework
    description: str = Field(default="", max_length=2000)
    target: Target | None = None
    """``cpu`` (default for ONNX) or ``gpu`` (async jobs on the GPU workers; the only target for TorchScript)."""
    batching: Batching | None = None


class UpdateModelRequest(RequestBody):
    """``PATCH /v1/models/{m}``: where the model runs, and how the worker batches it."""

    description: str | None = Field(default=None, max_length=2000)
    target: Target | None = None
    batching: Batching | None = None


class ModelResponse(BaseModel):
    name: str
    framework: Framework
    description: str
    target: Target
    batching: Batching
    created_at: datetime

    @classmethod
    def of(cls, model: Model) -> ModelResponse:
        return cls(
            name=model.name,
            framework=model.framework,
            description=model.description,
            target=model.target,
            batching=model.batching,
            created_at=model.created_at,
        )


class ModelListResponse(BaseModel):
    models: list[ModelResponse]
    next_token: str | None = None


class CreateVersionRequest(RequestBody):
    sha256: Sha256 | None = None
    signature: Signature | None = None
    """Required for TorchScript (a TorchScript file does not describe its tensors); ONNX's is read from the file."""


class UploadResponse(BaseModel):
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


class CreatedVersionResponse(BaseModel):
    version: int
    status: VersionStatus
    upload: UploadResponse


class VersionResponse(BaseModel):
    version: int
    status: VersionStatus
    sha256: str | None
    size_bytes: int | None
    memory_bytes: int | None = None
    bundle: bool = False
    signature: Signature | None
    failure_reason: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    derived_from: int | None = None
    optimization: dict[str, Any] | None = None

    @classmethod
    def of(cls, version: ModelVersion) -> VersionResponse:
        return cls(
            version=version.version,
            status=version.status,
            sha256=version.sha256,
            size_bytes=version.size_bytes,
            memory_bytes=version.memory_bytes,
            bundle=version.bundle,
            signature=version.signature,
            failure_reason=version.failure_reason,
            created_at=version.created_at,
            finished_at=version.finished_at,
            derived_from=version.derived_from,
            optimization=version.optimization,
        )


class VersionListResponse(BaseModel):
    versions: list[VersionResponse]
    next_token: str | None = None


class SetAliasRequest(RequestBody):
    """Either ``{"version": 3}`` or ``{"routes": [{"version", "weight"}, ...], "shadow"?: {...}}``."""

    version: int | None = Field(default=None, ge=1)
    routes: list[Route] | None = None
    shadow: Shadow | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SetAliasRequest:
        if (self.version is None) == (self.routes is None):
            raise ValueError("give either version or routes")
        return self

    def target(self) -> AliasTarget:
        routes = self.routes if self.routes is not None else [Route(version=self.version or 0, weight=100)]
        return AliasTarget(routes=routes, shadow=self.shadow)


class AliasResponse(BaseModel):
    name: str
    model: str
    routes: list[Route]
    shadow: Shadow | None
    revision: int
    etag: str
    updated_at: datetime
    updated_by: str
    history: list[AliasState]

    @classmethod
    def of(cls, alias: Alias) -> AliasResponse:
        return cls(
            name=alias.name,
            model=alias.model,
            routes=alias.routes,
            shadow=alias.shadow,
            revision=alias.revision,
            etag=alias.etag,
            updated_at=alias.updated_at,
            updated_by=alias.updated_by,
            history=alias.history,
        )


class AliasListResponse(BaseModel):
    aliases: list[AliasResponse]
    next_token: str | None = None


class PutGrantRequest(RequestBody):
    actions: list[Action] = Field(min_length=1)
    aliases: list[AliasName] | None = Field(default=None, min_length=1)
    quota: Quota | None = None


class GrantResponse(BaseModel):
    model: str
    grantee: str
    actions: list[Action]
    aliases: list[str] | None
    quota: Quota | None
    created_at: datetime

    @classmethod
    def of(cls, grant: Grant) -> GrantResponse:
        return cls(
            model=grant.model,
            grantee=grant.grantee,
            actions=grant.actions,
            aliases=grant.aliases,
            quota=grant.quota,
            created_at=grant.created_at,
        )


class GrantListResponse(BaseModel):
    grants: list[GrantResponse]
    next_token: str | None = None


class SharedModelResponse(BaseModel):
    """A model another tenant shared with the caller; ``ref`` is the name the caller uses for it."""

    owner: str
    name: str
    ref: str
    actions: list[Action]
    aliases: list[str] | None
    quota: Quota | None
    created_at: datetime

    @classmethod
    def of(cls, grant: Grant) -> SharedModelResponse:
        return cls(
            owner=grant.owner,
            name=grant.model,
            ref=f"{grant.owner}.{grant.model}",
            actions=grant.actions,
            aliases=grant.aliases,
            quota=grant.quota,
            created_at=grant.created_at,
        )


class SharedModelListResponse(BaseModel):
    models: list[SharedModelResponse]


class QuotaRequest(RequestBody):
    """A quota; ``{"requests_per_second": null}`` removes it."""

    requests_per_second: float | None = Field(gt=0, le=100_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=100_000)

    def to_quota(self) -> Quota | None:
        if self.requests_per_second is None:
            return None
        return Quota(
            requests_per_second=self.requests_per_second, burst=self.burst, max_concurrent_jobs=self.max_concurrent_jobs
        )


class OptimizeRequest(RequestBody):
    method: str = Field(default="dynamic_int8", description="dynamic_int8: onnxruntime dynamic quantization")


# --- the Open Inference Protocol v2 (/v2), as KServe's REST spec describes it ----------------------------------
# The /v2 routes decode bodies with maas.inference.protocol (JSON or binary tensors); these models describe the
# same documents for the API description. Requests refuse unknown fields, as the protocol decoder does.
class OipRequestInput(RequestBody):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: Any = Field(default=None, description="row-major elements, flat or nested (absent with binary data)")


class OipRequestOutput(RequestBody):
    name: str
    parameters: dict[str, Any] | None = None


class OipInferRequest(RequestBody):
    """``POST /v2/models/{name}[/versions/{version}]/infer``: JSON, or a JSON header then binary tensors."""

    # The demo's MLP (maas.modelkit.export_mlp: input [-1, 16]); schemathesis sends it first, Swagger UI shows it
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]}]
        },
    )
    id: str | None = None
    model_name: str | None = Field(default=None, description="sent by kserve's client; must name the route's model")
    model_version: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[OipRequestInput] = Field(min_length=1)
    outputs: list[OipRequestOutput] | None = None


class OipResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class OipInferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[OipResponseOutput]


class OipLiveResponse(BaseModel):
    live: bool


class OipReadyResponse(BaseModel):
    ready: bool


class OipServerMetadataResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class OipMetadataTensor(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class OipModelMetadataResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[OipMetadataTensor]
    outputs: list[OipMetadataTensor]


class OipModelReadyResponse(BaseModel):
    name: str
    version: str
    ready: bool
