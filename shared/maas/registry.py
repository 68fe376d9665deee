"""Models and their versions: creating them, listing them, and issuing upload URLs for artifacts."""

from __future__ import annotations

from dataclasses import dataclass

from maas.domain import Framework, Model, ModelVersion, Principal, Scope, artifact_key
from maas.errors import NotFoundError
from maas.ports import BlobStore, RegistryStore
from maas.tenants import require

ARTIFACT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Upload:
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


class Registry:
    def __init__(
        self, store: RegistryStore, blobs: BlobStore, *, artifacts_bucket: str, upload_expires_in: int = 900
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._bucket = artifacts_bucket
        self._expires_in = upload_expires_in

    def create_model(self, principal: Principal, name: str, framework: Framework, description: str) -> Model:
        require(principal, Scope.PUBLISH)
        model = Model(tenant_id=principal.tenant_id, name=name, framework=framework, description=description)
        self._store.create_model(model)
        return model

    def get_model(self, principal: Principal, name: str) -> Model:
        require(principal, Scope.READ)
        model = self._store.get_model(principal.tenant_id, name)
        if model is None:
            raise NotFoundError(f"model '{name}' not found")
        return model

    def list_models(self, principal: Principal) -> list[Model]:
        require(principal, Scope.READ)
        return self._store.list_models(principal.tenant_id)

    def create_version(
        self, principal: Principal, name: str, declared_sha256: str | None
    ) -> tuple[ModelVersion, Upload]:
        """Take the next version number and hand out a presigned URL; the upload itself starts validation."""
        require(principal, Scope.PUBLISH)
        model = self.get_model(principal, name)
        number = self._store.allocate_version(model.tenant_id, model.name)
        version = ModelVersion(
            tenant_id=model.tenant_id,
            model=model.name,
            version=number,
            artifact_key=artifact_key(model.tenant_id, model.name, number, model.framework),
            declared_sha256=declared_sha256.lower() if declared_sha256 else None,
        )
        self._store.put_version(version)
        url = self._blobs.presign_put(
            self._bucket, version.artifact_key, expires_in=self._expires_in, content_type=ARTIFACT_CONTENT_TYPE
        )
        return version, Upload(url, "PUT", {"Content-Type": ARTIFACT_CONTENT_TYPE}, self._expires_in)

    def get_version(self, principal: Principal, name: str, number: int) -> ModelVersion:
        self.get_model(principal, name)
        version = self._store.get_version(principal.tenant_id, name, number)
        if version is None:
            raise NotFoundError(f"version {number} of model '{name}' not found")
        return version

    def list_versions(self, principal: Principal, name: str) -> list[ModelVersion]:
        self.get_model(principal, name)
        return self._store.list_versions(principal.tenant_id, name)
