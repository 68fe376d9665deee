"""Models and their versions: creating them, listing them, and issuing upload URLs for artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from maas.access import AccessPolicy
from maas.audit import AuditLog
from maas.authz import require
from maas.domain import (
    Batching,
    Framework,
    Model,
    ModelVersion,
    Principal,
    Scope,
    Signature,
    Target,
    VersionStatus,
    artifact_key,
    utcnow,
)
from maas.domain.access import Action, ModelAccess
from maas.domain.paging import Page
from maas.errors import ConflictError, InvalidRequestError, NotFoundError
from maas.ports import AliasStore, BlobStore, RegistryStore

ARTIFACT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Upload:
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


class Registry:
    def __init__(
        self,
        store: RegistryStore,
        blobs: BlobStore,
        *,
        artifacts_bucket: str,
        upload_expires_in: int = 900,
        aliases: AliasStore | None = None,
        access: AccessPolicy | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._audit = audit
        self._store = store
        self._aliases = aliases
        self._access = access
        self._blobs = blobs
        self._bucket = artifacts_bucket
        self._expires_in = upload_expires_in

    def create_model(
        self,
        principal: Principal,
        name: str,
        framework: Framework,
        description: str,
        *,
        target: Target | None = None,
        batching: Batching | None = None,
    ) -> Model:
        """``target`` defaults to ``cpu`` for ONNX and ``gpu`` for TorchScript (torch does not fit in Lambda)."""
        require(principal, Scope.PUBLISH)
        if target is None:
            target = Target.GPU if framework == Framework.TORCHSCRIPT else Target.CPU
        if framework == Framework.TORCHSCRIPT and target != Target.GPU:
            raise InvalidRequestError("TorchScript models run on the GPU workers only: create them with target 'gpu'")
        model = Model(
            tenant_id=principal.tenant_id,
            name=name,
            framework=framework,
            description=description,
            target=target,
            batching=batching or Batching(),
        )
        self._store.create_model(model)
        if self._audit:
            self._audit.record(principal, principal.tenant_id, "model.created", model=name, after=model)
        return model

    def update_model(
        self,
        principal: Principal,
        name: str,
        *,
        description: str | None = None,
        target: Target | None = None,
        batching: Batching | None = None,
    ) -> Model:
        """Change where a model runs (``cpu`` | ``gpu``) and how the worker batches it."""
        require(principal, Scope.PUBLISH)
        before = self._own_model(principal, name)
        if before.framework == Framework.TORCHSCRIPT and target == Target.CPU:
            raise InvalidRequestError("TorchScript models run on the GPU workers only")
        after = before.model_copy(
            update={
                k: v
                for k, v in (("description", description), ("target", target), ("batching", batching))
                if v is not None
            }
        )
        self._store.update_model(after)
        if self._audit:
            self._audit.record(
                principal, before.tenant_id, "model.updated", model=before.name, before=before, after=after
            )
        return after

    def get_model(self, principal: Principal, name: str) -> Model:
        """A model the caller may read: its own, or ``owner.model`` through a grant."""
        return self._readable(principal, name)[0]

    def _readable(self, principal: Principal, name: str) -> tuple[Model, ModelAccess | None]:
        require(principal, Scope.READ)
        access = self._access.model(principal, name, Action.READ) if self._access else None
        owner, model_name = (access.owner, access.model) if access else (principal.tenant_id, name)
        model = self._store.get_model(owner, model_name)
        if model is None or model.deleted_at is not None:
            raise NotFoundError(f"model '{name}' not found")
        return model, access

    def _grant_reach(self, model: Model, access: ModelAccess | None) -> tuple[list[str], set[int]] | None:
        """What a grant limited to aliases reaches: those aliases, and the versions they route traffic to now
        (not their shadows: the grantee never gets a shadow's answers). None: everything (the owner, a full grant)."""
        grant = access.grant if access else None
        if grant is None or grant.aliases is None:
            return None
        aliases = self._aliases.list_aliases(model.tenant_id, model.name) if self._aliases is not None else []
        routed = {route.version for alias in aliases if alias.name in grant.aliases for route in alias.routes}
        return grant.aliases, routed

    def _own_model(self, principal: Principal, name: str) -> Model:
        model = self._store.get_model(principal.tenant_id, AccessPolicy.own(principal, name))
        if model is None or model.deleted_at is not None:
            raise NotFoundError(f"model '{name}' not found")
        return model

    def list_models(
        self, principal: Principal, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Model]:
        require(principal, Scope.READ)
        return self._store.list_models(principal.tenant_id, limit=limit, next_token=next_token)

    def create_version(
        self, principal: Principal, name: str, declared_sha256: str | None, signature: Signature | None = None
    ) -> tuple[ModelVersion, Upload]:
        """Take the next version number and hand out a presigned URL; the upload itself starts validation."""
        version = self.new_version(principal, name, declared_sha256, signature=signature)
        url = self._blobs.presign_put(
            self._bucket, version.artifact_key, expires_in=self._expires_in, content_type=ARTIFACT_CONTENT_TYPE
        )
        return version, Upload(url, "PUT", {"Content-Type": ARTIFACT_CONTENT_TYPE}, self._expires_in)

    def new_version(
        self,
        principal: Principal,
        name: str,
        declared_sha256: str | None,
        *,
        derived_from: int | None = None,
        optimization: dict[str, Any] | None = None,
        signature: Signature | None = None,
    ) -> ModelVersion:
        """Record the next version, PENDING_UPLOAD until its artifact arrives."""
        require(principal, Scope.PUBLISH)
        model = self._own_model(principal, name)
        if model.framework == Framework.TORCHSCRIPT and signature is None:
            raise InvalidRequestError(
                "a TorchScript version declares its signature: "
                '{"signature": {"inputs": [{"name", "datatype", "shape"}], "outputs": [...]}}'
            )
        if model.framework == Framework.ONNX and signature is not None:
            raise InvalidRequestError("an ONNX version's signature is read from the model; do not declare one")
        number = self._store.allocate_version(model.tenant_id, model.name)
        version = ModelVersion(
            tenant_id=model.tenant_id,
            model=model.name,
            version=number,
            artifact_key=artifact_key(model.tenant_id, model.name, number, model.framework),
            declared_sha256=declared_sha256.lower() if declared_sha256 else None,
            derived_from=derived_from,
            optimization=optimization,
            signature=signature,
        )
        self._store.put_version(version)
        if self._audit:
            self._audit.record(
                principal,
                model.tenant_id,
                "version.registered",
                model=model.name,
                target=str(number),
                after={"declared_sha256": version.declared_sha256, "derived_from": derived_from},
            )
        return version

    def get_version(self, principal: Principal, name: str, ref: int | str) -> ModelVersion:
        """A version by number, or by alias (the version taking the largest share of its traffic).

        Through a grant limited to aliases, only those aliases and the versions they route to exist: anything
        else is 404 exactly like a version that does not.
        """
        model, access = self._readable(principal, name)
        reach = self._grant_reach(model, access)
        by_alias = isinstance(ref, str) and not (ref.isascii() and ref.isdigit())
        if reach is not None and by_alias and ref not in reach[0]:
            raise NotFoundError(f"version {ref} of model '{name}' not found")
        number = self._version_number(model.tenant_id, model.name, ref)
        version = self._store.get_version(model.tenant_id, model.name, number) if number else None
        if version is None or (reach is not None and version.version not in reach[1]):
            raise NotFoundError(f"version {ref} of model '{name}' not found")
        return version

    def _version_number(self, tenant_id: str, model: str, ref: int | str) -> int | None:
        if isinstance(ref, int):
            return ref
        if ref.isascii() and ref.isdigit():
            return int(ref)
        alias = self._aliases.get_alias(tenant_id, model, ref) if self._aliases is not None else None
        return max(alias.routes, key=lambda r: r.weight).version if alias else None

    def list_versions(
        self, principal: Principal, name: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[ModelVersion]:
        model, access = self._readable(principal, name)
        versions = self._store.list_versions(model.tenant_id, model.name, limit=limit, next_token=next_token)
        reach = self._grant_reach(model, access)
        return versions if reach is None else Page([v for v in versions if v.version in reach[1]], versions.next_token)

    def _alias_users(self, tenant_id: str, name: str, number: int | None = None) -> list[str]:
        if self._aliases is None:
            return []
        aliases = self._aliases.list_aliases(tenant_id, name)
        return [a.name for a in aliases if number is None or number in a.target.versions]

    def archive_version(self, principal: Principal, name: str, ref: int | str) -> ModelVersion:
        """Stop serving a version for good; its artifact stays. Refused while an alias points at it."""
        require(principal, Scope.PUBLISH)
        self._own_model(principal, name)
        version = self.get_version(principal, name, ref)
        number = version.version
        if version.status == VersionStatus.ARCHIVED:
            return version
        users = self._alias_users(principal.tenant_id, name, number)
        if users:
            raise ConflictError(f"version {number} of '{name}' is a target of alias {', '.join(sorted(users))}")
        if not self._store.set_version_status(
            principal.tenant_id, name, number, VersionStatus.ARCHIVED, expected=version.status
        ):
            raise ConflictError(f"version {number} of '{name}' changed while being archived; try again")
        if self._audit:
            self._audit.record(
                principal,
                principal.tenant_id,
                "version.archived",
                model=name,
                target=str(number),
                before={"status": version.status},
                after={"status": VersionStatus.ARCHIVED},
            )
        version.status = VersionStatus.ARCHIVED
        return version

    def delete_model(self, principal: Principal, name: str) -> None:
        """Delete a model no alias routes traffic to. Its name and version numbers are not reused."""
        require(principal, Scope.PUBLISH)
        self._own_model(principal, name)
        users = self._alias_users(principal.tenant_id, name)
        if users:
            raise ConflictError(f"model '{name}' still has alias {', '.join(sorted(users))}; delete them first")
        self._store.delete_model(principal.tenant_id, name, utcnow())
        if self._audit:
            self._audit.record(principal, principal.tenant_id, "model.deleted", model=name)
