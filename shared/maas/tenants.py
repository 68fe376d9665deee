"""Tenants and API keys: creating them, revoking keys, and turning a presented key into a Principal."""

from __future__ import annotations

from maas import keys
from maas.audit import AuditLog
from maas.authz import require_tenant_admin
from maas.domain import OPERATOR_TENANT, ApiKey, Principal, Scope, Tenant, utcnow
from maas.domain.paging import Page
from maas.errors import ConflictError, ForbiddenError, NotFoundError, UnauthenticatedError
from maas.ports import RegistryStore


class Tenants:
    def __init__(self, store: RegistryStore, audit: AuditLog | None = None) -> None:
        self._store = store
        self._audit = audit

    def create_tenant(self, principal: Principal, tenant_id: str, name: str) -> Tenant:
        if not principal.is_operator:
            raise ForbiddenError("only the operator's admin key can create tenants")
        if tenant_id == OPERATOR_TENANT:
            raise ConflictError(f"tenant '{tenant_id}' already exists")
        tenant = Tenant(tenant_id=tenant_id, name=name)
        self._store.create_tenant(tenant)
        if self._audit:
            self._audit.record(principal, tenant_id, "tenant.created", target=tenant_id, after={"name": name})
        return tenant

    def list_tenants(
        self, principal: Principal, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Tenant]:
        """Every tenant, the operator's included, in id order; only the operator's admin key may list them."""
        if not principal.is_operator:
            raise ForbiddenError("only the operator's admin key can list tenants")
        return self._store.list_tenants(limit=limit, next_token=next_token)

    def create_key(
        self, principal: Principal, tenant_id: str, scopes: frozenset[Scope], description: str = ""
    ) -> tuple[ApiKey, str]:
        """Create a key; returns the stored record and the key itself, which is never available again."""
        require_tenant_admin(principal, tenant_id)
        if self._store.get_tenant(tenant_id) is None:
            raise NotFoundError(f"tenant '{tenant_id}' not found")
        if Scope.ADMIN in scopes and not principal.has(Scope.ADMIN):
            raise ForbiddenError("only an admin key can create admin keys")
        record, api_key = self._issue(tenant_id, scopes, description)
        if self._audit:
            self._audit.record(
                principal,
                tenant_id,
                "key.created",
                target=record.key_id,
                after={"scopes": sorted(scopes), "description": description},
            )
        return record, api_key

    def list_keys(
        self, principal: Principal, tenant_id: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[ApiKey]:
        require_tenant_admin(principal, tenant_id)
        return self._store.list_keys(tenant_id, limit=limit, next_token=next_token)

    def revoke_key(self, principal: Principal, tenant_id: str, key_id: str) -> None:
        require_tenant_admin(principal, tenant_id)
        if not self._store.revoke_key(tenant_id, key_id, utcnow()):
            raise NotFoundError(f"key '{key_id}' not found")
        if self._audit:
            self._audit.record(principal, tenant_id, "key.revoked", target=key_id)

    def bootstrap_operator(self, description: str = "created by maas local up") -> str:
        """Make sure the operator tenant exists and return a new admin key for it."""
        if self._store.get_tenant(OPERATOR_TENANT) is None:
            try:
                self._store.create_tenant(Tenant(tenant_id=OPERATOR_TENANT, name="Operator"))
            except ConflictError:
                pass
        _, api_key = self._issue(OPERATOR_TENANT, frozenset({Scope.ADMIN}), description)
        return api_key

    def authenticate(self, api_key: str | None) -> Principal:
        """The authorizer's one job: a presented key -> Principal, or UnauthenticatedError."""
        if not api_key:
            raise UnauthenticatedError("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
        parsed = keys.parse_key(api_key)
        record = self._store.get_key(parsed.tenant_id, parsed.key_id) if parsed else None
        if record is None or record.revoked_at is not None or not keys.matches(api_key, record.key_hash):
            raise UnauthenticatedError("invalid or revoked API key")
        return Principal(tenant_id=record.tenant_id, key_id=record.key_id, scopes=record.scopes)

    def _issue(self, tenant_id: str, scopes: frozenset[Scope], description: str) -> tuple[ApiKey, str]:
        key_id, api_key = keys.new_key(tenant_id)
        record = ApiKey(
            tenant_id=tenant_id,
            key_id=key_id,
            key_hash=keys.hash_key(api_key),
            scopes=scopes,
            description=description,
        )
        self._store.put_key(record)
        return record, api_key
