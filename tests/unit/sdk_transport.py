"""requests adapters for the SDK's unit tests: no socket is opened.

``ResolverAdapter`` hands each request to a Powertools resolver in process, as the gateway would (payload 2.0
event, the authorizer's context for the key); ``ScriptedAdapter`` answers from a list and records what came.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from tests.unit.factories import FakeLambdaContext, http_event

BASE = "http://api.test"


def _response(request: requests.PreparedRequest, status: int, headers: dict[str, str], body: bytes) -> Any:
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers)
    response._content = body
    response.url = request.url or ""
    response.request = request
    return response


class ResolverAdapter(BaseAdapter):
    def __init__(self, app: Any, principals: dict[str, dict[str, str]]) -> None:
        super().__init__()
        self.app, self.principals = app, principals

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        url = urlsplit(request.url or "")
        key = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        headers = {k.lower(): v for k, v in request.headers.items()}
        event = http_event(request.method or "GET", url.path, body=body, authorizer=self.principals.get(key))
        event["headers"] = {**event["headers"], **headers}  # type: ignore[dict-item]
        if url.query:
            event["rawQueryString"] = url.query
            event["queryStringParameters"] = dict(parse_qsl(url.query))
        result = self.app.resolve(event, FakeLambdaContext())
        raw = result.get("body") or ""
        content = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        out_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(values)
        return _response(request, result["statusCode"], out_headers, content)

    def close(self) -> None:
        pass


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next ``(status, headers, body)``; ``seen`` keeps the requests."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        self.seen.append(request)
        status, headers, body = self.answers.pop(0)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return _response(request, status, {"Content-Type": "application/json", **headers}, content)

    def close(self) -> None:
        pass


def session_with(adapter: BaseAdapter) -> requests.Session:
    session = requests.Session()
    session.mount(BASE, adapter)
    return session


def recorder() -> tuple[list[float], Callable[[float], None]]:
    """A ``sleep`` that only records how long it was asked to wait."""
    waits: list[float] = []
    return waits, waits.append
