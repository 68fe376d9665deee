"""Bodies no route can use: bytes that are not UTF-8, and tensor shapes numpy cannot hold. Each is the client's
error (400 with ``{"error", "code"}``) on every route that reads a body, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e_helpers import ROOT, Platform, TenantKeys, assert_error, register_bytes

NOT_UTF8 = b"\x0b\xff"
# The one POST route that takes no body: it answers as it would without one
NO_BODY = {("POST", "/v1/models/{name}/aliases/{alias}/rollback")}


def body_routes() -> list[tuple[str, str]]:
    """Every POST, PUT and PATCH route that template.yaml declares, whatever function serves it."""
    from samtranslator.yaml_helper import yaml_parse

    routes = set()
    for resource in yaml_parse((ROOT / "template.yaml").read_text())["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            method = event["Properties"].get("Method", "").upper() if event["Type"] == "HttpApi" else ""
            if method in ("POST", "PUT", "PATCH"):
                routes.add((method, event["Properties"]["Path"]))
    return sorted(routes)


@pytest.fixture(scope="module")
def tenant(platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path) -> TenantKeys:
    tenant = make_tenant("publish,invoke,read")
    tiny = (models_dir / "tiny.onnx").read_bytes()
    assert register_bytes(platform, tenant["publish,invoke,read"], "tiny", tiny)["status"] == "READY"
    return tenant


def concrete(path: str, tenant: TenantKeys) -> str:
    values = {"name": "tiny", "version": "1", "alias": "production", "tenant_id": tenant.tenant_id}
    return path.format(**values)


def test_the_template_declares_the_routes_this_file_sends_to() -> None:
    routes = body_routes()
    assert ("POST", "/v1/models") in routes
    assert ("PATCH", "/v1/models/{name}") in routes
    assert ("PUT", "/v1/models/{name}/aliases/{alias}") in routes
    assert ("POST", "/v2/models/{name}/infer") in routes
    assert ("POST", "/v1/models/{name}/jobs") in routes
    assert ("POST", "/v1/event-sources") in routes
    assert set(routes) >= NO_BODY


@pytest.mark.parametrize(("method", "path"), body_routes(), ids=[f"{m} {p}" for m, p in body_routes()])
def test_a_body_that_is_not_utf8_is_400_on_every_route(
    platform: Platform, tenant: TenantKeys, method: str, path: str
) -> None:
    # Given bytes that are not UTF-8, sent as JSON (the gateway hands them over base64-encoded, as API Gateway does)
    response = platform.call(
        method,
        concrete(path, tenant),
        tenant["publish,invoke,read"],
        data=NOT_UTF8,
        headers={"Content-Type": "application/json"},
    )
    # Then the route says what is wrong with the body; the one route without a body is not disturbed by it
    if (method, path) in NO_BODY:
        assert response.status_code < 500, response.text
        assert set(response.json()) == {"error", "code"}
    else:
        assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(("method", "path"), body_routes(), ids=[f"{m} {p}" for m, p in body_routes()])
def test_a_body_that_is_not_json_is_400_on_every_route_whatever_its_content_type(
    platform: Platform, tenant: TenantKeys, method: str, path: str, content_type: str
) -> None:
    response = platform.call(
        method,
        concrete(path, tenant),
        tenant["publish,invoke,read"],
        data=b"requests_per_second=5",
        headers={"Content-Type": content_type},
    )
    if (method, path) in NO_BODY:
        assert response.status_code < 500, response.text
        assert set(response.json()) == {"error", "code"}
    else:
        assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize("path", ["/v2/models/tiny/infer", "/v1/models/tiny/jobs"])
def test_a_binary_header_that_is_not_utf8_is_400(platform: Platform, tenant: TenantKeys, path: str) -> None:
    response = platform.call(
        "POST",
        path,
        tenant["publish,invoke,read"],
        data=NOT_UTF8 + b"\x00" * 64,
        headers={"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": "2"},
    )
    assert_error(response, 400, "INVALID_REQUEST")


# --- shapes numpy cannot hold ------------------------------------------------------------------------------------
SHAPES = {"70-dimensions": ([1] * 70, "70 dimensions; at most 64"), "overflow": ([2**63 - 1, 0], "too large")}


def _json_body(shape: list[int]) -> dict[str, Any]:
    data = [0.0] if 0 not in shape else []
    return {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]}


def _binary_body(shape: list[int]) -> tuple[bytes, int]:
    size = 0 if 0 in shape else 4
    tensor = {"name": "input", "shape": shape, "datatype": "FP32", "parameters": {"binary_data_size": size}}
    header = json.dumps({"inputs": [tensor]}).encode()
    return header + b"\x00" * size, len(header)


SUBMISSIONS = {
    "infer": ("/v2/models/tiny/infer", {}),
    "infer-async": ("/v2/models/tiny/infer", {"Prefer": "respond-async"}),
    "job": ("/v1/models/tiny/jobs", {}),
    "version-job": ("/v1/models/tiny/versions/production/jobs", {}),
}


@pytest.mark.parametrize("shape_case", SHAPES)
@pytest.mark.parametrize("submission", SUBMISSIONS)
@pytest.mark.parametrize("encoding", ["json", "binary"])
def test_a_shape_numpy_cannot_hold_is_400_naming_the_input(
    platform: Platform, tenant: TenantKeys, shape_case: str, submission: str, encoding: str
) -> None:
    shape, message = SHAPES[shape_case]
    path, headers = SUBMISSIONS[submission]
    if encoding == "json":
        response = platform.call(
            "POST", path, tenant["publish,invoke,read"], json_body=_json_body(shape), headers=headers
        )
    else:
        data, length = _binary_body(shape)
        binary_headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(length)}
        response = platform.call(
            "POST", path, tenant["publish,invoke,read"], data=data, headers=headers | binary_headers
        )
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert "input 'input': shape" in error["error"]
    assert message in error["error"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_is_read_as_json_whatever_its_content_type(
    platform: Platform, make_tenant, content_type: str | None
) -> None:
    # Given a body sent the way curl -d sends it (a form), as text, or with no Content-Type at all
    key = make_tenant("publish,invoke,read")["publish,invoke,read"]
    headers = {"Content-Type": content_type} if content_type else {}
    name = f"typed-{(content_type or 'none').split('/')[-1][:8]}"

    response = platform.call(
        "POST", "/v1/models", key, data=json.dumps({"name": name, "framework": "onnx"}).encode(), headers=headers
    )

    # Then it is read as the JSON it is
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
