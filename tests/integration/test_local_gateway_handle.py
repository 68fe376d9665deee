"""Gateway.handle: one request through route matching, the authorizer and the function, with fake invokers.

The gateway binds its server socket when it is built, so these live here rather than in the socket-free unit
suite; no request goes over the network.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from maas.local.functions import InvocationError
from maas.local.gateway import Gateway
from maas.local.provision import RouteSpec

ROUTES = [
    RouteSpec("POST", "/v1/models", "ControlPlane", "Authorizer"),
    RouteSpec("GET", "/v1/models/{name}/versions/{version}", "ControlPlane", "Authorizer"),
    RouteSpec("GET", "/v2/health/live", "Inference", None),
]


class FakeFunctions:
    """Stands in for the function pools: records every invocation and answers per function."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.decision: dict[str, Any] = {"isAuthorized": True, "context": {"tenant_id": "acme", "scopes": "read"}}
        self.result: Any = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        self.error: InvocationError | None = None

    def __call__(self, function: str, event: dict[str, Any]) -> Any:
        self.calls.append((function, json.loads(json.dumps(event))))
        if function == "Authorizer":
            return self.decision
        if self.error:
            raise self.error
        return self.result

    def event_of(self, function: str) -> dict[str, Any]:
        return next(event for name, event in self.calls if name == function)


@pytest.fixture
def functions() -> FakeFunctions:
    return FakeFunctions()


@pytest.fixture
def gateway(functions: FakeFunctions) -> Iterator[Gateway]:
    gateway = Gateway(ROUTES, functions, host="127.0.0.1", port=0)
    yield gateway
    gateway.server.server_close()


def test_a_request_goes_through_the_authorizer_to_the_function(gateway: Gateway, functions: FakeFunctions) -> None:
    functions.result = {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"name":"m"}'}

    status, headers, body = gateway.handle(
        "POST",
        "/v1/models?dry=1&tag=a&tag=b",
        {"authorization": "Bearer k", "content-type": "application/json", "host": "localhost:3000"},
        b'{"name": "m"}',
        "10.0.0.1",
    )

    assert (status, headers, body) == (201, {"content-type": "application/json"}, b'{"name":"m"}')
    assert [name for name, _ in functions.calls] == ["Authorizer", "ControlPlane"]
    authorizer_event = functions.event_of("Authorizer")
    assert authorizer_event["type"] == "REQUEST"
    assert authorizer_event["headers"]["authorization"] == "Bearer k"
    event = functions.event_of("ControlPlane")
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/models"
    assert event["rawPath"] == "/v1/models"
    assert event["body"] == '{"name": "m"}'
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"dry": "1", "tag": "a,b"}
    assert event["requestContext"]["http"]["sourceIp"] == "10.0.0.1"
    assert event["requestContext"]["authorizer"] == {"lambda": {"tenant_id": "acme", "scopes": "read"}}


def test_path_parameters_reach_the_function_unquoted(gateway: Gateway, functions: FakeFunctions) -> None:
    gateway.handle("GET", "/v1/models/my%20model/versions/3", {}, b"", "127.0.0.1")

    assert functions.event_of("ControlPlane")["pathParameters"] == {"name": "my model", "version": "3"}


def test_a_route_without_an_authorizer_skips_it(gateway: Gateway, functions: FakeFunctions) -> None:
    status, _, _ = gateway.handle("GET", "/v2/health/live", {}, b"", "127.0.0.1")

    assert status == 200
    assert [name for name, _ in functions.calls] == ["Inference"]
    assert "authorizer" not in functions.event_of("Inference")["requestContext"]


def test_a_binary_body_is_base64_encoded(gateway: Gateway, functions: FakeFunctions) -> None:
    raw = bytes(range(256))

    gateway.handle("POST", "/v1/models", {"content-type": "application/octet-stream"}, raw, "127.0.0.1")

    event = functions.event_of("ControlPlane")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_an_unknown_route_is_404_and_invokes_nothing(gateway: Gateway, functions: FakeFunctions) -> None:
    status, headers, body = gateway.handle("GET", "/v1/nothing", {}, b"", "127.0.0.1")

    assert status == 404
    assert headers == {"content-type": "application/json"}
    assert json.loads(body) == {"error": "no route for GET /v1/nothing", "code": "NOT_FOUND"}
    assert functions.calls == []


def test_an_authorizer_that_says_no_is_403(gateway: Gateway, functions: FakeFunctions) -> None:
    functions.decision = {"isAuthorized": False}

    status, _, body = gateway.handle("POST", "/v1/models", {}, b"{}", "127.0.0.1")

    assert status == 403
    assert json.loads(body)["code"] == "FORBIDDEN"
    assert [name for name, _ in functions.calls] == ["Authorizer"]


@pytest.mark.parametrize(("kind", "status", "code"), [("Timeout", 503, "TIMEOUT"), ("Crashed", 500, "INTERNAL")])
def test_a_failed_invocation_becomes_an_error_response(
    gateway: Gateway, functions: FakeFunctions, kind: str, status: int, code: str
) -> None:
    functions.error = InvocationError(kind, "details stay in the logs")

    got, _, body = gateway.handle("GET", "/v2/health/live", {}, b"", "127.0.0.1")

    assert got == status
    assert json.loads(body)["code"] == code
    assert b"details stay in the logs" not in body
