"""Per-tenant access policies: who may use which model. Checked here, in one place, for every route.

A tenant's own models are addressed by name. A model another tenant shared is addressed as
``{owner}.{model}``; it exists for the caller only through a grant the owner made
(``PUT /v1/models/{m}/grants/{tenant}``). Without one it answers 404 exactly as a missing model does; with one
that does not cover the action or alias, 403. Grants may limit the aliases a grantee routes through, and carry
a quota for the grantee's use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from maas.domain import Principal, Scope, utcnow
from maas.errors import ForbiddenError, NotFoundError
from maas.memo import TtlCache

if TYPE_CHECKING:
    from maas.audit import AuditLog


class Action(StrEnum):
    INFER = "infer"
    READ = "read"


class Quota(BaseModel):
    requests_per_second: float = Field(gt=0, le=100_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=100_000)


class Grant(BaseModel):
    owner: str
    model: str
    grantee: str
    actions: list[Action]
    aliases: list[str] | None = None
    quota: Quota | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_by: str = ""


class GrantStore(Protocol):
    def get_grant(self, owner: str, model: str, grantee: str) -> Grant | None: ...

    def list_grants(self, owner: str, model: str) -> list[Grant]: ...

    def put_grant(self, grant: Grant) -> None: ...

    def delete_grant(self, owner: str, model: str, grantee: str) -> bool: ...


@dataclass(frozen=True)
class ModelAccess:
    """The model a request reaches: whose it is, its name there, and the grant it comes through (None: own)."""

    owner: str
    model: str
    grant: Grant | None = None

    def check_ref(self, ref: str | None, default_alias: str) -> None:
        """A grant limited to some aliases admits only those (and no bare version numbers)."""
        if self.grant is None or self.grant.aliases is None:
            return
        if (ref or default_alias) not in self.grant.aliases:
            raise ForbiddenError(f"this grant allows only the aliases {', '.join(self.grant.aliases)}")


def split_ref(ref: str) -> tuple[str | None, str]:
    """``owner.model`` -> (owner, model); a bare name -> (None, name)."""
    owner, sep, name = ref.partition(".")
    return (owner, name) if sep else (None, ref)


class AccessPolicy:
    def __init__(self, grants: GrantStore, cache_seconds: float = 0) -> None:
        self._grants = grants
        self._cache = TtlCache(cache_seconds)

    def model(self, principal: Principal, ref: str, action: Action) -> ModelAccess:
        owner, name = split_ref(ref)
        if owner is None or owner == principal.tenant_id:
            return ModelAccess(principal.tenant_id, name)
        grant = self._cache.get(
            ("grant", owner, name, principal.tenant_id),
            lambda: self._grants.get_grant(owner, name, principal.tenant_id),
        )
        if grant is None:
            raise NotFoundError(f"model '{ref}' not found")
        if action not in grant.actions:
            raise ForbiddenError(f"the grant on '{ref}' does not allow {action}")
        return ModelAccess(owner, name, grant)

    @staticmethod
    def own(principal: Principal, ref: str) -> str:
        """Changes are for owners only: another tenant's model does not exist for them."""
        owner, name = split_ref(ref)
        if owner is not None and owner != principal.tenant_id:
            raise NotFoundError(f"model '{ref}' not found")
        return name


class Grants:
    """The owner's side: share a model with another tenant, list, revoke."""

    def __init__(self, store: GrantStore, models: object, audit: AuditLog | None = None) -> None:
        self._store = store
        self._models = models
        self._audit = audit

    def _own_model(self, principal: Principal, ref: str) -> str:
        name = AccessPolicy.own(principal, ref)
        model = self._models.get_model(principal.tenant_id, name)  # type: ignore[attr-defined]
        if model is None or model.deleted_at is not None:
            raise NotFoundError(f"model '{ref}' not found")
        return name

    def put(
        self,
        principal: Principal,
        ref: str,
        grantee: str,
        actions: list[Action],
        *,
        aliases: list[str] | None,
        quota: Quota | None,
    ) -> Grant:
        from maas.tenants import require

        require(principal, Scope.PUBLISH)
        name = self._own_model(principal, ref)
        if grantee == principal.tenant_id:
            raise ForbiddenError("a tenant needs no grant on its own models")
        grant = Grant(
            owner=principal.tenant_id,
            model=name,
            grantee=grantee,
            actions=sorted(set(actions)),
            aliases=sorted(set(aliases)) if aliases is not None else None,
            quota=quota,
            updated_by=principal.key_id,
        )
        previous = self._store.get_grant(principal.tenant_id, name, grantee)
        self._store.put_grant(grant)
        if self._audit:
            self._audit.record(
                principal, principal.tenant_id, "grant.put", model=name, target=grantee, before=previous, after=grant
            )
        return grant

    def list(self, principal: Principal, ref: str) -> list[Grant]:
        from maas.tenants import require

        require(principal, Scope.READ)
        return self._store.list_grants(principal.tenant_id, self._own_model(principal, ref))

    def revoke(self, principal: Principal, ref: str, grantee: str) -> Grant:
        from maas.tenants import require

        require(principal, Scope.PUBLISH)
        name = self._own_model(principal, ref)
        grant = self._store.get_grant(principal.tenant_id, name, grantee)
        if grant is None or not self._store.delete_grant(principal.tenant_id, name, grantee):
            raise NotFoundError(f"no grant on '{name}' for '{grantee}'")
        if self._audit:
            self._audit.record(
                principal, principal.tenant_id, "grant.revoked", model=name, target=grantee, before=grant
            )
        return grant
