"""The ports the core talks through. Real adapters wrap boto3 (``maas.adapters``); unit tests pass fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from pydantic import BaseModel

from maas.domain import ApiKey, Model, ModelVersion, Tenant, VersionStatus

if TYPE_CHECKING:
    from maas.aliases import Alias


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

    def update_model(self, model: Model) -> None:
        """Write a model's description, target and batching."""

    def allocate_version(self, tenant_id: str, name: str) -> int:
        """Atomically take the model's next version number: 1, 2, ...; never the same one twice."""

    def put_version(self, version: ModelVersion) -> None: ...

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion | None: ...

    def list_versions(self, tenant_id: str, model: str) -> list[ModelVersion]: ...

    def finish_version(self, version: ModelVersion) -> bool:
        """Write a validated version only if the stored one is still PENDING_UPLOAD; False if it was not."""

    def mark_announced(self, tenant_id: str, model: str, version: int) -> None: ...

    def set_optimization(self, tenant_id: str, model: str, version: int, report: dict[str, Any]) -> None: ...

    def set_version_status(
        self, tenant_id: str, model: str, version: int, status: VersionStatus, expected: VersionStatus
    ) -> bool:
        """Change a version's status only from ``expected``; False if it was not."""

    def delete_model(self, tenant_id: str, name: str, when: datetime) -> None:
        """Mark the model deleted; its name and version numbers are never reused."""


class AliasStore(Protocol):
    """Aliases, next to their model in the registry table."""

    def get_alias(self, tenant_id: str, model: str, name: str) -> Alias | None: ...

    def list_aliases(self, tenant_id: str, model: str) -> list[Alias]: ...

    def save_alias(self, alias: Alias, expected_revision: int) -> None:
        """Write if the stored revision is ``expected_revision`` (0: no alias yet); PreconditionFailedError if not."""

    def delete_alias(self, tenant_id: str, model: str, name: str, expected_revision: int) -> bool:
        """Delete if the stored revision is ``expected_revision``; False if it is not."""


class BlobInfo(NamedTuple):
    size: int
    version_id: str | None


class BlobStore(Protocol):
    def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str: ...

    def presign_get(self, bucket: str, key: str, *, expires_in: int) -> str: ...

    def put_file(self, bucket: str, key: str, path: str) -> None:
        """Upload a local file without reading it into memory (multipart for large files)."""

    def put(self, bucket: str, key: str, data: bytes) -> str | None:
        """Write an object; returns its version id where the bucket keeps versions."""

    def head(self, bucket: str, key: str, version_id: str | None = None) -> BlobInfo | None: ...

    def iter_bytes(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]: ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: BaseModel) -> None:
        """Put one event on the platform bus (source ``maas``)."""
