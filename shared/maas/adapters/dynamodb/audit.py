"""The audit log under each tenant in the registry table (``AuditStore``), read newest first."""

from __future__ import annotations

from maas.adapters.dynamodb.table import Table, document, plain_numbers, tenant_pk
from maas.domain.audit import AuditEntry
from maas.domain.paging import Page


class DynamoAuditStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put_audit(self, entry: AuditEntry) -> None:
        sk = f"AUDIT#{entry.at.isoformat()}#{entry.entry_id}"
        self._table.put(tenant_pk(entry.tenant_id), sk, "audit", document(entry))

    def list_audit(
        self, tenant_id: str, limit: int | None = None, *, model: str | None = None, next_token: str | None = None
    ) -> Page[AuditEntry]:
        keep = None if model is None else (lambda item: item.get("model") == model)
        page = self._table.query_page(
            tenant_pk(tenant_id), "AUDIT#", newest_first=True, limit=limit, next_token=next_token, keep=keep
        )
        return Page([AuditEntry.model_validate(plain_numbers(item)) for item in page], page.next_token)
