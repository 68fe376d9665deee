"""The Open Inference Protocol v2 routes (KServe / Triton REST) under /v2.

API Gateway has already matched the route: the event's ``routeKey`` names it and ``pathParameters`` carry its
values. So this API dispatches on ``routeKey`` with one dictionary lookup instead of a resolver's regular
expressions and event wrappers, which cost more than the whole rest of a small model's request (see
benchmarks/infer_overhead.py). Bodies are OIP documents, optionally with binary tensors, decoded by
``maas.inference.protocol``; errors leave through ``maas.api.results.error_result``, like everywhere else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import pybase64

from maas.api.auth import principal_from_context
from maas.api.results import error_result
from maas.domain import Principal
from maas.errors import InvalidRequestError, MaasError, NotFoundError
from maas.inference.protocol import HEADER_LENGTH
from maas.inference.repository import ModelRepository
from maas.inference.service import InferenceService
from maas.inference.stats import ModelStatistics
from maas.jobs.service import JobService
from maas.metrics import UNMATCHED_ROUTE, record_request
from maas.observability import logger

try:
    VERSION = package_version("maas")
except PackageNotFoundError:  # running from a folder, not installed
    VERSION = "0.0.0"

# Triton's "model_repository" is not claimed: its load and unload are not supported (the index is served)
SERVER_METADATA = {
    "name": "maas",
    "version": VERSION,
    "extensions": ["binary_tensor_data", "statistics", "model_configuration"],
}
Result = dict[str, Any]


def _json(body: object, status: int = 200) -> Result:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _principal(event: dict[str, Any]) -> Principal:
    authorizer = event.get("requestContext", {}).get("authorizer") or {}
    return principal_from_context(authorizer.get("lambda"))


def _body(event: dict[str, Any]) -> tuple[str | bytes, int | None]:
    return decode_body(event.get("body"), bool(event.get("isBase64Encoded")), event.get("headers") or {})


def decode_body(body: str | None, is_base64: bool, headers: dict[str, str]) -> tuple[str | bytes, int | None]:
    """An OIP request body as API Gateway hands it over, and its JSON header length when it carries binary."""
    raw: str | bytes = body or ""
    if is_base64:
        # pybase64 (SIMD): 10 to 30 times faster than the standard library on tensor-sized bodies
        try:
            raw = pybase64.b64decode(raw, validate=True)
        except ValueError:  # binascii.Error
            raise InvalidRequestError("the body is marked base64 but is not") from None
    header = headers.get(HEADER_LENGTH)
    if header is None:
        return raw, None
    try:
        return raw, int(header)
    except ValueError:
        raise InvalidRequestError("Inference-Header-Content-Length must be an integer") from None


def _index_request(event: dict[str, Any]) -> bool:
    """The ``ready`` flag of Triton's index request: an optional JSON object ``{"ready": bool}``."""
    body, _ = _body(event)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if not text.strip():
        return False
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidRequestError("the index request is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("ready", False), bool):
        raise InvalidRequestError('the index request is {"ready": true|false}, both optional')
    return bool(document.get("ready", False))


def wants_async(headers: dict[str, str]) -> bool:
    """RFC 7240 ``Prefer: respond-async``."""
    prefer = headers.get("prefer")
    return prefer is not None and "respond-async" in prefer.lower()


class OipApi:
    def __init__(
        self,
        service: InferenceService,
        jobs: JobService | None = None,
        *,
        statistics: ModelStatistics | None = None,
        repository: ModelRepository | None = None,
    ) -> None:
        self.service = service
        self.jobs = jobs
        self.statistics = statistics
        self.repository = repository
        self.routes: dict[str, Callable[[dict[str, Any], dict[str, str]], Result]] = {
            "GET /v2/health/live": lambda event, params: _json({"live": True}),
            "GET /v2/health/ready": lambda event, params: _json({"ready": True}),
            "GET /v2": self.server_metadata,
            "GET /v2/models/{name}": self.model_metadata,
            "GET /v2/models/{name}/versions/{version}": self.model_metadata,
            "GET /v2/models/{name}/ready": self.model_ready,
            "GET /v2/models/{name}/versions/{version}/ready": self.model_ready,
            "POST /v2/models/{name}/infer": self.infer,
            "POST /v2/models/{name}/versions/{version}/infer": self.infer,
            # Triton's extensions: statistics, model configuration, repository index (no model control)
            "GET /v2/models/stats": self.model_stats,
            "GET /v2/models/{name}/stats": self.model_stats,
            "GET /v2/models/{name}/versions/{version}/stats": self.model_stats,
            "GET /v2/models/{name}/config": self.model_config,
            "GET /v2/models/{name}/versions/{version}/config": self.model_config,
            "POST /v2/repository/index": self.repository_index,
            "POST /v2/repository/models/{name}/load": self.model_control,
            "POST /v2/repository/models/{name}/unload": self.model_control,
        }

    def handle(self, event: dict[str, Any]) -> Result:
        """Every /v2 request: its route, then one EMF record (``maas.metrics``: route, status, code, model)."""
        started = time.perf_counter()
        route_key = event.get("routeKey", "")
        route = self.routes.get(route_key)
        params = event.get("pathParameters") or {}
        code = None
        try:
            if route is None:
                raise NotFoundError(f"no route for {event.get('routeKey')}")
            result = route(event, params)
        except Exception as exc:
            code = exc.code if isinstance(exc, MaasError) else "INTERNAL"
            result = error_result(exc)
        _record(event, route_key if route else UNMATCHED_ROUTE, params, result, code=code, started=started)
        return result

    def server_metadata(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        _principal(event)
        return _json(SERVER_METADATA)

    def model_metadata(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        return _json(self.service.model_metadata(_principal(event), params["name"], params.get("version")))

    def model_ready(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        return _json(self.service.model_ready(_principal(event), params["name"], params.get("version")))

    def model_stats(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        principal = _principal(event)
        if self.statistics is None:
            raise NotFoundError("statistics are not configured for this function")
        return _json(self.statistics.statistics(principal, params.get("name"), params.get("version")))

    def model_config(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        principal = _principal(event)
        if self.repository is None:
            raise NotFoundError("model configurations are not configured for this function")
        return _json(self.repository.config(principal, params["name"], params.get("version")))

    def repository_index(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        principal = _principal(event)
        if self.repository is None:
            raise NotFoundError("the repository index is not configured for this function")
        return _json(self.repository.index(principal, ready=_index_request(event)))

    def model_control(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        _principal(event)  # 401 first, as for every route
        action = event.get("routeKey", "").rsplit("/", 1)[-1]
        ModelRepository.model_control(params["name"], action)

    def infer(self, event: dict[str, Any], params: dict[str, str]) -> Result:
        body, header_length = _body(event)
        headers = event.get("headers") or {}
        if wants_async(headers):
            return self.submit_job(event, params, body, header_length, headers)
        encoded, json_length = self.service.infer(
            _principal(event), params["name"], params.get("version"), body, header_length
        )
        if json_length is None:
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": encoded.decode()}
        return {
            "statusCode": 200,
            "headers": {
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(json_length),
            },
            "body": pybase64.b64encode(encoded).decode(),
            "isBase64Encoded": True,
        }

    def submit_job(
        self,
        event: dict[str, Any],
        params: dict[str, str],
        body: str | bytes,
        header_length: int | None,
        headers: dict[str, str],
    ) -> Result:
        if self.jobs is None:
            raise NotFoundError("asynchronous jobs are not configured for this function")
        job, created = self.jobs.submit(
            _principal(event),
            params["name"],
            params.get("version"),
            body,
            header_length,
            idempotency_key=headers.get("idempotency-key"),
        )
        location = f"/v1/jobs/{job.job_id}"
        response_headers = {
            "Content-Type": "application/json",
            "Location": location,
            "Preference-Applied": "respond-async",
        }
        if not created:
            response_headers["Idempotent-Replayed"] = "true"
        return {
            "statusCode": 202,
            "headers": response_headers,
            "body": json.dumps({"job_id": job.job_id, "status": job.status, "location": location}),
        }


_VERSION_FIELD = b'"model_version":"'


def _served_version(result: Result, requested: str | None) -> str | None:
    """The version that answered, from the response's head (its second field), without parsing the response."""
    body = result.get("body")
    if not isinstance(body, str):
        return requested
    # a binary answer starts with its JSON header: 344 base64 characters are its first 258 bytes
    head = pybase64.b64decode(body[:344]) if result.get("isBase64Encoded") else body[:256].encode()
    start = head.find(_VERSION_FIELD)
    if start < 0:
        return requested
    start += len(_VERSION_FIELD)
    end = head.find(b'"', start)
    return head[start:end].decode() if end > start else requested


def _record(
    event: dict[str, Any], route: str, params: dict[str, str], result: Result, *, code: str | None, started: float
) -> None:
    context = event.get("requestContext") or {}
    principal = (context.get("authorizer") or {}).get("lambda") or {}
    status = result["statusCode"]
    model = params.get("name")
    version = params.get("version")
    if status == 200 and model is not None and route.endswith("/infer"):
        version = _served_version(result, version)
    record_request(
        route,
        status,
        (time.perf_counter() - started) * 1000,
        code=code,
        tenant_id=principal.get("tenant_id"),
        model=model,
        model_version=version,
        request_id=context.get("requestId"),
    )


def log_request(event: dict[str, Any]) -> None:
    """The correlation id for this request's logs (API Gateway's request id), without a JMESPath query."""
    logger.set_correlation_id(event.get("requestContext", {}).get("requestId"))
