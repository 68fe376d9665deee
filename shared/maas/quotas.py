"""Quotas and usage: requests per second with a burst, per tenant and per grant, and use per model and day.

The rate limit is a token bucket kept as GCRA (the generic cell rate algorithm): one number per bucket, the
"theoretical arrival time" of the next request, moved by conditional DynamoDB updates, so that it holds
across any number of concurrent Lambda instances. A request costs one update while the bucket has room, two
while it is bursting. Tenants and grants without a quota cost nothing.

Usage is counted in memory and added to DynamoDB every ``flush_seconds`` (atomic ADD per model and day) by a
background thread, so that the hot path makes no extra write per request. In Lambda the thread runs only while
an invocation does, so an instance's last few seconds of counts reach the table with its next request (or are
lost if it is recycled first): usage is exact to within that window.

The same flush carries each model version's inference statistics (``record_inference``: successes and failures
with their nanoseconds, the time of each phase, the last inference), one ADD per version and flush, summed across
every instance (``maas.inference.stats`` reads them as Triton's statistics extension). They are as exact as the
usage: every request an instance served is in the table within ``flush_seconds`` of the instance's next request,
save the unflushed tail of an instance that Lambda recycles. ``last_inference`` only moves forward (a conditional
write), so instances flushing out of order never move it back.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from maas.audit import AuditLog
from maas.authz import require, require_tenant_admin
from maas.domain import OPERATOR_TENANT, Principal, Scope
from maas.domain.access import ModelAccess, Quota
from maas.domain.stats import InferenceCounters
from maas.errors import ForbiddenError, NotFoundError, TooManyRequestsError
from maas.memo import TtlCache
from maas.observability import logger
from maas.ports import QuotaStore


def burst_of(quota: Quota) -> int:
    return quota.burst or max(1, math.ceil(quota.requests_per_second))


class QuotaEnforcer:
    def __init__(self, store: QuotaStore, cache_seconds: float = 5, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._quotas = TtlCache(cache_seconds)
        self._clock = clock

    def limits(self, principal: Principal, access: ModelAccess) -> list[tuple[str, Quota]]:
        """The quotas a request counts against: ``("tenant", q)`` and ``("grant#owner.model", q)`` where set."""
        limits: list[tuple[str, Quota]] = []
        tenant_quota = self._quotas.get(
            ("tenant", principal.tenant_id), lambda: self._store.get_quota(principal.tenant_id)
        )
        if tenant_quota is not None:
            limits.append(("tenant", tenant_quota))
        if access.grant is not None and access.grant.quota is not None:
            limits.append((f"grant#{access.owner}.{access.model}", access.grant.quota))
        return limits

    def admit(self, principal: Principal, access: ModelAccess) -> None:
        """TooManyRequestsError when the caller's tenant or grant is over its rate."""
        now = self._clock()
        for bucket, quota in self.limits(principal, access):
            wait = self._store.take_token(principal.tenant_id, bucket, quota.requests_per_second, burst_of(quota), now)
            if wait > 0:
                scope = "this grant" if bucket.startswith("grant#") else "this tenant"
                raise TooManyRequestsError(
                    f"over the quota of {scope} ({quota.requests_per_second:g} requests per second, "
                    f"burst {burst_of(quota)}); retry in {wait:.2f} s",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )


