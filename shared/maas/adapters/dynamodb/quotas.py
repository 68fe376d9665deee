"""Quotas, their token buckets, daily usage and inference statistics in the registry table (``QuotaStore``)."""

from __future__ import annotations

from typing import Any

from maas.adapters.dynamodb.table import Table, document, tenant_pk, to_decimal
from maas.domain.access import Quota
from maas.domain.stats import COUNTERS, InferenceCounters, VersionStats


def _stats_sk(model: str, version: int) -> str:
    return f"STATS#{model}#{version:010d}"


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

    def add_inference_stats(self, tenant_id: str, model: str, version: int, counters: InferenceCounters) -> None:
        key = {"PK": tenant_pk(tenant_id), "SK": _stats_sk(model, version)}
        # last_inference first: it is idempotent, so a retry after a failed ADD below never counts twice
        self._table.conditional(
            "update_item",
            Key=key,
            UpdateExpression="SET last_inference_ms = :t",
            ConditionExpression="attribute_not_exists(last_inference_ms) OR last_inference_ms < :t",
            ExpressionAttributeValues={":t": counters.last_inference_ms},
        )
        values = {f":{name}": getattr(counters, name) for name in COUNTERS}
        self._table.raw.update_item(
            Key=key,
            UpdateExpression="SET model = :model, version = :version ADD " + ", ".join(f"{n} :{n}" for n in COUNTERS),
            ExpressionAttributeValues={":model": model, ":version": version, **values},
        )

    def list_inference_stats(self, tenant_id: str, model: str | None = None) -> list[VersionStats]:
        prefix = f"STATS#{model}#" if model is not None else "STATS#"
        return [
            VersionStats(
                model=item["model"],
                version=int(item["version"]),
                counters=InferenceCounters(
                    **{name: int(item.get(name, 0)) for name in COUNTERS},
                    last_inference_ms=int(item.get("last_inference_ms", 0)),
                ),
            )
            for item in self._table.query_prefix(tenant_pk(tenant_id), prefix)
            if "model" in item  # an item whose counters were never added holds only its time
        ]
