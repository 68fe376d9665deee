"""Aliases through the local runtime: canary weights, sticky request ids, ETags, rollback, lifecycle."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from maas.modelkit import export_mlp

from e2e_helpers import REGISTRY_CACHE_SECONDS, Platform, assert_error, maas_cli, register_bytes


@pytest.fixture(scope="module")
def three_versions(platform: Platform, make_tenant, tmp_path_factory) -> dict:
    tenant = make_tenant("publish,invoke,read", "read")
    key = tenant["publish,invoke,read"]
    folder = tmp_path_factory.mktemp("versions")
    for seed in (1, 2, 3):
        model = export_mlp(folder / f"v{seed}.onnx", [16, 8, 4], seed=seed).read_bytes()
        assert register_bytes(platform, key, "ranker", model)["status"] == "READY"
    return {"tenant": tenant, "key": key}


def body(request_id: str | None = None) -> dict:
    doc: dict = {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]}
    if request_id:
        doc["id"] = request_id
    return doc


def served_version(platform: Platform, key: str, ref: str | None = None, request_id: str | None = None) -> str:
    path = "/v2/models/ranker" + (f"/versions/{ref}" if ref else "") + "/infer"
    response = platform.call("POST", path, key, json_body=body(request_id))
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


def settle() -> None:
    """Alias changes reach warm inference instances once their registry cache expires."""
    time.sleep(REGISTRY_CACHE_SECONDS + 0.5)


def test_production_points_at_the_first_ready_version(platform: Platform, three_versions: dict) -> None:
    key = three_versions["key"]
    aliases = platform.call("GET", "/v1/models/ranker/aliases", key).json()["aliases"]
    assert [(a["name"], a["routes"]) for a in aliases] == [("production", [{"version": 1, "weight": 100}])]
    assert served_version(platform, key) == "1"
    assert served_version(platform, key, "production") == "1"
    assert served_version(platform, key, "3") == "3"
    # control-plane version routes take an alias too
    assert platform.call("GET", "/v1/models/ranker/versions/production", key).json()["version"] == 1


def test_canary_weights_hold_over_2000_requests(platform: Platform, three_versions: dict) -> None:
    key = three_versions["key"]
    put = platform.call(
        "PUT",
        "/v1/models/ranker/aliases/canary",
        key,
        json_body={"routes": [{"version": 1, "weight": 80}, {"version": 2, "weight": 20}]},
    )
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == '"1"'
    settle()

    def one(i: int) -> str:
        return served_version(platform, key, "canary", f"req-{i}")

    with ThreadPoolExecutor(4) as pool:
        counts = Counter(pool.map(one, range(2000)))
    assert set(counts) == {"1", "2"}
    share = counts["2"] / 2000
    assert 0.16 < share < 0.24, counts  # 20 % within 4 points (about 4.5 standard deviations)
    # a retry with the same request id lands on the same version
    for i in range(20):
        assert one(i) == one(i)


def test_metadata_and_ready_accept_an_alias(platform: Platform, three_versions: dict) -> None:
    key = three_versions["tenant"]["read"]
    assert platform.call("GET", "/v2/models/ranker/versions/production", key).json()["versions"] == ["1"]
    assert platform.call("GET", "/v2/models/ranker/versions/production/ready", key).status_code == 200
    assert_error(platform.call("GET", "/v2/models/ranker/versions/nope/ready", key), 404, "NOT_FOUND")


def test_etags_let_exactly_one_concurrent_update_win(platform: Platform, three_versions: dict) -> None:
    key = three_versions["key"]
    created = platform.call("PUT", "/v1/models/ranker/aliases/race", key, json_body={"version": 1})
    etag = created.headers["ETag"]

    def update(version: int) -> int:
        return platform.call(
            "PUT", "/v1/models/ranker/aliases/race", key, json_body={"version": version}, headers={"If-Match": etag}
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(update, [2, 3, 2, 3, 2, 3]))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(412) == 5, statuses
    final = platform.call("GET", "/v1/models/ranker/aliases/race", key)
    assert final.headers["ETag"] == '"2"'
    assert_error(
        platform.call(
            "PUT", "/v1/models/ranker/aliases/race", key, json_body={"version": 1}, headers={"If-Match": etag}
        ),
        412,
        "PRECONDITION_FAILED",
    )


def test_rollback_returns_to_the_previous_target(platform: Platform, three_versions: dict) -> None:
    key = three_versions["key"]
    platform.call("PUT", "/v1/models/ranker/aliases/stable", key, json_body={"version": 1})
    platform.call("PUT", "/v1/models/ranker/aliases/stable", key, json_body={"version": 3})
    settle()
    assert served_version(platform, key, "stable") == "3"

    rolled = platform.call("POST", "/v1/models/ranker/aliases/stable/rollback", key)

    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["routes"] == [{"version": 1, "weight": 100}]
    assert rolled.json()["history"] == []  # walking back consumes the history
    settle()
    assert served_version(platform, key, "stable") == "1"
    assert_error(platform.call("POST", "/v1/models/ranker/aliases/stable/rollback", key), 409, "CONFLICT")


def test_alias_requests_are_validated(platform: Platform, three_versions: dict) -> None:
    key = three_versions["key"]
    for bad in (
        {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 40}]},
        {"version": 1, "routes": [{"version": 1, "weight": 100}]},
        {},
        {"version": 1, "colour": "red"},
    ):
        assert_error(platform.call("PUT", "/v1/models/ranker/aliases/x", key, json_body=bad), 400, "INVALID_REQUEST")
    assert_error(
        platform.call("PUT", "/v1/models/ranker/aliases/x", key, json_body={"version": 9}), 400, "INVALID_REQUEST"
    )
    assert_error(
        platform.call("PUT", "/v1/models/ranker/aliases/Bad!", key, json_body={"version": 1}), 400, "INVALID_REQUEST"
    )
    assert_error(
        platform.call("PUT", "/v1/models/ranker/aliases/x", three_versions["tenant"]["read"], json_body={"version": 1}),
        403,
        "FORBIDDEN",
    )


def test_versions_archive_only_when_no_alias_points_at_them(
    platform: Platform, three_versions: dict, make_tenant, tmp_path: Path
) -> None:
    key = three_versions["key"]
    assert_error(platform.call("DELETE", "/v1/models/ranker/versions/1", key), 409, "CONFLICT")
    # version 2 may be in "canary" from another test; make a fresh model to own the whole story
    model = export_mlp(tmp_path / "m.onnx", [16, 4]).read_bytes()
    for _ in range(2):
        register_bytes(platform, key, "short-lived", model)
    assert platform.call("DELETE", "/v1/models/short-lived/versions/2", key).status_code == 204
    archived = platform.call("GET", "/v1/models/short-lived/versions/2", key).json()
    assert archived["status"] == "ARCHIVED"
    assert_error(
        platform.call("POST", "/v2/models/short-lived/versions/2/infer", key, json_body=body()), 404, "NOT_FOUND"
    )
    assert_error(platform.call("DELETE", "/v1/models/short-lived", key), 409, "CONFLICT")
    assert platform.call("DELETE", "/v1/models/short-lived/aliases/production", key).status_code == 204
    assert platform.call("DELETE", "/v1/models/short-lived", key).status_code == 204
    assert_error(platform.call("GET", "/v1/models/short-lived", key), 404, "NOT_FOUND")


def test_another_tenant_sees_no_aliases(platform: Platform, three_versions: dict, make_tenant) -> None:
    stranger = make_tenant("publish,invoke,read")["publish,invoke,read"]
    for method, path, payload in (
        ("GET", "/v1/models/ranker/aliases", None),
        ("GET", "/v1/models/ranker/aliases/production", None),
        ("PUT", "/v1/models/ranker/aliases/production", {"version": 1}),
        ("POST", "/v1/models/ranker/aliases/production/rollback", None),
        ("POST", "/v2/models/ranker/versions/production/infer", body()),
    ):
        response = platform.call(method, path, stranger, json_body=payload)
        assert_error(response, 404, "NOT_FOUND")
        assert three_versions["tenant"].tenant_id not in response.text


def test_cli_aliases(platform: Platform, three_versions: dict) -> None:
    env = {"MAAS_URL": platform.url, "MAAS_API_KEY": three_versions["key"]}
    set_ = maas_cli("aliases", "set", "ranker", "cli", "--route", "2:50", "--route", "3:50", env=env)
    assert set_.returncode == 0, set_.stderr
    shown = maas_cli("aliases", "show", "ranker", env=env)
    assert "v2 50%, v3 50%" in shown.stdout
    assert maas_cli("aliases", "set", "ranker", "cli", "--version", "1", env=env).returncode == 0
    rolled = maas_cli("aliases", "rollback", "ranker", "cli", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert "v2 50%, v3 50%" in rolled.stdout
    stale = maas_cli("aliases", "set", "ranker", "cli", "--version", "1", "--if-match", '"1"', env=env)
    assert stale.returncode == 1
    assert "PRECONDITION_FAILED" in stale.stderr


def test_shadow_never_alters_responses_and_reports_agreement(platform: Platform, three_versions: dict) -> None:
    key = three_versions["key"]
    put = platform.call(
        "PUT",
        "/v1/models/ranker/aliases/shadowed",
        key,
        json_body={"routes": [{"version": 1, "weight": 100}], "shadow": {"version": 3, "sample_rate": 1.0}},
    )
    assert put.status_code == 200, put.text
    settle()
    plain = platform.call("POST", "/v2/models/ranker/versions/1/infer", key, json_body=body("same")).json()

    responses = [
        platform.call("POST", "/v2/models/ranker/versions/shadowed/infer", key, json_body=body("same"))
        for _ in range(12)
    ]

    # every answer is the live version's, identical to asking version 1 directly
    for response in responses:
        assert response.status_code == 200
        assert response.json()["model_version"] == "1"
        assert response.json()["outputs"] == plain["outputs"]
    deadline = time.monotonic() + 30
    report: dict = {}
    while time.monotonic() < deadline:
        report = platform.call("GET", "/v1/models/ranker/aliases/shadowed/shadow", key).json()
        if report.get("samples", 0) >= 12:
            break
        time.sleep(0.5)
    assert report["samples"] == 12, report
    assert report["shadow_version"] == 3
    assert report["errors"] == 0
    assert 0 <= report["agreement_rate"] <= 1
    assert report["shadow_latency_ms_avg"] > 0
    assert report["primary_latency_ms_avg"] > 0
    assert_error(platform.call("GET", "/v1/models/ranker/aliases/production/shadow", key), 404, "NOT_FOUND")


def test_optimize_builds_a_quantized_version_to_canary(platform: Platform, make_tenant, tmp_path: Path) -> None:
    key = make_tenant("publish,invoke,read")["publish,invoke,read"]
    model = export_mlp(tmp_path / "wide.onnx", [16, 256, 256, 4], seed=4).read_bytes()
    assert register_bytes(platform, key, "wide", model)["status"] == "READY"

    queued = platform.call("POST", "/v1/models/wide/versions/1/optimize", key, json_body={"method": "dynamic_int8"})

    assert queued.status_code == 202, queued.text
    assert queued.json()["version"] == 2
    assert queued.json()["derived_from"] == 1
    deadline = time.monotonic() + 60
    version: dict = {}
    while time.monotonic() < deadline:
        version = platform.call("GET", "/v1/models/wide/versions/2", key).json()
        if version["status"] != "PENDING_UPLOAD":
            break
        time.sleep(0.3)
    assert version["status"] == "READY", version
    report = version["optimization"]
    assert report["method"] == "dynamic_int8"
    assert report["size_bytes"] < report["source_size_bytes"] * 0.5
    assert report["agreement_rate"] >= 0.8
    assert report["latency_ms_p50"] > 0
    assert version["signature"]["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}]
    # and it can take a canary share behind an alias
    put = platform.call(
        "PUT",
        "/v1/models/wide/aliases/production",
        key,
        json_body={"routes": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]},
    )
    assert put.status_code == 200, put.text
    assert served_version_of(platform, key, "wide", "2") == "2"
    assert_error(
        platform.call("POST", "/v1/models/wide/versions/1/optimize", key, json_body={"method": "fp4"}),
        400,
        "INVALID_REQUEST",
    )
    assert_error(platform.call("POST", "/v1/models/wide/versions/9/optimize", key, json_body={}), 404, "NOT_FOUND")


def served_version_of(platform: Platform, key: str, model: str, ref: str) -> str:
    response = platform.call("POST", f"/v2/models/{model}/versions/{ref}/infer", key, json_body=body())
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])
