"""The ports the core talks through. Real adapters wrap boto3 (``maas.adapters``); unit tests pass fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple, Protocol

from pydantic import BaseModel

from maas.domain import ApiKey, Model, ModelVersion, Tenant


class RegistryStore(Protocol):
    """Tenants, key hashes, models and versions. Every item is keyed under its tenant."""

    def create_tenant(self, tenant: Tenant) -> None:
        """Store a new tenant; ConflictError if the id is taken."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def put_key(self, key: ApiKey) -> None: ...

    def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None: ...

    def list_keys(self, tenant_id: str) -> list[ApiKey]: ...

    def revoke_key(self, tenant_id: str, key_id: str, when: datetime) -> bool:
        """Mark a key revoked; False when there is no such key."""

    def create_model(self, model: Model) -> None:
        """Store a new model; ConflictError if the name is taken in the tenant."""

    def get_model(self, tenant_id: str, name: str) -> Model | None: ...

    def list_models(self, tenant_id: str) -> list[Model]: ...

    def allocate_version(self, tenant_id: str, name: str) -> int:
        """Atomically take the model's next version number: 1, 2, ...; never the same one twice."""

    def put_version(self, version: ModelVersion) -> None: ...

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion | None: ...

    def list_versions(self, tenant_id: str, model: str) -> list[ModelVersion]: ...

    def finish_version(self, version: ModelVersion) -> bool:
        """Write a validated version only if the stored one is still PENDING_UPLOAD; False if it was not."""

    def mark_announced(self, tenant_id: str, model: str, version: int) -> None: ...


class BlobInfo(NamedTuple):
    size: int
    version_id: str | None


class BlobStore(Protocol):
    def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str: ...

    def head(self, bucket: str, key: str, version_id: str | None = None) -> BlobInfo | None: ...

    def iter_bytes(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]: ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: BaseModel) -> None:
        """Put one event on the platform bus (source ``maas``)."""
