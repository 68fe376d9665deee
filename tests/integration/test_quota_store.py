"""The QuotaStore contract (token buckets, quotas, usage), on the in-memory fake and on DynamoDB (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from maas.domain.access import Quota
from maas.ports import QuotaStore


@pytest.fixture
def store(registry_stores: Any) -> QuotaStore:
    return registry_stores.quotas  # type: ignore[no-any-return]


def test_take_token_follows_gcra(store: QuotaStore) -> None:
    now = 1_000.0
    assert [store.take_token("acme", "tenant", 2, 3, now) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take_token("acme", "tenant", 2, 3, now)
    assert 0.4 < wait <= 0.5
    assert store.take_token("acme", "tenant", 2, 3, now + wait + 0.001) == 0.0
    assert store.take_token("acme", "other", 2, 3, now) == 0.0  # buckets are separate


def test_usage_adds_up(store: QuotaStore) -> None:
    store.add_usage("acme", "2026-11-23", "m", 3, 1)
    store.add_usage("acme", "2026-11-23", "m", 2, 0)
    assert store.list_usage("acme") == [{"day": "2026-11-23", "model": "m", "requests": 5, "throttled": 1}]
    assert store.list_usage("globex") == []


def test_a_quota_is_set_replaced_and_cleared(store: QuotaStore) -> None:
    assert store.get_quota("acme") is None
    store.put_quota("acme", Quota(requests_per_second=5, burst=10))
    store.put_quota("acme", Quota(requests_per_second=2.5))

    assert store.get_quota("acme") == Quota(requests_per_second=2.5)
    assert store.get_quota("globex") is None
    store.put_quota("acme", None)
    assert store.get_quota("acme") is None
