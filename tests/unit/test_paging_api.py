"""Paging through the control plane's listings over the real resolver: limit, next_token, and tokens checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from maas.aliases import Aliases
from maas.api.auth import principal_context
from maas.api.control_plane import ControlPlane, create_app
from maas.domain import Scope
from maas.domain.paging import encode_token
from maas.registry import Registry
from maas.tenants import Tenants

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import FakeLambdaContext, http_event, principal

ACME = principal_context(principal("acme", Scope.PUBLISH, Scope.READ))
GLOBEX = principal_context(principal("globex", Scope.PUBLISH, Scope.READ))


@pytest.fixture
def app() -> APIGatewayHttpResolver:
    store = InMemoryRegistryStore()
    registry = Registry(store, InMemoryBlobStore(), artifacts_bucket="b", aliases=store)
    return create_app(ControlPlane(tenants=Tenants(store), registry=registry, aliases=Aliases(store, store)))


def call(app: APIGatewayHttpResolver, method: str, path: str, auth: dict[str, str], **query: str) -> tuple[int, Any]:
    event = http_event(method, path, authorizer=auth)
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    response = app.resolve(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def create(app: APIGatewayHttpResolver, auth: dict[str, str], name: str) -> None:
    event = http_event("POST", "/v1/models", authorizer=auth, body=json.dumps({"name": name, "framework": "onnx"}))
    assert app.resolve(event, FakeLambdaContext())["statusCode"] == 201


def test_models_page_by_limit_and_next_token(app: APIGatewayHttpResolver) -> None:
    for name in ("a", "b", "c"):
        create(app, ACME, name)

    status, first = call(app, "GET", "/v1/models", ACME, limit="2")
    _, second = call(app, "GET", "/v1/models", ACME, limit="2", next_token=first["next_token"])

    assert status == 200
    assert [m["name"] for m in first["models"]] == ["a", "b"]
    assert [m["name"] for m in second["models"]] == ["c"]
    assert second["next_token"] is None


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_limit_out_of_range_is_400(app: APIGatewayHttpResolver, limit: str) -> None:
    status, body = call(app, "GET", "/v1/models", ACME, limit=limit)

    assert status == 400
    assert set(body) == {"error", "code"}


def test_another_tenants_token_is_400_and_shows_nothing_of_theirs(app: APIGatewayHttpResolver) -> None:
    # Given globex's models and a token made from one of its pages
    for name in ("g1", "g2"):
        create(app, GLOBEX, name)
    _, theirs = call(app, "GET", "/v1/models", GLOBEX, limit="1")

    # When acme sends that token, or one it made up for globex's partition, or garbage
    for bad in (theirs["next_token"], encode_token({"PK": "T#globex", "SK": "MODEL#"}), "not-a-token"):
        status, body = call(app, "GET", "/v1/models", ACME, next_token=bad)

        # Then it is a plain 400 naming the token, never globex's models
        assert status == 400
        assert body["code"] == "INVALID_REQUEST"
        assert "next_token" in body["error"]
