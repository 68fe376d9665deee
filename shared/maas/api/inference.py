"""The Open Inference Protocol v2 routes (KServe / Triton REST) under /v2.

Bodies are OIP documents, optionally with binary tensors, so they are decoded by ``maas.inference.protocol``
rather than by pydantic validation; errors still leave through the one exception handler.
"""

from __future__ import annotations

import base64
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from maas.api.auth import principal_from_context
from maas.api.responses import install_error_handlers
from maas.domain import Principal
from maas.errors import InvalidRequestError
from maas.inference.protocol import HEADER_LENGTH
from maas.inference.service import InferenceService

try:
    VERSION = package_version("maas")
except PackageNotFoundError:  # running from a folder, not installed
    VERSION = "0.0.0"

SERVER_METADATA = {"name": "maas", "version": VERSION, "extensions": ["binary_tensor_data"]}


def _json(body: object, status: int = 200) -> Response[object]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def create_app(service: InferenceService) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    install_error_handlers(app)

    def principal() -> Principal:
        return principal_from_context(app.current_event.request_context.authorizer.get_lambda)

    def request_body() -> tuple[bytes, int | None]:
        event = app.current_event.raw_event
        body = event.get("body") or ""
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
        header = app.current_event.headers.get(HEADER_LENGTH)
        if header is None:
            return raw, None
        try:
            return raw, int(header)
        except ValueError:
            raise InvalidRequestError("Inference-Header-Content-Length must be an integer") from None

    def infer(name: str, version: str | None) -> Response[object]:
        body, header_length = request_body()
        encoded, json_length = service.infer(principal(), name, version, body, header_length)
        if json_length is None:
            return Response(200, content_types.APPLICATION_JSON, encoded.decode("utf-8"))
        return Response(
            200, "application/octet-stream", encoded, headers={"Inference-Header-Content-Length": str(json_length)}
        )

    @app.get("/v2/health/live")
    def handle_live() -> Response[object]:
        return _json({"live": True})

    @app.get("/v2/health/ready")
    def handle_ready() -> Response[object]:
        return _json({"ready": True})

    @app.get("/v2")
    def handle_server_metadata() -> Response[object]:
        principal()
        return _json(SERVER_METADATA)

    @app.get("/v2/models/<name>")
    def handle_model_metadata(name: str) -> Response[object]:
        return _json(service.model_metadata(principal(), name, None))

    @app.get("/v2/models/<name>/versions/<version>")
    def handle_version_metadata(name: str, version: str) -> Response[object]:
        return _json(service.model_metadata(principal(), name, version))

    @app.get("/v2/models/<name>/ready")
    def handle_model_ready(name: str) -> Response[object]:
        return _json(service.model_ready(principal(), name, None))

    @app.get("/v2/models/<name>/versions/<version>/ready")
    def handle_version_ready(name: str, version: str) -> Response[object]:
        return _json(service.model_ready(principal(), name, version))

    @app.post("/v2/models/<name>/infer")
    def handle_infer(name: str) -> Response[object]:
        return infer(name, None)

    @app.post("/v2/models/<name>/versions/<version>/infer")
    def handle_version_infer(name: str, version: str) -> Response[object]:
        return infer(name, version)

    return app
