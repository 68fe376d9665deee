"""Request and response bodies of the control-plane API. Requests refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from maas.domain import ApiKey, Framework, Model, ModelName, ModelVersion, Scope, Signature, TenantId, VersionStatus

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


class CreateModelRequest(RequestBody):
    name: ModelName
    framework: Framework
    description: str = Field(default="", max_length=2000)


class ModelResponse(BaseModel):
    name: str
    framework: Framework
    description: str
    created_at: datetime

    @classmethod
    def of(cls, model: Model) -> ModelResponse:
        return cls(
            name=model.name, framework=model.framework, description=model.description, created_at=model.created_at
        )


class ModelListResponse(BaseModel):
    models: list[ModelResponse]


class CreateVersionRequest(RequestBody):
    sha256: Sha256 | None = None


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
    signature: Signature | None
    failure_reason: str | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def of(cls, version: ModelVersion) -> VersionResponse:
        return cls(
            version=version.version,
            status=version.status,
            sha256=version.sha256,
            size_bytes=version.size_bytes,
            signature=version.signature,
            failure_reason=version.failure_reason,
            created_at=version.created_at,
            finished_at=version.finished_at,
        )


class VersionListResponse(BaseModel):
    versions: list[VersionResponse]
