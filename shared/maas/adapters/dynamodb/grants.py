"""Grants in the registry table (``GrantStore``): under the owner's tenant, and a copy under the grantee's.

The grant itself is ``T#<owner> / GRANT#<model>#<grantee>``; the grantee's copy, ``T#<grantee> /
SHARED#<owner>#<model>``, lets a grantee list what was shared with it by querying its own partition, as every
other read does. Both are written and deleted in one transaction, so they never disagree. (A global secondary
index on the grantee would do the same without the second item, but its reads are only eventually consistent: a
revoked grant would still be listed for a while, and the index would be the table's first.)
"""

from __future__ import annotations

from typing import Any

from maas.adapters.dynamodb.table import Table, document, tenant_pk
from maas.domain.access import Grant
from maas.domain.paging import Page


def _grant_key(owner: str, model: str, grantee: str) -> dict[str, str]:
    return {"PK": tenant_pk(owner), "SK": f"GRANT#{model}#{grantee}"}


def _shared_key(owner: str, model: str, grantee: str) -> dict[str, str]:
    return {"PK": tenant_pk(grantee), "SK": f"SHARED#{owner}#{model}"}


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

    def list_shared_with(self, grantee: str) -> list[Grant]:
        return [Grant.model_validate(item) for item in self._table.query_prefix(tenant_pk(grantee), "SHARED#")]

    def put_grant(self, grant: Grant) -> None:
        doc = document(grant)
        keys = (
            _grant_key(grant.owner, grant.model, grant.grantee),
            _shared_key(grant.owner, grant.model, grant.grantee),
        )
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table.name, "Item": {**key, "kind": kind, **doc}}}
            for key, kind in zip(keys, ("grant", "shared"), strict=True)
        ]
        self._table.transact(items)

    def delete_grant(self, owner: str, model: str, grantee: str) -> bool:
        return self._table.transact(
            [
                {
                    "Delete": {
                        "TableName": self._table.name,
                        "Key": _grant_key(owner, model, grantee),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
                {"Delete": {"TableName": self._table.name, "Key": _shared_key(owner, model, grantee)}},
            ]
        )
