"""Quotas on fakes: the token bucket (GCRA), grant quotas, usage counting."""

from __future__ import annotations

import pytest

from maas.domain import Scope
from maas.domain.access import Grant, ModelAccess, Quota
from maas.errors import TooManyRequestsError
from maas.quotas import QuotaEnforcer, UsageRecorder

from tests.fakes import InMemoryRegistryStore
from tests.unit.factories import principal

CALLER = principal("acme", Scope.INVOKE)


def test_bucket_admits_the_burst_then_the_rate(store: InMemoryRegistryStore) -> None:
    now = [1000.0]
    store.put_quota("acme", Quota(requests_per_second=2, burst=3))
    enforcer = QuotaEnforcer(store, cache_seconds=0, clock=lambda: now[0])
    access = ModelAccess("acme", "m")
    for _ in range(3):
        enforcer.admit(CALLER, access)
    with pytest.raises(TooManyRequestsError) as over:
        enforcer.admit(CALLER, access)
    assert over.value.headers["Retry-After"] == "1"
    now[0] += 0.5  # one token back at 2 per second
    enforcer.admit(CALLER, access)
    with pytest.raises(TooManyRequestsError):
        enforcer.admit(CALLER, access)
    now[0] += 10  # a long pause refills the bucket to its burst, not beyond
    for _ in range(3):
        enforcer.admit(CALLER, access)
    with pytest.raises(TooManyRequestsError):
        enforcer.admit(CALLER, access)


def test_no_quota_costs_nothing(store: InMemoryRegistryStore) -> None:
    enforcer = QuotaEnforcer(store, cache_seconds=0)
    for _ in range(100):
        enforcer.admit(CALLER, ModelAccess("acme", "m"))
    assert store.buckets == {}


def test_grant_quota_applies_to_the_grantee(store: InMemoryRegistryStore) -> None:
    grant = Grant(
        owner="globex", model="m", grantee="acme", actions=["infer"], quota=Quota(requests_per_second=1, burst=1)
    )
    enforcer = QuotaEnforcer(store, cache_seconds=0, clock=lambda: 5.0)
    enforcer.admit(CALLER, ModelAccess("globex", "m", grant))
    with pytest.raises(TooManyRequestsError, match="this grant"):
        enforcer.admit(CALLER, ModelAccess("globex", "m", grant))
    enforcer.admit(CALLER, ModelAccess("acme", "own"))  # the tenant's own models are not limited by the grant


def test_usage_is_counted_and_flushed(store: InMemoryRegistryStore) -> None:
    now = [86_400.0 * 20_000]
    recorder = UsageRecorder(store, flush_seconds=10, clock=lambda: now[0])
    for _ in range(5):
        recorder.record("acme", "m")
    recorder.record("acme", "m", throttled=True)
    assert store.list_usage("acme") == []  # not yet flushed
    now[0] += 11
    recorder.record("acme", "m")
    (row,) = store.list_usage("acme")
    assert (row["requests"], row["throttled"]) == (6, 1)
    assert row["day"] == "2024-10-04"
