"""Shadow counters next to their alias in the registry table (``ShadowStatsStore``)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from maas.adapters.dynamodb.table import Table, tenant_pk

SAMPLE_MARKER_SECONDS = 7 * 24 * 3600
"""How long a sample id is remembered, so that a redelivered sample is counted once."""


class DynamoShadowStatsStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record_shadow_sample(
        self,
        tenant_id: str,
        model: str,
        alias: str,
        version: int,
        sample_id: str,
        *,
        agreed: bool,
        errored: bool,
        primary_ms: float,
        shadow_ms: float,
    ) -> bool:
        """The sample's marker and the counters change in one transaction: counted once, or not at all."""
        pk = tenant_pk(tenant_id)
        expires = int(time.time()) + SAMPLE_MARKER_SECONDS
        return self._table.transact(
            [
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": {"PK": pk, "SK": f"SHADOWSAMPLE#{sample_id}", "expires_at": expires},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": {"PK": pk, "SK": f"SHADOW#{model}#{alias}#{version}"},
                        "UpdateExpression": "ADD samples :one, agreements :agreed, errors :errored, "
                        "primary_ms :primary, shadow_ms :shadow",
                        "ExpressionAttributeValues": {
                            ":one": 1,
                            ":agreed": int(agreed),
                            ":errored": int(errored),
                            ":primary": Decimal(str(round(primary_ms, 3))),
                            ":shadow": Decimal(str(round(shadow_ms, 3))),
                        },
                    }
                },
            ]
        )

    def get_shadow_stats(self, tenant_id: str, model: str, alias: str, version: int) -> dict[str, Any] | None:
        return self._table.get(tenant_pk(tenant_id), f"SHADOW#{model}#{alias}#{version}")
