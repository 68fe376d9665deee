"""Quotas through the local runtime: 429 with Retry-After under a burst, recovery after, usage per day."""

from __future__ import annotations

import time
from pathlib import Path

from e2e_helpers import REGISTRY_CACHE_SECONDS, Platform, assert_error, register_bytes

BODY = {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]}


def burst(platform: Platform, key: str, model: str, count: int) -> list:
    return [platform.call("POST", f"/v2/models/{model}/infer", key, json_body=BODY) for _ in range(count)]


def wait_for_usage(platform: Platform, tenant_id: str, key: str, model: str, requests: int, throttled: int = 0) -> dict:
    """Each instance adds its own counts to the table every second on the local runtime: wait for all of them."""
    deadline = time.monotonic() + 10
    while True:
        usage = platform.call("GET", f"/v1/tenants/{tenant_id}/usage", key).json()["usage"]
        rows = [u for u in usage if u["model"] == model]
        done = rows and rows[0]["requests"] >= requests and rows[0]["throttled"] >= throttled
        if done or time.monotonic() > deadline:
            assert len(rows) == 1, usage
            return rows[0]
        time.sleep(0.25)


def test_tenant_quota_throttles_a_burst_and_recovers(platform: Platform, make_tenant, models_dir: Path) -> None:
    tenant = make_tenant("publish,invoke,read", "admin")
    key = tenant["publish,invoke,read"]
    register_bytes(platform, key, "limited", (models_dir / "tiny.onnx").read_bytes())
    # only the operator sets quotas
    assert_error(
        platform.call(
            "PUT", f"/v1/tenants/{tenant.tenant_id}/quota", tenant["admin"], json_body={"requests_per_second": 100}
        ),
        403,
        "FORBIDDEN",
    )
    quota = platform.call(
        "PUT",
        f"/v1/tenants/{tenant.tenant_id}/quota",
        platform.admin_key,
        json_body={"requests_per_second": 1, "burst": 4},
    )
    assert quota.status_code == 200, quota.text
    assert platform.call("GET", f"/v1/tenants/{tenant.tenant_id}/quota", key).json()["quota"]["burst"] == 4

    responses = burst(platform, key, "limited", 16)

    statuses = [r.status_code for r in responses]
    assert statuses[:4] == [200] * 4, statuses  # the burst
    assert statuses.count(429) >= 6, statuses  # even if the 16 requests took 6 s, at most 10 get through
    throttled = next(r for r in responses if r.status_code == 429)
    assert_error(throttled, 429, "TOO_MANY_REQUESTS")
    assert int(throttled.headers["Retry-After"]) >= 1
    time.sleep(4.2)  # the bucket refills at 1 per second
    assert [r.status_code for r in burst(platform, key, "limited", 3)] == [200, 200, 200]

    row = wait_for_usage(platform, tenant.tenant_id, key, "limited", statuses.count(200) + 3, statuses.count(429))
    assert row["requests"] == statuses.count(200) + 3
    assert row["throttled"] == statuses.count(429)
    assert row["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    # removing the quota lifts the limit, once the inference instances' registry cache expires
    platform.call(
        "PUT", f"/v1/tenants/{tenant.tenant_id}/quota", platform.admin_key, json_body={"requests_per_second": None}
    )
    time.sleep(REGISTRY_CACHE_SECONDS + 0.5)
    assert all(r.status_code == 200 for r in burst(platform, key, "limited", 8))


def test_grant_quota_limits_the_grantee_only(platform: Platform, make_tenant, models_dir: Path) -> None:
    owner, partner = make_tenant("publish,invoke,read"), make_tenant("invoke,read")
    own, theirs = owner["publish,invoke,read"], partner["invoke,read"]
    register_bytes(platform, own, "metered", (models_dir / "tiny.onnx").read_bytes())
    platform.call(
        "PUT",
        f"/v1/models/metered/grants/{partner.tenant_id}",
        own,
        json_body={"actions": ["infer"], "quota": {"requests_per_second": 1, "burst": 2}},
    )

    partner_statuses = [r.status_code for r in burst(platform, theirs, f"{owner.tenant_id}.metered", 10)]
    owner_statuses = [r.status_code for r in burst(platform, own, "metered", 6)]

    assert partner_statuses[:2] == [200, 200]
    assert partner_statuses.count(429) >= 4, partner_statuses
    assert owner_statuses == [200] * 6
    # usage is the caller's: the partner's own usage names the shared model as it called it
    row = wait_for_usage(
        platform, partner.tenant_id, theirs, f"{owner.tenant_id}.metered", 2, partner_statuses.count(429)
    )
    assert row["throttled"] == partner_statuses.count(429)
    # and nobody else reads it
    assert_error(platform.call("GET", f"/v1/tenants/{partner.tenant_id}/usage", own), 404, "NOT_FOUND")
