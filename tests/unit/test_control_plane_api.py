"""The control-plane API through the real Powertools resolver, in process, on fakes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from maas.aliases import Aliases
from maas.api.auth import principal_context
from maas.api.control_plane import ControlPlane, create_app
from maas.domain import OPERATOR_TENANT, Scope
from maas.registry import Registry
from maas.tenants import Tenants

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import FakeLambdaContext, http_event, principal

ACME_PUBLISH = principal_context(principal("acme", Scope.PUBLISH))
ACME_READ = principal_context(principal("acme", Scope.READ))
ACME_ADMIN = principal_context(principal("acme", Scope.ADMIN))
GLOBEX_ADMIN = principal_context(principal("globex", Scope.ADMIN))
OPERATOR = principal_context(principal(OPERATOR_TENANT, Scope.ADMIN))


@pytest.fixture
def app(store: InMemoryRegistryStore, blobs: InMemoryBlobStore) -> APIGatewayHttpResolver:
    return create_app(
        ControlPlane(
            tenants=Tenants(store),
            registry=Registry(store, blobs, artifacts_bucket="b", aliases=store),
            aliases=Aliases(store, store),
        )
    )


class Client:
    def __init__(self, app: APIGatewayHttpResolver) -> None:
        self.app = app

    def __call__(
        self, method: str, path: str, auth: dict[str, str] | None, body: Any = None, *, raw: str | None = None
    ) -> tuple[int, Any]:
        text = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.app.resolve(http_event(method, path, body=text, authorizer=auth), FakeLambdaContext())
        payload = response.get("body")
        return response["statusCode"], json.loads(payload) if payload else None


@pytest.fixture
def call(app: APIGatewayHttpResolver) -> Client:
    return Client(app)


@pytest.fixture
def model(call: Client) -> str:
    status, _ = call("POST", "/v1/models", ACME_PUBLISH, {"name": "resnet", "framework": "onnx"})
    assert status == 201
    return "resnet"


def assert_error(status: int, body: Any, expected_status: int, code: str) -> str:
    assert status == expected_status
    assert set(body) == {"error", "code"}
    assert body["code"] == code
    assert body["error"]
    return str(body["error"])


# --- authentication and scopes --------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [None, {}, {"auth_error": "invalid or revoked API key"}])
def test_no_principal_is_401(call: Client, auth: dict[str, str] | None) -> None:
    status, body = call("GET", "/v1/models", auth)

    assert_error(status, body, 401, "UNAUTHENTICATED")


def test_the_authorizers_reason_reaches_the_client(call: Client) -> None:
    status, body = call(
        "POST", "/v1/models", {"auth_error": "invalid or revoked API key"}, {"name": "m", "framework": "onnx"}
    )

    assert assert_error(status, body, 401, "UNAUTHENTICATED") == "invalid or revoked API key"


def test_no_principal_is_401_even_with_a_malformed_body(call: Client) -> None:
    status, body = call("POST", "/v1/models", None, raw="{not json")

    assert_error(status, body, 401, "UNAUTHENTICATED")


def test_a_missing_scope_is_403(call: Client, store: InMemoryRegistryStore) -> None:
    status, body = call("POST", "/v1/models", ACME_READ, {"name": "m", "framework": "onnx"})

    assert_error(status, body, 403, "FORBIDDEN")
    assert store.list_models("acme") == []


def test_only_the_operator_creates_tenants(call: Client) -> None:
    status, body = call("POST", "/v1/tenants", ACME_ADMIN, {"tenant_id": "initech", "name": "Initech"})
    assert_error(status, body, 403, "FORBIDDEN")

    status, body = call("POST", "/v1/tenants", OPERATOR, {"tenant_id": "initech", "name": "Initech"})
    assert status == 201
    assert body["tenant_id"] == "initech"


# --- request bodies -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2", '{"name": "m",}'])
def test_a_malformed_body_is_400(call: Client, raw: str) -> None:
    status, body = call("POST", "/v1/models", ACME_PUBLISH, raw=raw)

    assert_error(status, body, 400, "INVALID_REQUEST")


def test_malformed_json_is_named_as_such(call: Client) -> None:
    status, body = call("POST", "/v1/models", ACME_PUBLISH, raw="{not json")

    assert assert_error(status, body, 400, "INVALID_REQUEST") == "the request body is not valid JSON"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/models"), ("PATCH", "/v1/models/resnet"), ("PUT", "/v1/models/resnet/aliases/production")],
)
def test_a_body_that_is_not_utf8_is_400(app: APIGatewayHttpResolver, model: str, method: str, path: str) -> None:
    # Given bytes that are not UTF-8, which API Gateway hands over base64-encoded whatever the Content-Type says
    event = http_event(
        method,
        path,
        body=base64.b64encode(b"\x0b\xff").decode(),
        authorizer=ACME_PUBLISH,
    )
    event["isBase64Encoded"] = True

    # When the route reads its body
    response = app.resolve(event, FakeLambdaContext())

    # Then it is the client's error, saying so
    message = assert_error(response["statusCode"], json.loads(response["body"]), 400, "INVALID_REQUEST")
    assert "not UTF-8" in message


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", None])
def test_a_json_body_is_read_as_json_whatever_its_content_type(
    app: APIGatewayHttpResolver, content_type: str | None
) -> None:
    # curl -d sends JSON as a form; other clients say text/plain, or nothing at all
    document = json.dumps({"name": "m", "framework": "onnx"})
    headers = {"content-type": content_type} if content_type else {}
    event = http_event("POST", "/v1/models", body=document, authorizer=ACME_PUBLISH, headers=headers)

    response = app.resolve(event, FakeLambdaContext())

    assert response["statusCode"] == 201, response["body"]
    assert json.loads(response["body"])["name"] == "m"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/x-www-form-urlencoded", "name=m&framework=onnx"), ("application/xml", "<model name='m'/>")],
)
def test_a_body_that_is_not_json_is_400_whatever_its_content_type(
    app: APIGatewayHttpResolver, content_type: str, body: str
) -> None:
    event = http_event("POST", "/v1/models", body=body, authorizer=ACME_PUBLISH, headers={"content-type": content_type})

    response = app.resolve(event, FakeLambdaContext())

    message = assert_error(response["statusCode"], json.loads(response["body"]), 400, "INVALID_REQUEST")
    assert message == "the request body is not valid JSON"


def test_a_base64_body_that_is_utf8_json_still_works(app: APIGatewayHttpResolver) -> None:
    document = json.dumps({"name": "m", "framework": "onnx"}).encode()
    event = http_event("POST", "/v1/models", body=base64.b64encode(document).decode(), authorizer=ACME_PUBLISH)
    event["isBase64Encoded"] = True

    assert app.resolve(event, FakeLambdaContext())["statusCode"] == 201


def test_an_unknown_field_is_400_naming_the_field(call: Client, store: InMemoryRegistryStore) -> None:
    status, body = call("POST", "/v1/models", ACME_PUBLISH, {"name": "m", "framework": "onnx", "colour": "red"})

    assert "colour" in assert_error(status, body, 400, "INVALID_REQUEST")
    assert store.list_models("acme") == []


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"name": "Bad Name", "framework": "onnx"}, "name"),
        ({"name": "m", "framework": "pickle"}, "framework"),
        ({"framework": "onnx"}, "name"),
    ],
)
def test_an_invalid_model_is_400_naming_the_field(call: Client, body: dict[str, str], mentions: str) -> None:
    status, response = call("POST", "/v1/models", ACME_PUBLISH, body)

    assert mentions in assert_error(status, response, 400, "INVALID_REQUEST")


# --- models ---------------------------------------------------------------------------------------------------
def test_a_created_model_is_201_and_can_be_read(call: Client) -> None:
    status, created = call("POST", "/v1/models", ACME_PUBLISH, {"name": "m", "framework": "onnx", "description": "d"})

    assert status == 201
    assert created["name"] == "m"
    assert created["framework"] == "onnx"
    assert created["description"] == "d"
    assert call("GET", "/v1/models/m", ACME_READ) == (200, created)
    assert call("GET", "/v1/models", ACME_READ) == (200, {"models": [created], "next_token": None})


def test_a_duplicate_model_is_409(call: Client, model: str) -> None:
    status, body = call("POST", "/v1/models", ACME_PUBLISH, {"name": model, "framework": "onnx"})

    assert_error(status, body, 409, "CONFLICT")


def test_another_tenants_model_is_404(call: Client, model: str) -> None:
    for method, path in [
        ("GET", f"/v1/models/{model}"),
        ("GET", f"/v1/models/{model}/versions"),
        ("POST", f"/v1/models/{model}/versions"),
        ("GET", f"/v1/models/{model}/versions/1"),
    ]:
        status, body = call(method, path, GLOBEX_ADMIN)
        assert_error(status, body, 404, "NOT_FOUND")
    assert call("GET", "/v1/models", GLOBEX_ADMIN) == (200, {"models": [], "next_token": None})


# --- versions -------------------------------------------------------------------------------------------------
def test_registering_a_version_is_201_with_an_upload(call: Client, blobs: InMemoryBlobStore, model: str) -> None:
    status, body = call("POST", f"/v1/models/{model}/versions", ACME_PUBLISH, {"sha256": "AB" * 32})

    assert status == 201
    assert body["version"] == 1
    assert body["status"] == "PENDING_UPLOAD"
    (presign,) = blobs.presigned
    assert presign.key == f"models/acme/{model}/1/model.onnx"
    assert body["upload"] == {
        "url": f"https://b.s3.fake.test/{presign.key}?X-Expires=900",
        "method": "PUT",
        "headers": {"Content-Type": "application/octet-stream"},
        "expires_in": 900,
    }


@pytest.mark.parametrize("raw", [None, "{}"], ids=["no-body", "empty-object"])
def test_registering_a_version_needs_no_body(
    call: Client, store: InMemoryRegistryStore, model: str, raw: str | None
) -> None:
    status, body = call("POST", f"/v1/models/{model}/versions", ACME_PUBLISH, raw=raw)

    assert status == 201
    assert body["version"] == 1
    assert store.get_version("acme", model, 1).declared_sha256 is None  # type: ignore[union-attr]


@pytest.mark.parametrize("sha256", ["zz" * 32, "ab" * 31, "ab" * 33, ""])
def test_an_invalid_sha256_is_400(call: Client, store: InMemoryRegistryStore, model: str, sha256: str) -> None:
    status, body = call("POST", f"/v1/models/{model}/versions", ACME_PUBLISH, {"sha256": sha256})

    assert "sha256" in assert_error(status, body, 400, "INVALID_REQUEST")
    assert store.list_versions("acme", model) == []


def test_versions_are_listed_and_shown(call: Client, model: str) -> None:
    for _ in range(2):
        call("POST", f"/v1/models/{model}/versions", ACME_PUBLISH)

    status, listed = call("GET", f"/v1/models/{model}/versions", ACME_READ)
    assert status == 200
    assert [(v["version"], v["status"]) for v in listed["versions"]] == [(1, "PENDING_UPLOAD"), (2, "PENDING_UPLOAD")]

    status, shown = call("GET", f"/v1/models/{model}/versions/2", ACME_READ)
    assert status == 200
    assert shown == listed["versions"][1]


@pytest.mark.parametrize(
    ("version", "status"), [("Abc!", 400), ("0", 400), ("-1", 400), ("7", 404), ("no-such-alias", 404)]
)
def test_a_bad_or_unknown_version_number(call: Client, model: str, version: str, status: int) -> None:
    got, body = call("GET", f"/v1/models/{model}/versions/{version}", ACME_READ)

    assert_error(got, body, status, "INVALID_REQUEST" if status == 400 else "NOT_FOUND")


# --- keys -----------------------------------------------------------------------------------------------------
def test_a_created_key_is_shown_once_and_then_listed_without_it(call: Client) -> None:
    status, created = call("POST", "/v1/tenants/acme/keys", ACME_ADMIN, {"scopes": ["read", "publish"]})

    assert status == 201
    assert created["api_key"].startswith("mk_acme_")
    assert created["scopes"] == ["publish", "read"]
    status, listed = call("GET", "/v1/tenants/acme/keys", ACME_ADMIN)
    assert status == 200
    assert [k["key_id"] for k in listed["keys"]] == [created["key_id"]]
    assert "api_key" not in listed["keys"][0]


def test_keys_of_another_tenant_are_404(call: Client) -> None:
    status, body = call("POST", "/v1/tenants/globex/keys", ACME_ADMIN, {"scopes": ["read"]})

    assert_error(status, body, 404, "NOT_FOUND")


def test_an_empty_scope_list_is_400(call: Client) -> None:
    status, body = call("POST", "/v1/tenants/acme/keys", ACME_ADMIN, {"scopes": []})

    assert_error(status, body, 400, "INVALID_REQUEST")


def test_revoking_a_key_is_204_and_unknown_keys_are_404(call: Client) -> None:
    _, created = call("POST", "/v1/tenants/acme/keys", ACME_ADMIN, {"scopes": ["read"]})

    status, body = call("DELETE", f"/v1/tenants/acme/keys/{created['key_id']}", ACME_ADMIN)
    assert status == 204
    assert body is None
    _, listed = call("GET", "/v1/tenants/acme/keys", ACME_ADMIN)
    assert listed["keys"][0]["revoked_at"] is not None

    status, body = call("DELETE", "/v1/tenants/acme/keys/0123456789abcdef", ACME_ADMIN)
    assert_error(status, body, 404, "NOT_FOUND")


# --- routing --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/nothing"), ("PUT", "/v1/models"), ("GET", "/v2/models"), ("GET", "/")]
)
def test_an_unknown_route_is_404_in_the_error_shape(call: Client, method: str, path: str) -> None:
    status, body = call(method, path, ACME_ADMIN)

    assert path in assert_error(status, body, 404, "NOT_FOUND")


def test_an_unexpected_error_is_500_without_details(store: InMemoryRegistryStore, model: str) -> None:
    class _BrokenBlobStore(InMemoryBlobStore):
        def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str:
            raise ConnectionError("secret-internal-host:443 unreachable")

    app = create_app(
        ControlPlane(
            tenants=Tenants(store),
            registry=Registry(store, _BrokenBlobStore(), artifacts_bucket="b"),
            aliases=Aliases(store, store),
        )
    )

    status, body = Client(app)("POST", f"/v1/models/{model}/versions", ACME_PUBLISH)

    assert "secret-internal-host" not in assert_error(status, body, 500, "INTERNAL")
