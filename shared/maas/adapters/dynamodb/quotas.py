"""Quotas, their token buckets and daily usage in the registry table (``QuotaStore``)."""

from __future__ import annotations

from typing import Any

from maas.adapters.dynamodb.table import Table, document, tenant_pk, to_decimal
from maas.domain.access import Quota


class DynamoQuotaStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get_quota(self, tenant_id: str) -> Quota | None:
        item = self._table.get(tenant_pk(tenant_id), "QUOTA")
        return Quota.model_validate(item) if item else None

    def put_quota(self, tenant_id: str, quota: Quota | None) -> None:
        if quota is None:
            self._table.raw.delete_item(Key={"PK": tenant_pk(tenant_id), "SK": "QUOTA"})
            return
        self._table.put(tenant_pk(tenant_id), "QUOTA", "quota", document(quota))

    def take_token(self, tenant_id: str, bucket: str, rate: float, burst: int, now: float) -> float:
        """GCRA: ``tat`` is when the bucket is full again; a request may land while tat - now <= (burst - 1) T."""
        interval = 1.0 / rate
        key = {"PK": tenant_pk(tenant_id), "SK": f"BUCKET#{bucket}"}
        expires = int(now + burst * interval) + 3600

        def update(expression: str, condition: str, values: dict[str, Any]) -> bool:
            return (
                self._table.conditional(
                    "update_item",
                    Key=key,
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeValues={k: to_decimal(v) for k, v in values.items()},
                )
                is not None
            )

        # the bucket has room to spare: start from now
        if update(
            "SET tat = :next, expires_at = :expires",
            "attribute_not_exists(tat) OR tat <= :now",
            {":next": now + interval, ":now": now, ":expires": expires},
        ):
            return 0.0
        # bursting: take the next slot if the burst allows it
        limit = now + (burst - 1) * interval
        if update(
            "SET tat = tat + :interval, expires_at = :expires",
            "tat <= :limit",
            {":interval": interval, ":limit": limit, ":expires": expires},
        ):
            return 0.0
        item = self._table.get(key["PK"], key["SK"]) or {}
        return max(0.001, float(item.get("tat", now)) - limit)

    def add_usage(self, tenant_id: str, day: str, model: str, requests: int, throttled: int) -> None:
        self._table.raw.update_item(
            Key={"PK": tenant_pk(tenant_id), "SK": f"USAGE#{day}#{model}"},
            UpdateExpression="SET #d = :day, model = :model ADD requests :requests, throttled :throttled",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":day": day, ":model": model, ":requests": requests, ":throttled": throttled},
        )

    def list_usage(self, tenant_id: str) -> list[dict[str, Any]]:
        return [
            {
                "day": item["day"],
                "model": item["model"],
                "requests": int(item.get("requests", 0)),
                "throttled": int(item.get("throttled", 0)),
            }
            for item in self._table.query_prefix(tenant_pk(tenant_id), "USAGE#")
        ]
