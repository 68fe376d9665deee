"""The QuotaStore contract (token buckets, quotas, usage), on the in-memory fake and on DynamoDB (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from maas.domain.access import Quota
from maas.domain.stats import InferenceCounters
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


def test_inference_stats_add_up_and_last_inference_only_moves_forward(store: QuotaStore) -> None:
    # Given two instances flushing their counters for the same version, the later one's time first
    first = InferenceCounters(success_count=3, success_ns=300, compute_infer_ns=200, last_inference_ms=2_000)
    second = InferenceCounters(success_count=1, success_ns=50, fail_count=2, fail_ns=20, last_inference_ms=1_500)
    store.add_inference_stats("acme", "m", 1, first)
    store.add_inference_stats("acme", "m", 1, second)
    store.add_inference_stats("acme", "m", 10, InferenceCounters(success_count=1, last_inference_ms=1))
    store.add_inference_stats("acme", "m2", 1, InferenceCounters(fail_count=1, last_inference_ms=5))
    store.add_inference_stats("globex", "m", 1, InferenceCounters(success_count=9, last_inference_ms=9))

    # Then the counts are summed and the time is the latest
    stats = store.list_inference_stats("acme")
    assert [(s.model, s.version) for s in stats] == [("m", 1), ("m", 10), ("m2", 1)]
    assert stats[0].counters == InferenceCounters(
        success_count=4, success_ns=350, fail_count=2, fail_ns=20, compute_infer_ns=200, last_inference_ms=2_000
    )
    assert [(s.model, s.version) for s in store.list_inference_stats("acme", "m")] == [("m", 1), ("m", 10)]
    assert store.list_inference_stats("acme", "nope") == []
    assert [s.counters.success_count for s in store.list_inference_stats("globex")] == [9]


def test_a_quota_is_set_replaced_and_cleared(store: QuotaStore) -> None:
    assert store.get_quota("acme") is None
    store.put_quota("acme", Quota(requests_per_second=5, burst=10))
    store.put_quota("acme", Quota(requests_per_second=2.5))

    assert store.get_quota("acme") == Quota(requests_per_second=2.5)
    assert store.get_quota("globex") is None
    store.put_quota("acme", None)
    assert store.get_quota("acme") is None
