"""Authentication, scopes and tenant isolation of keys, through the gateway and the authorizer."""

from __future__ import annotations

import json
import time

from e2e_helpers import Platform, assert_error


def test_no_key_is_401(platform: Platform) -> None:
    assert_error(platform.call("GET", "/v1/models"), 401, "UNAUTHENTICATED")


def test_unknown_malformed_and_forged_keys_are_401(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("read")
    real = tenant["read"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for key in ("nonsense", "mk_admin_0000000000000000_" + "x" * 43, forged, ""):
        assert_error(
            platform.call("GET", "/v1/models", headers={"Authorization": f"Bearer {key}"}), 401, "UNAUTHENTICATED"
        )


def test_bearer_and_x_api_key_both_work(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("read")
    assert platform.call("GET", "/v1/models", tenant["read"]).status_code == 200
    assert platform.call("GET", "/v1/models", headers={"x-api-key": tenant["read"]}).status_code == 200


def test_revoked_key_is_401_within_the_authorizer_cache_time(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("admin", "read")
    listed = platform.call("GET", f"/v1/tenants/{tenant.tenant_id}/keys", tenant["admin"]).json()["keys"]
    read_key_id = next(k["key_id"] for k in listed if k["scopes"] == ["read"])
    assert platform.call("GET", "/v1/models", tenant["read"]).status_code == 200

    revoked = platform.call("DELETE", f"/v1/tenants/{tenant.tenant_id}/keys/{read_key_id}", tenant["admin"])

    assert revoked.status_code == 204
    # the authorizer remembers accepted keys for AuthCacheSeconds (5 s by default)
    deadline = time.monotonic() + 5 + 3
    while platform.call("GET", "/v1/models", tenant["read"]).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert_error(platform.call("GET", "/v1/models", tenant["read"]), 401, "UNAUTHENTICATED")
    assert_error(
        platform.call("DELETE", f"/v1/tenants/{tenant.tenant_id}/keys/0000000000000000", tenant["admin"]),
        404,
        "NOT_FOUND",
    )


def test_missing_scope_is_403(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("read", "invoke")
    body = {"name": "nope", "framework": "onnx"}
    assert_error(platform.call("POST", "/v1/models", tenant["read"], json_body=body), 403, "FORBIDDEN")
    assert_error(platform.call("POST", "/v1/models", tenant["invoke"], json_body=body), 403, "FORBIDDEN")
    # key management needs admin
    assert_error(
        platform.call("POST", f"/v1/tenants/{tenant.tenant_id}/keys", tenant["read"], json_body={"scopes": ["read"]}),
        403,
        "FORBIDDEN",
    )


def test_only_the_operator_creates_tenants(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("admin")
    assert_error(
        platform.call("POST", "/v1/tenants", tenant["admin"], json_body={"tenant_id": "sneaky", "name": "x"}),
        403,
        "FORBIDDEN",
    )
    assert_error(
        platform.call("POST", "/v1/tenants", platform.admin_key, json_body={"tenant_id": "admin", "name": "x"}),
        409,
        "CONFLICT",
    )
    assert_error(
        platform.call(
            "POST", "/v1/tenants", platform.admin_key, json_body={"tenant_id": tenant.tenant_id, "name": "x"}
        ),
        409,
        "CONFLICT",
    )
    assert_error(
        platform.call("POST", "/v1/tenants", platform.admin_key, json_body={"tenant_id": "Bad Id!", "name": "x"}),
        400,
        "INVALID_REQUEST",
    )


def test_only_the_operator_lists_tenants(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("admin")
    # the operator pages through every tenant, two at a time, and finds the new one with its name
    listed, token = [], None
    while True:
        query = "?limit=2" + (f"&next_token={token}" if token else "")
        page = platform.call("GET", f"/v1/tenants{query}", platform.admin_key)
        assert page.status_code == 200, page.text
        listed += page.json()["tenants"]
        token = page.json()["next_token"]
        if token is None:
            break
    mine = [t for t in listed if t["tenant_id"] == tenant.tenant_id]
    assert [(t["name"], bool(t["created_at"])) for t in mine] == [(tenant.tenant_id, True)]
    assert "admin" in {t["tenant_id"] for t in listed}  # the operator's own tenant is a tenant too
    # a tenant's admin key may not, nor may a token that is not this listing's
    assert_error(platform.call("GET", "/v1/tenants", tenant["admin"]), 403, "FORBIDDEN")
    assert_error(platform.call("GET", "/v1/tenants?next_token=garbage", platform.admin_key), 400, "INVALID_REQUEST")


def test_a_tenant_admin_cannot_touch_another_tenants_keys(platform: Platform, make_tenant) -> None:
    alice, bob = make_tenant("admin"), make_tenant("admin")
    for method, path, body in (
        ("POST", f"/v1/tenants/{bob.tenant_id}/keys", {"scopes": ["read"]}),
        ("GET", f"/v1/tenants/{bob.tenant_id}/keys", None),
        ("DELETE", f"/v1/tenants/{bob.tenant_id}/keys/0123456789abcdef", None),
    ):
        assert_error(platform.call(method, path, alice["admin"], json_body=body), 404, "NOT_FOUND")
    # the operator can
    assert platform.call("GET", f"/v1/tenants/{bob.tenant_id}/keys", platform.admin_key).status_code == 200


def test_keys_are_shown_once_and_stored_only_as_hashes(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("admin")
    created = platform.call(
        "POST", f"/v1/tenants/{tenant.tenant_id}/keys", tenant["admin"], json_body={"scopes": ["read"]}
    ).json()
    api_key = created["api_key"]
    listed = platform.call("GET", f"/v1/tenants/{tenant.tenant_id}/keys", tenant["admin"]).text
    assert api_key not in listed
    assert "api_key" not in listed
    assert "hash" not in listed

    table = platform.env["MAAS_RESOURCE_RegistryTable"]
    items = platform.aws("dynamodb").scan(TableName=table)["Items"]
    dump = json.dumps(items)
    assert api_key not in dump
    assert api_key.rsplit("_", 1)[1] not in dump  # not even the secret part
    assert any(item.get("key_id", {}).get("S") == created["key_id"] for item in items)


def test_malformed_requests_are_400(platform: Platform, make_tenant) -> None:
    tenant = make_tenant("admin")
    key = tenant["admin"]
    path = f"/v1/tenants/{tenant.tenant_id}/keys"
    assert_error(
        platform.call("POST", path, key, data="{not json", headers={"content-type": "application/json"}),
        400,
        "INVALID_REQUEST",
    )
    body = assert_error(
        platform.call("POST", path, key, json_body={"scopes": ["read"], "colour": "red"}), 400, "INVALID_REQUEST"
    )
    assert "colour" in body["error"]
    assert_error(platform.call("POST", path, key, json_body={"scopes": ["superuser"]}), 400, "INVALID_REQUEST")
    assert_error(platform.call("POST", path, key, json_body={"scopes": []}), 400, "INVALID_REQUEST")


def test_unknown_route_is_404_json(platform: Platform) -> None:
    assert_error(platform.call("GET", "/v1/nothing-here", platform.admin_key), 404, "NOT_FOUND")
