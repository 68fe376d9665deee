"""The token bucket on DynamoDB (moto): conditional updates, burst, refill, retry time."""

from __future__ import annotations

import pytest

from maas.adapters.dynamodb import DynamoRegistryStore

from tests.integration.conftest import client, registry_table_schema

TABLE = "maas-quota-test"


@pytest.fixture
def store(aws_mock: None) -> DynamoRegistryStore:
    client("dynamodb").create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **registry_table_schema())
    return DynamoRegistryStore(TABLE)


def test_take_token_follows_gcra(store: DynamoRegistryStore) -> None:
    now = 1_000.0
    assert [store.take_token("acme", "tenant", 2, 3, now) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take_token("acme", "tenant", 2, 3, now)
    assert 0.4 < wait <= 0.5
    assert store.take_token("acme", "tenant", 2, 3, now + wait + 0.001) == 0.0
    assert store.take_token("acme", "other", 2, 3, now) == 0.0  # buckets are separate


def test_usage_adds_up(store: DynamoRegistryStore) -> None:
    store.add_usage("acme", "2026-11-23", "m", 3, 1)
    store.add_usage("acme", "2026-11-23", "m", 2, 0)
    assert store.list_usage("acme") == [{"day": "2026-11-23", "model": "m", "requests": 5, "throttled": 1}]