class UsageRecorder:
    """Counts requests per (tenant, day, model) in memory; adds them to the store every ``flush_seconds``."""

    def __init__(
        self,
        store: QuotaStore,
        flush_seconds: float = 10,
        clock: Callable[[], float] = time.time,
        *,
        background: bool = False,
    ) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._pending: Counter[tuple[str, str, str, str]] = Counter()
        self._pending_stats: dict[tuple[str, str, int], InferenceCounters] = {}
        self._last_flush = clock()
        self._lock = threading.Lock()
        if background and flush_seconds > 0:
            threading.Thread(target=self._flush_forever, name="usage-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self._flush_seconds)
            try:
                self.flush()
            except Exception:  # the next round retries what is still pending
                logger.exception("usage flush failed")

    def record(self, tenant_id: str, model: str, *, throttled: bool = False) -> None:
        day = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")
        with self._lock:
            self._pending[(tenant_id, day, model, "throttled" if throttled else "requests")] += 1
        self._flush_if_due(self._clock())

    def _flush_if_due(self, now: float) -> None:
        """The flush that a frozen background thread (Lambda between invocations) may have missed; a store that
        fails here never fails the request: what was not written stays pending for the next round."""
        if now - self._last_flush < self._flush_seconds:
            return
        try:
            self.flush()
        except Exception:
            logger.exception("usage flush failed")

    def record_inference(
        self,
        owner: str,
        model: str,
        version: int,
        *,
        ok: bool,
        total_ns: int,
        phases_ns: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        """One request a version served (``ok``) or failed, on its owner's model: a few additions under a lock.

        ``phases_ns`` is (decode and checks, the model run, encoding), for a request that succeeded.
        """
        now = self._clock()
        with self._lock:
            counters = self._pending_stats.get((owner, model, version))
            if counters is None:
                counters = self._pending_stats[(owner, model, version)] = InferenceCounters()
            if ok:
                counters.success_count += 1
                counters.success_ns += total_ns
                counters.compute_input_ns += phases_ns[0]
                counters.compute_infer_ns += phases_ns[1]
                counters.compute_output_ns += phases_ns[2]
            else:
                counters.fail_count += 1
                counters.fail_ns += total_ns
            counters.last_inference_ms = int(now * 1000)
        self._flush_if_due(now)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
            stats, self._pending_stats = self._pending_stats, {}
            self._last_flush = self._clock()
        try:
            self._flush_usage(pending)
        finally:
            self._flush_stats(stats)

    def _flush_usage(self, pending: Counter[tuple[str, str, str, str]]) -> None:
        if not pending:
            return
        merged: dict[tuple[str, str, str], list[int]] = {}
        for (tenant_id, day, model, kind), count in pending.items():
            slot = merged.setdefault((tenant_id, day, model), [0, 0])
            slot[0 if kind == "requests" else 1] += count
        for index, ((tenant_id, day, model), (requests, throttled)) in enumerate(merged.items()):
            try:
                self._store.add_usage(tenant_id, day, model, requests, throttled)
            except Exception:
                with self._lock:  # put back what was not written, to be added next time
                    for (t, d, m), (r, th) in list(merged.items())[index:]:
                        self._pending[(t, d, m, "requests")] += r
                        self._pending[(t, d, m, "throttled")] += th
                raise

    def _flush_stats(self, stats: dict[tuple[str, str, int], InferenceCounters]) -> None:
        items = list(stats.items())
        for index, ((owner, model, version), counters) in enumerate(items):
            try:
                self._store.add_inference_stats(owner, model, version, counters)
            except Exception:
                with self._lock:  # put back what was not written, added to what came in since
                    for ident, unwritten in items[index:]:
                        self._pending_stats.setdefault(ident, InferenceCounters()).add(unwritten)
                raise


class Quotas:
    """The control-plane side: set a tenant's quota (operator), read a tenant's usage."""

    def __init__(self, store: QuotaStore, tenants: Any, audit: AuditLog | None = None) -> None:
        self._store = store
        self._tenants = tenants
        self._audit = audit

    def set_tenant_quota(self, principal: Principal, tenant_id: str, quota: Quota | None) -> Quota | None:
        if not principal.is_operator:
            raise ForbiddenError("only the operator's admin key sets tenant quotas")
        if tenant_id != OPERATOR_TENANT and self._tenants.get_tenant(tenant_id) is None:
            raise NotFoundError(f"tenant '{tenant_id}' not found")
        previous = self._store.get_quota(tenant_id)
        self._store.put_quota(tenant_id, quota)
        if self._audit:
            self._audit.record(principal, tenant_id, "quota.set", target=tenant_id, before=previous, after=quota)
        return quota

    def get_tenant_quota(self, principal: Principal, tenant_id: str) -> Quota | None:
        _may_read(principal, tenant_id)
        return self._store.get_quota(tenant_id)

    def usage(self, principal: Principal, tenant_id: str) -> list[dict[str, Any]]:
        _may_read(principal, tenant_id)
        return self._store.list_usage(tenant_id)


def _may_read(principal: Principal, tenant_id: str) -> None:
    """A tenant reads its own quota and usage; the operator reads everyone's."""
    if principal.tenant_id == tenant_id:
        require(principal, Scope.READ)
    else:
        require_tenant_admin(principal, tenant_id)
