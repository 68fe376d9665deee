"""The API description: one OpenAPI 3.1 document for /v1, the jobs and batch routes, and /v2.

Generated, never written by hand: Powertools' ``get_openapi_schema()`` on the control plane's and the jobs
function's resolvers, and on a resolver of stubs for the ``/v2`` routes (``OipApi.routes`` dispatches on
``routeKey`` without a resolver; the stubs carry the OIP pydantic models of ``maas.api.schemas``), merged, then
corrected from ``ROUTES`` below: the statuses each route really answers with the ``{error, code}`` body
(Powertools would say 200 and 422 ``HTTPValidationError``), the name patterns of path parameters, the bearer
and ``x-api-key`` security schemes (health and documentation routes without), and the servers.

``python -m maas.api.openapi`` (``make openapi``) writes ``maas/api/openapi.json``, which the control plane
serves (``maas.api.docs``); ``--check`` fails when the committed file is not a fresh generation.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from pydantic import BaseModel

from maas.api import schemas, triton_schemas
from maas.api.control_plane import ControlPlane, create_app
from maas.api.docs import DOCUMENT
from maas.api.inference import OipApi
from maas.api.jobs import SubmittedResponse, create_jobs_app

TITLE = "MaaS API"
OUTPUT = Path(__file__).with_name(DOCUMENT)
METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class RouteDoc:
    """What a route answers: its success status and its error statuses (401 and 403 are added unless public).

    ``request`` and ``response`` describe routes whose bodies no resolver types: the /v2 routes and the job
    submissions, which read raw OIP bodies (JSON or binary tensors).
    """

    tag: str
    ok: int
    errors: str = ""
    summary: str | None = None
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    public: bool = False


_INFER = "400 404 409 413 429 503"
# One row per route, keyed "METHOD /path" as template.yaml declares it; tests/unit/test_openapi.py fails when a
# route of the template, a resolver or OipApi.routes has no row here, or a row names no route.
ROUTES: dict[str, RouteDoc] = {
    "GET /openapi.json": RouteDoc("documentation", 200, public=True),
    "GET /docs": RouteDoc("documentation", 200, public=True),
    "POST /v1/tenants": RouteDoc("tenants", 201, "400 409"),
    "GET /v1/tenants": RouteDoc("tenants", 200, "400"),
    "POST /v1/tenants/{tenant_id}/keys": RouteDoc("tenants", 201, "400 404"),
    "GET /v1/tenants/{tenant_id}/keys": RouteDoc("tenants", 200, "400 404"),
    "DELETE /v1/tenants/{tenant_id}/keys/{key_id}": RouteDoc("tenants", 204, "404"),
    "PUT /v1/tenants/{tenant_id}/quota": RouteDoc("quotas", 200, "400 404"),
    "GET /v1/tenants/{tenant_id}/quota": RouteDoc("quotas", 200, "404"),
    "GET /v1/tenants/{tenant_id}/usage": RouteDoc("quotas", 200, "404"),
    "GET /v1/audit": RouteDoc("audit", 200, "400"),
    "POST /v1/models": RouteDoc("models", 201, "400 409"),
    "GET /v1/models": RouteDoc("models", 200, "400"),
    "GET /v1/models/{name}": RouteDoc("models", 200, "404"),
    "PATCH /v1/models/{name}": RouteDoc("models", 200, "400 404 409"),
    "DELETE /v1/models/{name}": RouteDoc("models", 204, "404 409"),
    "POST /v1/models/{name}/versions": RouteDoc("versions", 201, "400 404 409"),
    "GET /v1/models/{name}/versions": RouteDoc("versions", 200, "400 404"),
    "GET /v1/models/{name}/versions/{version}": RouteDoc("versions", 200, "400 404"),
    "DELETE /v1/models/{name}/versions/{version}": RouteDoc("versions", 204, "400 404 409"),
    "POST /v1/models/{name}/versions/{version}/optimize": RouteDoc("versions", 202, "400 404 409"),
    "GET /v1/models/{name}/aliases": RouteDoc("aliases", 200, "400 404"),
    "GET /v1/models/{name}/aliases/{alias}": RouteDoc("aliases", 200, "404"),
    "PUT /v1/models/{name}/aliases/{alias}": RouteDoc("aliases", 200, "400 404 409 412"),
    "DELETE /v1/models/{name}/aliases/{alias}": RouteDoc("aliases", 204, "404 409 412"),
    "POST /v1/models/{name}/aliases/{alias}/rollback": RouteDoc("aliases", 200, "404 409 412"),
    "GET /v1/models/{name}/aliases/{alias}/shadow": RouteDoc("aliases", 200, "404"),
    "PUT /v1/models/{name}/grants/{tenant_id}": RouteDoc("grants", 200, "400 404"),
    "GET /v1/models/{name}/grants": RouteDoc("grants", 200, "400 404"),
    "DELETE /v1/models/{name}/grants/{tenant_id}": RouteDoc("grants", 204, "404"),
    "POST /v1/models/{name}/jobs": RouteDoc("jobs", 202, _INFER, request=schemas.OipInferRequest),
    "POST /v1/models/{name}/versions/{version}/jobs": RouteDoc("jobs", 202, _INFER, request=schemas.OipInferRequest),
    "GET /v1/jobs": RouteDoc("jobs", 200, "400"),
    "GET /v1/jobs/{job_id}": RouteDoc("jobs", 200, "404"),
    "DELETE /v1/jobs/{job_id}": RouteDoc("jobs", 200, "404 409"),
    "POST /v1/event-sources": RouteDoc("event sources", 201, "400 409"),
    "GET /v1/event-sources": RouteDoc("event sources", 200, "400"),
    "DELETE /v1/event-sources/{source}": RouteDoc("event sources", 204, "404"),
    "POST /v1/batch-jobs": RouteDoc("batch jobs", 201, "400 404 409 503"),
    "GET /v1/batch-jobs": RouteDoc("batch jobs", 200, "400"),
    "GET /v1/batch-jobs/{job_id}": RouteDoc("batch jobs", 200, "404"),
    "GET /v2/health/live": RouteDoc(
        "inference", 200, summary="Liveness", response=schemas.OipLiveResponse, public=True
    ),
    "GET /v2/health/ready": RouteDoc(
        "inference", 200, summary="Readiness", response=schemas.OipReadyResponse, public=True
    ),
    "GET /v2": RouteDoc("inference", 200, summary="Server metadata", response=schemas.OipServerMetadataResponse),
    "GET /v2/models/{name}": RouteDoc(
        "inference", 200, "404 503", "Model metadata (default alias)", response=schemas.OipModelMetadataResponse
    ),
    "GET /v2/models/{name}/versions/{version}": RouteDoc(
        "inference", 200, "400 404 503", "Model version metadata", response=schemas.OipModelMetadataResponse
    ),
    "GET /v2/models/{name}/ready": RouteDoc(
        "inference", 200, "404 503", "Model readiness (default alias)", response=schemas.OipModelReadyResponse
    ),
    "GET /v2/models/{name}/versions/{version}/ready": RouteDoc(
        "inference", 200, "400 404 503", "Model version readiness", response=schemas.OipModelReadyResponse
    ),
    "POST /v2/models/{name}/infer": RouteDoc(
        "inference", 200, _INFER, "Infer (default alias)", schemas.OipInferRequest, schemas.OipInferResponse
    ),
    "POST /v2/models/{name}/versions/{version}/infer": RouteDoc(
        "inference", 200, _INFER, "Infer", schemas.OipInferRequest, schemas.OipInferResponse
    ),
    "GET /v1/shared-models": RouteDoc("grants", 200),
    "GET /v2/models/stats": RouteDoc(
        "triton", 200, "400", "Statistics of every model", response=triton_schemas.TritonStatsResponse
    ),
    "GET /v2/models/{name}/stats": RouteDoc(
        "triton", 200, "400 404", "Model statistics", response=triton_schemas.TritonStatsResponse
    ),
    "GET /v2/models/{name}/versions/{version}/stats": RouteDoc(
        "triton", 200, "400 404", "Model version statistics", response=triton_schemas.TritonStatsResponse
    ),
    "GET /v2/models/{name}/config": RouteDoc(
        "triton", 200, "400 404 503", "Model configuration", response=triton_schemas.TritonModelConfigResponse
    ),
    "GET /v2/models/{name}/versions/{version}/config": RouteDoc(
        "triton",
        200,
        "400 404 503",
        "Model version configuration",
        response=triton_schemas.TritonModelConfigResponse,
    ),
    "POST /v2/repository/index": RouteDoc(
        "triton",
        200,
        "400",
        "Repository index",
        triton_schemas.TritonIndexRequest,
        triton_schemas.TritonIndexResponse,
    ),
    "POST /v2/repository/models/{name}/load": RouteDoc("triton", 200, "400", "Not supported: always 400"),
    "POST /v2/repository/models/{name}/unload": RouteDoc("triton", 200, "400", "Not supported: always 400"),
}

# Path parameters by name: the patterns the domain enforces (maas.domain, maas.domain.aliases, maas.keys).
PATH_PARAMETERS: dict[str, tuple[str, str]] = {
    "tenant_id": (r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$", "tenant id"),
    "name": (r"^[a-z0-9][a-z0-9_-]{0,63}$", "model name"),
    "version": (r"^([1-9][0-9]{0,9}|[a-z][a-z0-9_-]{0,62})$", "a version number or an alias"),
    "alias": (r"^[a-z][a-z0-9_-]{0,62}$", "alias name"),
    "key_id": (r"^[0-9a-f]{16}$", "key id"),
    "job_id": (r"^[A-Za-z0-9_-]{1,64}$", "job id"),
    "source": (r"^[a-z][a-z0-9-]*[a-z0-9]\.[A-Za-z0-9][A-Za-z0-9._-]*$", "event source: <tenant_id>.<name>"),
}

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Invalid request",
    401: "No API key, or a bad one",
    403: "The key lacks the scope",
    404: "Unknown, or not the caller's",
    409: "Conflict with the current state",
    412: "If-Match does not match the alias's ETag",
    413: "Request too large",
    429: "Over quota (see Retry-After)",
    503: "Model not ready yet (see Retry-After)",
}
ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["error", "code"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "what went wrong, for a person"},
        "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "description": "UPPER_SNAKE, for a program"},
    },
}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <api-key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "the same key in x-api-key"},
}
SERVERS = [
    {"url": "/", "description": "the origin that serves this document (the local runtime or the HTTP API)"},
    {
        "url": "https://{api_id}.execute-api.{region}.amazonaws.com",
        "description": "the deployed HTTP API (stack output ApiUrl)",
        "variables": {"api_id": {"default": "example"}, "region": {"default": "eu-west-1"}},
    },
    {"url": "http://127.0.0.1:3000", "description": "maas local up (its default port)"},
]


def api_version() -> str:
    try:
        return package_version("maas")
    except PackageNotFoundError:  # a folder that is not installed: the pyproject beside it says
        text = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
        found = re.search(r'^version = "([^"]+)"', text, re.MULTILINE)
        return found.group(1) if found else "0.0.0"


def _oip_stub(path: str, doc: RouteDoc) -> Callable[..., Any]:
    """A function whose signature says what the /v2 route takes and returns; only its signature is read."""

    def stub(**kwargs: Any) -> None:  # pragma: no cover - never called
        raise NotImplementedError

    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, PathParam()])
        for name in re.findall(r"{(\w+)}", path)
    ]
    if doc.request is not None:
        parameters.append(
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[doc.request, Body()])
        )
    stub.__signature__ = inspect.Signature(parameters, return_annotation=doc.response)  # type: ignore[attr-defined]
    stub.__name__ = "handle_" + re.sub(r"\W+", "_", path.replace("{", "").replace("}", "")).strip("_")
    return stub


def resolvers() -> list[APIGatewayHttpResolver]:
    """Every resolver the HTTP API routes to, built on placeholders: only their routes are read."""
    unused = cast(Any, object())
    plane = create_app(ControlPlane(unused, unused, unused, unused, unused, unused, unused))
    jobs = create_jobs_app(unused, unused, unused)
    oip = APIGatewayHttpResolver(enable_validation=True)
    for key in oip_routes():
        doc = ROUTES.get(key)
        if doc is not None:  # tests/unit/test_openapi.py names a route without a row
            method, path = key.split(" ", 1)
            oip.route(re.sub(r"{(\w+)}", r"<\1>", path), method, summary=doc.summary)(_oip_stub(path, doc))
    return [plane, jobs, oip]


def oip_routes() -> list[str]:
    return list(OipApi(service=cast(Any, None)).routes)


def merged(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from several: paths side by side; a component two documents define must be the same."""
    result: dict[str, Any] = {"paths": {}, "components": {"schemas": {}}}
    for document in documents:
        for path, item in document.get("paths", {}).items():
            result["paths"].setdefault(path, {}).update(item)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            known = result["components"]["schemas"].setdefault(name, schema)
            if known != schema:
                raise ValueError(f"two resolvers define the schema {name} differently")
    return result


