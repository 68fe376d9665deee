"""The audit record: one control-plane change, who made it, when, and what it was before and after."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from maas.domain import Principal, utcnow


class AuditEntry(BaseModel):
    tenant_id: str
    at: datetime = Field(default_factory=utcnow)
    entry_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    actor: str
    action: str
    model: str | None = None
    target: str | None = None
    before: Any = None
    after: Any = None


def actor_of(principal: Principal) -> str:
    return f"{principal.tenant_id}/{principal.key_id}"
