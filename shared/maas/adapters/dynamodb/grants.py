"""Grants under the owner's tenant in the registry table (``GrantStore``)."""

from __future__ import annotations

from maas.adapters.dynamodb.table import Table, document, tenant_pk
from maas.domain.access import Grant
from maas.domain.paging import Page


class DynamoGrantStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get_grant(self, owner: str, model: str, grantee: str) -> Grant | None:
        item = self._table.get(tenant_pk(owner), f"GRANT#{model}#{grantee}")
        return Grant.model_validate(item) if item else None

    def list_grants(
        self, owner: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Grant]:
        page = self._table.query_page(tenant_pk(owner), f"GRANT#{model}#", limit=limit, next_token=next_token)
        return Page([Grant.model_validate(item) for item in page], page.next_token)

    def put_grant(self, grant: Grant) -> None:
        self._table.put(tenant_pk(grant.owner), f"GRANT#{grant.model}#{grant.grantee}", "grant", document(grant))

    def delete_grant(self, owner: str, model: str, grantee: str) -> bool:
        return (
            self._table.conditional(
                "delete_item",
                Key={"PK": tenant_pk(owner), "SK": f"GRANT#{model}#{grantee}"},
                ConditionExpression="attribute_exists(PK)",
            )
            is not None
        )