def _response(status: int, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": STATUS_TEXT[status]}
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
    if status >= 400:
        response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    elif status != 204:
        response["content"] = {"application/json": {"schema": schema or {}}}
    return response


def _success_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    for status in ("200", "201", "202"):
        content = operation.get("responses", {}).get(status, {}).get("content", {})
        if "application/json" in content:
            schema: dict[str, Any] = content["application/json"].get("schema", {})
            return None if schema.get("type") == "null" or schema.get("type") == "string" else schema
    return None


def _oip_body(schema: dict[str, Any]) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary", "description": "the JSON header, then the raw tensors"}
    content = {"application/json": {"schema": schema}, "application/octet-stream": {"schema": binary}}
    return {"required": True, "content": content}


def _correct(key: str, operation: dict[str, Any], doc: RouteDoc) -> dict[str, Any]:
    method, path = key.split(" ", 1)
    suffix = re.sub(r"\W", "_", path) + "_" + method.lower()
    operation["operationId"] = operation["operationId"].removesuffix(suffix).removeprefix("handle_")
    operation["tags"] = [doc.tag]
    ok = _success_schema(operation)
    if doc.request is not None and "requestBody" not in operation:
        ref = {"$ref": f"#/components/schemas/{doc.request.__name__}"}
        operation["requestBody"] = _oip_body(ref)
    elif doc.request is not None:
        operation["requestBody"] = _oip_body(operation["requestBody"]["content"]["application/json"]["schema"])
    responses: dict[str, Any]
    if key == "GET /docs":
        responses = {"200": {"description": "Swagger UI", "content": {"text/html": {"schema": {"type": "string"}}}}}
    elif key == "GET /openapi.json":
        responses = {"200": _response(200, {"type": "object"})}
    elif doc.ok == 202 and doc.request is not None:
        responses = {"202": _response(202, {"$ref": "#/components/schemas/SubmittedResponse"})}
    else:
        responses = {str(doc.ok): _response(doc.ok, ok)}
    if path.endswith("/infer"):  # Prefer: respond-async queues a job instead
        responses["200"]["content"]["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
        responses["202"] = _response(202, {"$ref": "#/components/schemas/SubmittedResponse"})
    errors = [int(s) for s in doc.errors.split()] + ([] if doc.public else [401, 403])
    responses.update({str(status): _response(status) for status in sorted(errors)})
    operation["responses"] = dict(sorted(responses.items()))
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
            pattern, description = PATH_PARAMETERS[parameter["name"]]
            parameter["schema"] = {"type": "string", "pattern": pattern, "maxLength": 128}
            parameter["description"] = description
    if doc.public:
        operation["security"] = []
    return operation


def generate() -> dict[str, Any]:
    """The whole API's OpenAPI 3.1 document, as a JSON-ready dict (keys in a stable order)."""
    dumped = [json.loads(r.get_openapi_json_schema(title=TITLE, version=api_version())) for r in resolvers()]
    document = merged(dumped)
    schemas_ = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas_.pop(name, None)
    schemas_["Error"] = ERROR_SCHEMA
    schemas_.setdefault("SubmittedResponse", SubmittedResponse.model_json_schema())
    paths: dict[str, Any] = {}
    for path, item in sorted(document["paths"].items()):
        for method in METHODS:
            key = f"{method.upper()} {path}"
            if method in item and key in ROUTES:
                paths.setdefault(path, {})[method] = _correct(key, item[method], ROUTES[key])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": api_version(),
            "description": "Model-as-a-Service: the control plane (/v1), asynchronous and batch jobs, and the "
            "Open Inference Protocol v2 (/v2). Errors are {error, code}.",
        },
        "servers": SERVERS,
        "security": [{"bearer": []}, {"apiKey": []}],
        "tags": [{"name": t} for t in dict.fromkeys(doc.tag for doc in ROUTES.values())],
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas_.items())), "securitySchemes": SECURITY_SCHEMES},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maas.api.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail when the file is not a fresh generation")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        if not args.output.exists() or args.output.read_text() != text:
            print(f"{args.output} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
