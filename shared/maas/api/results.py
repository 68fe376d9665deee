"""API Gateway results for errors, for handlers that answer without a Powertools resolver.

Kept apart from ``maas.api.responses`` so that the inference function's cold start does not import the
resolver machinery it does not use; both map a ``MaasError`` to its status the same way.
"""

from __future__ import annotations

import json
from typing import Any

from maas.errors import MaasError
from maas.observability import logger

JSON = "application/json"


def error_result(exc: Exception) -> dict[str, Any]:
    """An API Gateway (payload 2.0) result for any error, for handlers that answer without a resolver."""
    if isinstance(exc, MaasError):
        status, headers, body = exc.status, exc.headers, exc.to_body()
    else:
        logger.exception("unhandled error")
        status, headers, body = 500, {}, {"error": "internal error; the request id is in the logs", "code": "INTERNAL"}
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, **headers},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
