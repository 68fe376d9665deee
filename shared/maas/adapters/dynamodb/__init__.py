"""DynamoDB adapters, one module per aggregate over one small table helper (``table.py``).

The registry lives in one table. Every item's partition key is its tenant (``T#<tenant>``), but for the index of
the tenants themselves, which the operator lists.

| item     | PK         | SK                               |
|----------|------------|----------------------------------|
| tenant   | T#<tenant> | TENANT                           |
| tenants  | TENANTS    | T#<tenant> (the tenant's copy, same transaction) |
| API key  | T#<tenant> | KEY#<key id>                     |
| model    | T#<tenant> | MODEL#<name>  (+ version_counter) |
| version  | T#<tenant> | VERSION#<name>#<version:010d>    |
| alias    | T#<tenant> | ALIAS#<model>#<alias>            |
| grant    | T#<owner>  | GRANT#<model>#<grantee>          |
| shared   | T#<grantee>| SHARED#<owner>#<model> (the grant's copy, same transaction) |
| quota    | T#<tenant> | QUOTA                            |
| bucket   | T#<tenant> | BUCKET#<tenant or grant>         |
| usage    | T#<tenant> | USAGE#<day>#<model>              |
| stats    | T#<owner>  | STATS#<model>#<version:010d>     |
| audit    | T#<tenant> | AUDIT#<time>#<id>                |
| shadow   | T#<tenant> | SHADOW#<model>#<alias>#<version>, SHADOWSAMPLE#<id> |

The jobs table (``jobs.py``) and the batch table (``batch.py``) hold one aggregate each.
"""

from __future__ import annotations

from dataclasses import dataclass

from maas.adapters.dynamodb.aliases import DynamoAliasStore
from maas.adapters.dynamodb.audit import DynamoAuditStore
from maas.adapters.dynamodb.event_sources import DynamoEventSourceStore
from maas.adapters.dynamodb.grants import DynamoGrantStore
from maas.adapters.dynamodb.quotas import DynamoQuotaStore
from maas.adapters.dynamodb.registry import DynamoRegistryStore
from maas.adapters.dynamodb.shadow import DynamoShadowStatsStore
from maas.adapters.dynamodb.table import Table


@dataclass(frozen=True)
class RegistryStores:
    """The registry table's stores, one per aggregate, over one table helper."""

    registry: DynamoRegistryStore
    aliases: DynamoAliasStore
    grants: DynamoGrantStore
    quotas: DynamoQuotaStore
    audit: DynamoAuditStore
    shadow_stats: DynamoShadowStatsStore
    event_sources: DynamoEventSourceStore


def registry_stores(table_name: str) -> RegistryStores:
    """The stores of one registry table (cheap: they share the process's one boto3 resource for it)."""
    table = Table(table_name)
    return RegistryStores(
        registry=DynamoRegistryStore(table),
        aliases=DynamoAliasStore(table),
        grants=DynamoGrantStore(table),
        quotas=DynamoQuotaStore(table),
        audit=DynamoAuditStore(table),
        shadow_stats=DynamoShadowStatsStore(table),
        event_sources=DynamoEventSourceStore(table),
    )
