"""A tenant's event sources in the registry table (``EventSourceStore``): ``SOURCE#<name>`` under the tenant.

A source's name starts with its tenant's id (``acme.orders``), so no item needs to hold names across tenants.
"""

from __future__ import annotations

import json

from maas.adapters.dynamodb.table import Table, tenant_pk
from maas.domain.jobs import EventSource
from maas.domain.paging import Page


class DynamoEventSourceStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put_event_source(self, source: EventSource) -> None:
        doc = json.loads(source.model_dump_json())
        self._table.put_new(
            tenant_pk(source.tenant_id),
            f"SOURCE#{source.source}",
            "event_source",
            doc,
            f"event source '{source.source}' is registered already",
        )

    def get_event_source(self, tenant_id: str, source: str) -> EventSource | None:
        item = self._table.get(tenant_pk(tenant_id), f"SOURCE#{source}")
        return EventSource.model_validate(item) if item else None

    def list_event_sources(
        self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[EventSource]:
        page = self._table.query_page(tenant_pk(tenant_id), "SOURCE#", limit=limit, next_token=next_token)
        return Page([EventSource.model_validate(item) for item in page], page.next_token)

    def delete_event_source(self, tenant_id: str, source: str) -> bool:
        key = {"PK": tenant_pk(tenant_id), "SK": f"SOURCE#{source}"}
        return self._table.conditional("delete_item", Key=key, ConditionExpression="attribute_exists(PK)") is not None
