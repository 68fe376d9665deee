"""The one helper every DynamoDB adapter writes through: keys, documents, prefix queries, conditional writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel

from maas.adapters.aws import dynamodb_table
from maas.domain.paging import Page, collect, decode_token
from maas.errors import ConflictError


def tenant_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


def plain_numbers(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; free-form documents (audit before/after) want int and float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_numbers(v) for v in value]
    return value


def to_decimal(value: Any, digits: int = 6) -> Any:
    return Decimal(str(round(value, digits))) if isinstance(value, float) else value


def document(obj: BaseModel) -> dict[str, Any]:
    """A record as an item: DynamoDB stores no None (the models' defaults restore them) and no float (Decimal)."""
    doc: dict[str, Any] = json.loads(obj.model_dump_json(), parse_float=Decimal)
    return {k: v for k, v in doc.items() if v is not None}


def is_conditional_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def is_cancelled_transaction(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "TransactionCanceledException")


class Table:
    """One DynamoDB table with a ``PK`` / ``SK`` key."""

    def __init__(self, name: str) -> None:
        self.raw = dynamodb_table(name)
        self.name = name

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.raw.get_item(Key={"PK": pk, "SK": sk}).get("Item")
        return item

    def query_prefix(
        self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of ``pk`` whose sort key starts with ``prefix``, page after page (``limit``: one page)."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(pk) & Key("SK").begins_with(prefix)}
        if newest_first:
            kwargs["ScanIndexForward"] = False
        if limit is not None:
            kwargs["Limit"] = limit
        while True:
            page = self.raw.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page or limit is not None:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query_page(
        self,
        pk: str,
        prefix: str,
        *,
        limit: int | None = None,
        next_token: str | None = None,
        newest_first: bool = False,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        **query: Any,
    ) -> Page[dict[str, Any]]:
        """One page of ``pk``'s ``prefix`` items after ``next_token`` (``maas.domain.paging``): up to ``limit``
        items that ``keep`` accepts, and the token of the next page when an item follows them. ``query``: more
        arguments for DynamoDB's query (a ProjectionExpression)."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(pk) & Key("SK").begins_with(prefix), **query}
        if newest_first:
            kwargs["ScanIndexForward"] = False
        if limit is not None:
            kwargs["Limit"] = limit + 1  # one more than a page: whether another follows, in one round trip
        if next_token is not None:
            kwargs["ExclusiveStartKey"] = {"PK": pk, "SK": decode_token(next_token, pk, prefix)}

        def rows() -> Iterator[tuple[str, dict[str, Any]]]:
            while True:
                page = self.raw.query(**kwargs)
                for item in page.get("Items", []):
                    yield str(item["SK"]), item
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        return collect(rows(), pk, limit=limit, keep=keep)

    def put(self, pk: str, sk: str, kind: str, doc: dict[str, Any]) -> None:
        self.raw.put_item(Item={"PK": pk, "SK": sk, "kind": kind, **doc})

    def conditional(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        """Run ``put_item`` / ``update_item`` / ``delete_item`` with its ``ConditionExpression``: the response, or
        None when the condition did not hold. Every conditional write of the adapters goes through here."""
        try:
            response: dict[str, Any] = getattr(self.raw, operation)(**kwargs)
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return response

    def put_new(self, pk: str, sk: str, kind: str, doc: dict[str, Any], conflict: str) -> None:
        """Create an item; ConflictError(``conflict``) when its key is taken."""
        item = {"PK": pk, "SK": sk, "kind": kind, **doc}
        if self.conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(PK)") is None:
            raise ConflictError(conflict)

    def transact(self, items: list[dict[str, Any]]) -> bool:
        """One transaction over this table's items; False when a condition cancelled it."""
        try:
            self.raw.meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if is_cancelled_transaction(exc):
                return False
            raise
        return True
