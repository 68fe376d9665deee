"""Authorization: the scope a call needs, and who may manage a tenant. Every service checks through these."""

from __future__ import annotations

from maas.domain import Principal, Scope
from maas.errors import ForbiddenError, NotFoundError


def require(principal: Principal, scope: Scope) -> None:
    """Raise ForbiddenError unless the caller's key carries ``scope`` (directly or implied)."""
    if not principal.has(scope):
        raise ForbiddenError(f"this API key lacks the '{scope}' scope")


def require_tenant_admin(principal: Principal, tenant_id: str) -> None:
    """The operator manages every tenant; a tenant's admin key manages its own. Others see no such tenant."""
    if principal.is_operator:
        return
    if principal.tenant_id != tenant_id:
        raise NotFoundError(f"tenant '{tenant_id}' not found")
    require(principal, Scope.ADMIN)
