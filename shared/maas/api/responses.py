"""Mapping errors to HTTP responses: the one place where a domain error becomes a status code."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from maas.errors import MaasError
from maas.observability import logger


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": message, "code": code}),
        headers=headers,
    )


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body" and not isinstance(p, int))
        if error.get("type") == "json_invalid":
            return "the request body is not valid JSON"
        if error.get("type") == "extra_forbidden":
            parts.append(f"unknown field '{loc}'")
        else:
            parts.append(f"{loc or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(MaasError)
    def handle_maas_error(exc: MaasError) -> Response[str]:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    def handle_validation_error(exc: RequestValidationError) -> Response[str]:
        return error_response(400, "INVALID_REQUEST", _describe(list(exc.errors())))

    @app.exception_handler(RequestUnsupportedContentType)
    def handle_unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[str]:
        content_type = app.current_event.headers.get("content-type", "")[:100]
        return error_response(400, "INVALID_REQUEST", f"the body must be JSON (application/json), not {content_type}")

    @app.not_found
    def handle_not_found(exc: Exception) -> Response[str]:
        event = app.current_event
        return error_response(404, "NOT_FOUND", f"no route for {event.http_method} {event.path}")

    @app.exception_handler(Exception)
    def handle_unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(500, "INTERNAL", "internal error; the request id is in the logs")
