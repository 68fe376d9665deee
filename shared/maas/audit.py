"""The audit log: every control-plane change, who made it, when, and what it was before and after.

Entries live under the affected tenant (``AUDIT#<time>#<id>``), newest read first, so a tenant sees the changes
to its own keys, models, aliases, grants and quota, including those the operator made for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from maas.authz import require
from maas.domain import Principal, Scope
from maas.domain.audit import AuditEntry, actor_of
from maas.domain.paging import Page
from maas.ports import AuditStore


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def record(
        self,
        principal: Principal,
        tenant_id: str,
        action: str,
        *,
        model: str | None = None,
        target: str | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        self._store.put_audit(
            AuditEntry(
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action=action,
                model=model,
                target=target,
                before=_plain(before),
                after=_plain(after),
            )
        )

    def list(
        self, principal: Principal, model: str | None = None, limit: int = 100, *, next_token: str | None = None
    ) -> Page[AuditEntry]:
        require(principal, Scope.READ)
        return self._store.list_audit(principal.tenant_id, limit, model=model, next_token=next_token)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude={"history", "key_hash"})
    return value
