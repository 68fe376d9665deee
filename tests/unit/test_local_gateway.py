"""The local gateway's route matching and response mapping (no server: nothing here opens a socket)."""

from __future__ import annotations

import base64
import json

import pytest

from maas.local.gateway import Router, _response
from maas.local.provision import RouteSpec

VERSIONS = RouteSpec("GET", "/v1/models/{name}/versions", "ListVersions", "Auth")
VERSION = RouteSpec("GET", "/v1/models/{name}/versions/{version}", "GetVersion", "Auth")
MODEL = RouteSpec("GET", "/v1/models/{name}", "GetModel", "Auth")
SPECIAL = RouteSpec("GET", "/v1/models/special", "Special", None)
CREATE = RouteSpec("POST", "/v1/models", "CreateModel", "Auth")
ANYTHING = RouteSpec("ANY", "/v2/{proxy+}", "Inference", None)
HEALTH = RouteSpec("GET", "/v2/health/live", "Health", None)


def match(routes: list[RouteSpec], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = Router(routes).match(method, path)
    return (found[0].spec.function, found[1]) if found else None


@pytest.mark.parametrize("routes", [[MODEL, SPECIAL], [SPECIAL, MODEL]])
def test_a_literal_segment_beats_a_parameter_whatever_the_order(routes: list[RouteSpec]) -> None:
    assert match(routes, "GET", "/v1/models/special") == ("Special", {})
    assert match(routes, "GET", "/v1/models/resnet") == ("GetModel", {"name": "resnet"})


@pytest.mark.parametrize("routes", [[VERSIONS, VERSION], [VERSION, VERSIONS]])
def test_the_versions_routes_are_told_apart(routes: list[RouteSpec]) -> None:
    assert match(routes, "GET", "/v1/models/m/versions") == ("ListVersions", {"name": "m"})
    assert match(routes, "GET", "/v1/models/m/versions/3") == ("GetVersion", {"name": "m", "version": "3"})
    assert match(routes, "GET", "/v1/models/m/versions/3/extra") is None


@pytest.mark.parametrize("routes", [[ANYTHING, HEALTH], [HEALTH, ANYTHING]])
def test_a_greedy_parameter_loses_to_any_exact_route(routes: list[RouteSpec]) -> None:
    assert match(routes, "GET", "/v2/health/live") == ("Health", {})
    assert match(routes, "POST", "/v2/models/m/infer") == ("Inference", {"proxy": "models/m/infer"})


def test_the_method_must_match_unless_the_route_takes_any() -> None:
    routes = [CREATE, MODEL, ANYTHING]

    assert match(routes, "POST", "/v1/models") == ("CreateModel", {})
    assert match(routes, "GET", "/v1/models") is None
    assert match(routes, "DELETE", "/v1/models/m") is None
    for method in ("GET", "POST", "DELETE", "PATCH"):
        assert match(routes, method, "/v2/x") == ("Inference", {"proxy": "x"})


@pytest.mark.parametrize(
    ("path", "name"),
    [("/v1/models/my%20model", "my model"), ("/v1/models/a%2Fb", "a/b"), ("/v1/models/caf%C3%A9", "café")],
)
def test_path_parameters_are_unquoted(path: str, name: str) -> None:
    assert match([MODEL], "GET", path) == ("GetModel", {"name": name})


def test_a_trailing_slash_still_matches() -> None:
    assert match([CREATE], "POST", "/v1/models/") == ("CreateModel", {})


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/model", "/v1/models/m/other", "/v3/x", "v1/models", ""])
def test_no_route_is_none(path: str) -> None:
    assert match([CREATE, MODEL, VERSIONS, VERSION, HEALTH], "GET", path) is None


def test_the_route_key_is_method_and_template_path() -> None:
    found = Router([VERSION]).match("GET", "/v1/models/m/versions/1")

    assert found is not None
    assert found[0].route_key == "GET /v1/models/{name}/versions/{version}"


# --- responses ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("result", [{"models": []}, ["a", 1], "text", None, 3])
def test_a_result_without_status_code_is_a_200_json_body(result: object) -> None:
    status, headers, body = _response(result)

    assert status == 200
    assert headers == {"content-type": "application/json"}
    assert json.loads(body) == result


def test_a_response_keeps_its_status_headers_and_body() -> None:
    status, headers, body = _response(
        {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Count": 2}, "body": '{"ok":true}'}
    )

    assert status == 201
    assert headers == {"content-type": "application/json", "x-count": "2"}
    assert body == b'{"ok":true}'


def test_a_base64_body_is_decoded() -> None:
    raw = bytes(range(256))

    _, _, body = _response({"statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True})

    assert body == raw


def test_multi_value_headers_are_joined_and_a_missing_body_is_empty() -> None:
    status, headers, body = _response({"statusCode": "204", "multiValueHeaders": {"Vary": ["Origin", "Accept"]}})

    assert status == 204
    assert headers == {"vary": "Origin, Accept"}
    assert body == b""
