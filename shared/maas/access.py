"""Per-tenant access policies: who may use which model. Checked here, in one place, for every route.

A tenant's own models are addressed by name. A model another tenant shared is addressed as
``{owner}.{model}``; it exists for the caller only through a grant the owner made
(``PUT /v1/models/{m}/grants/{tenant}``). Without one it answers 404 exactly as a missing model does; with one
that does not cover the action or alias, 403. Grants may limit the aliases a grantee routes through, and carry
a quota for the grantee's use.
"""

from __future__ import annotations

from maas.audit import AuditLog
from maas.authz import require
from maas.domain import Principal, Scope
from maas.domain.access import Action, Grant, ModelAccess, Quota, split_ref
from maas.domain.paging import Page
from maas.errors import ForbiddenError, NotFoundError
from maas.memo import TtlCache
from maas.ports import GrantStore


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

    def shared_with(self, principal: Principal) -> list[Grant]:
        """The grantee's side: the models other tenants shared with the caller (that still exist), by owner."""
        require(principal, Scope.READ)
        grants = self._store.list_shared_with(principal.tenant_id)
        return [g for g in grants if self._exists(g.owner, g.model)]

    def _exists(self, owner: str, name: str) -> bool:
        model = self._models.get_model(owner, name)  # type: ignore[attr-defined]
        return model is not None and model.deleted_at is None

    def list(
        self, principal: Principal, ref: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Grant]:

        require(principal, Scope.READ)
        return self._store.list_grants(
            principal.tenant_id, self._own_model(principal, ref), limit=limit, next_token=next_token
        )

    def revoke(self, principal: Principal, ref: str, grantee: str) -> Grant:

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
