"""Aliases next to their model in the registry table (``AliasStore``); the revision is the write condition."""

from __future__ import annotations

from typing import Any

from maas.adapters.dynamodb.table import Table, document, tenant_pk
from maas.domain.aliases import Alias
from maas.domain.paging import Page
from maas.errors import PreconditionFailedError


class DynamoAliasStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get_alias(self, tenant_id: str, model: str, name: str) -> Alias | None:
        item = self._table.get(tenant_pk(tenant_id), f"ALIAS#{model}#{name}")
        return Alias.model_validate(item) if item else None

    def list_aliases(
        self, tenant_id: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Alias]:
        page = self._table.query_page(tenant_pk(tenant_id), f"ALIAS#{model}#", limit=limit, next_token=next_token)
        return Page([Alias.model_validate(item) for item in page], page.next_token)

    def save_alias(self, alias: Alias, expected_revision: int) -> None:
        kwargs: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        if expected_revision:
            kwargs = {
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": {":expected": expected_revision},
            }
        item = {
            "PK": tenant_pk(alias.tenant_id),
            "SK": f"ALIAS#{alias.model}#{alias.name}",
            "kind": "alias",
            **document(alias),
        }
        if self._table.conditional("put_item", Item=item, **kwargs) is None:
            raise PreconditionFailedError(f"alias '{alias.name}' changed since revision {expected_revision}")

    def delete_alias(self, tenant_id: str, model: str, name: str, expected_revision: int) -> bool:
        return (
            self._table.conditional(
                "delete_item",
                Key={"PK": tenant_pk(tenant_id), "SK": f"ALIAS#{model}#{name}"},
                ConditionExpression="revision = :expected",
                ExpressionAttributeValues={":expected": expected_revision},
            )
            is not None
        )
