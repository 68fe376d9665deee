"""The API description agrees with the routes, says what the API answers, and is served without a key."""

from __future__ import annotations

import base64
import gzip
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from maas.api import openapi
from maas.api.docs import DOCUMENT, PUBLIC_ROUTES, openapi_document, swagger_page

from tests.unit.factories import FakeLambdaContext, http_event
from tests.unit.test_routes_match_template import served_routes, template_routes

ROOT = Path(__file__).resolve().parents[2]
HTTP_FUNCTIONS = ("ControlPlaneFunction", "JobsFunction", "InferenceFunction")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.generate()


def keys(routes: set[tuple[str, str]] | list[str]) -> set[str]:
    return {r if isinstance(r, str) else f"{r[0]} {r[1]}" for r in routes}


def operations(document: dict[str, Any]) -> set[str]:
    return {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}


def test_the_committed_document_is_a_fresh_generation(document: dict[str, Any]) -> None:
    committed = (ROOT / "shared" / "maas" / "api" / DOCUMENT).read_text()

    assert committed == openapi.render(document), "shared/maas/api/openapi.json is stale: run `make openapi`"


def test_every_route_of_the_template_and_the_functions_is_documented_and_nothing_else(
    document: dict[str, Any],
) -> None:
    # Given the routes as the template declares them, as the resolvers and OipApi serve them, and as documented
    template = set().union(*(keys(template_routes(f)) for f in HTTP_FUNCTIONS))
    plane, jobs, _ = openapi.resolvers()
    served = keys(served_routes(plane)) | keys(served_routes(jobs)) | keys(openapi.oip_routes())
    documented = operations(document)
    described = set(openapi.ROUTES)

    # Then each agrees with the others, and a disagreement names the routes and where they are missing
    problems = {
        "in template.yaml, not served by a resolver or OipApi.routes": sorted(template - served),
        "served, not in template.yaml": sorted(served - template),
        "served, without a row in maas.api.openapi.ROUTES": sorted(served - described),
        "rows of maas.api.openapi.ROUTES that no function serves": sorted(described - served),
        "served, missing from the generated document": sorted(served - documented),
        "in the document, not served": sorted(documented - served),
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_document_names_the_api_its_version_servers_and_security(document: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "MaaS API"
    assert document["info"]["version"] == version
    assert document["servers"][0]["url"] == "/"  # Swagger UI tries calls on the origin that served it
    assert document["security"] == [{"bearer": []}, {"apiKey": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "x-api-key")


def test_public_routes_need_no_key_and_every_other_answers_401_and_403(document: dict[str, Any]) -> None:
    public = {"GET /v2/health/live", "GET /v2/health/ready", *PUBLIC_ROUTES}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            if key in public:
                assert operation["security"] == [], key
                assert "401" not in operation["responses"], key
            else:
                assert "security" not in operation, key
                assert {"401", "403"} <= set(operation["responses"]), key


def test_errors_are_error_code_bodies_never_powertools_422(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "code"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], f"{method} {path}"
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("POST /v1/tenants", "201"),
        ("POST /v1/models", "201"),
        ("POST /v1/models/{name}/versions", "201"),
        ("POST /v1/batch-jobs", "201"),
        ("POST /v1/event-sources", "201"),
        ("DELETE /v1/models/{name}", "204"),
        ("DELETE /v1/tenants/{tenant_id}/keys/{key_id}", "204"),
        ("POST /v1/models/{name}/jobs", "202"),
        ("POST /v1/models/{name}/versions/{version}/optimize", "202"),
        ("POST /v2/models/{name}/infer", "200"),
    ],
)
def test_success_statuses_are_the_ones_the_api_answers(document: dict[str, Any], key: str, status: str) -> None:
    method, path = key.split(" ", 1)
    responses = document["paths"][path][method.lower()]["responses"]

    assert min(responses, key=int) == status
    assert ("content" in responses[status]) == (status != "204")


def test_inference_is_described_from_the_oip_models(document: dict[str, Any]) -> None:
    infer = document["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]

    assert set(infer["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/OipInferRequest")
    assert infer["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/OipInferResponse")
    assert {"202", "413", "429", "503"} <= set(infer["responses"])
    assert "Retry-After" in infer["responses"]["503"]["headers"]
    request = document["components"]["schemas"]["OipInferRequest"]
    assert request["additionalProperties"] is False
    assert {"inputs"} == set(request["required"])


def test_path_parameters_carry_the_domains_name_patterns(document: dict[str, Any]) -> None:
    seen = {}
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    seen[parameter["name"]] = parameter["schema"]["pattern"]

    assert set(seen) == set(openapi.PATH_PARAMETERS)
    assert seen["name"] == r"^[a-z0-9][a-z0-9_-]{0,63}$"
    assert seen["tenant_id"] == r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")

    assert openapi.main(["--output", str(stale), "--check"]) == 1
    assert openapi.main(["--output", str(stale)]) == 0
    assert openapi.main(["--output", str(stale), "--check"]) == 0


# --- serving ---------------------------------------------------------------------------------------------------
def _get(route: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    plane, _, _ = openapi.resolvers()
    method, path = route.split(" ", 1)
    event = http_event(method, path, headers=headers)
    event["routeKey"] = route
    return plane.resolve(event, FakeLambdaContext())


def test_the_document_is_served_without_a_key() -> None:
    response = _get("GET /openapi.json")

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == json.loads(openapi_document())


def test_swagger_ui_is_served_without_a_key_and_loads_nothing_from_elsewhere() -> None:
    response = _get("GET /docs")

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    page = response["body"]
    assert page == swagger_page()
    assert "SwaggerUIBundle({" in page
    assert "<script src=" not in page
    assert "<link" not in page


def test_the_page_is_gzipped_for_a_browser_that_accepts_it() -> None:
    response = _get("GET /docs", headers={"accept-encoding": "gzip, deflate, br"})

    assert response["headers"]["Content-Encoding"] == "gzip"
    assert response["isBase64Encoded"] is True
    page = gzip.decompress(base64.b64decode(response["body"])).decode()
    assert page == swagger_page()


def test_other_routes_still_need_a_key() -> None:
    response = _get("GET /v1/models")

    assert response["statusCode"] == 401
    assert json.loads(response["body"])["code"] == "UNAUTHENTICATED"
