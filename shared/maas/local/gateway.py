"""The HTTP gateway: what API Gateway (HTTP API, payload format 2.0) does, for the template's routes.

Per request: match the route (literal segments beat parameters, as API Gateway ranks them), call the Lambda
authorizer when the route has one, build the 2.0 event with the authorizer's context, invoke the function
in its own process and turn its result into the HTTP response.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pybase64

from maas.local.functions import InvocationError
from maas.local.provision import RouteSpec
from maas.observability import logger

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # HTTP API's own limit
Invoker = Callable[[str, Any], Any]


@dataclass(frozen=True)
class _CompiledRoute:
    spec: RouteSpec
    pattern: re.Pattern[str]
    rank: tuple[int, int]
    route_key: str


def _compile(spec: RouteSpec) -> _CompiledRoute:
    parts, literal = [], 0
    segments = [s for s in spec.path.split("/") if s]
    for segment in segments:
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
            literal += 1
    pattern = re.compile("^/" + "/".join(parts) + "/?$")
    greedy = any(s.endswith("+}") for s in segments)
    return _CompiledRoute(spec, pattern, (0 if greedy else 1, literal), f"{spec.method} {spec.path}")


class Router:
    def __init__(self, routes: list[RouteSpec]) -> None:
        self._routes = sorted((_compile(r) for r in routes), key=lambda r: r.rank, reverse=True)

    def match(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        for route in self._routes:
            if route.spec.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


def _json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps({"error": message, "code": code}).encode()


class Gateway:
    def __init__(
        self, routes: list[RouteSpec], invoke: Invoker, *, host: str, port: int, stage: str = "$default"
    ) -> None:
        self.router = Router(routes)
        self.invoke = invoke
        self.stage = stage
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- one request ----------------------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        path = split.path
        matched = self.router.match(method, path)
        if matched is None:
            return _json_error(404, "NOT_FOUND", f"no route for {method} {path}")
        route, path_parameters = matched
        now = datetime.now(UTC)
        request_context = {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.route_key,
            "stage": self.stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        query = parse_qsl(split.query, keep_blank_values=True)
        query_parameters: dict[str, str] = {}
        for key, value in query:
            query_parameters[key] = f"{query_parameters[key]},{value}" if key in query_parameters else value
        cookies = [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()]
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": path,
            "rawQueryString": split.query,
            "headers": headers,
            "requestContext": request_context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query_parameters:
            event["queryStringParameters"] = query_parameters
        if path_parameters:
            event["pathParameters"] = path_parameters
        if body:
            if _is_text(headers.get("content-type", "")):
                try:
                    event["body"] = body.decode("utf-8")
                except UnicodeDecodeError:
                    event["body"], event["isBase64Encoded"] = pybase64.b64encode(body).decode(), True
            else:
                event["body"], event["isBase64Encoded"] = pybase64.b64encode(body).decode(), True

        try:
            if route.spec.authorizer:
                decision = self.invoke(route.spec.authorizer, self._authorizer_event(event, route))
                if not decision.get("isAuthorized"):
                    return _json_error(403, "FORBIDDEN", "the authorizer denied the request")
                request_context["authorizer"] = {"lambda": decision.get("context") or {}}
            result = self.invoke(route.spec.function, event)
        except InvocationError as error:
            logger.warning("invocation failed", extra={"route": route.route_key, "error": str(error)})
            if error.kind == "Timeout":
                return _json_error(503, "TIMEOUT", "the function timed out")
            return _json_error(500, "INTERNAL", "internal error")
        return _response(result)

    def _authorizer_event(self, event: dict[str, Any], route: _CompiledRoute) -> dict[str, Any]:
        return {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/{self.stage}/"
            f"{route.spec.method}{event['rawPath']}",
            "identitySource": [],
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
            "headers": event["headers"],
            "queryStringParameters": event.get("queryStringParameters", {}),
            "pathParameters": event.get("pathParameters", {}),
            "requestContext": event["requestContext"],
        }


def _is_text(content_type: str) -> bool:
    content_type = content_type.lower()
    return content_type.startswith("text/") or "json" in content_type or "x-www-form-urlencoded" in content_type


def _response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Payload format 2.0: a dict with statusCode is a response; anything else is a 200 JSON body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = pybase64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    if result.get("cookies"):
        # one Set-Cookie header per cookie; joined, later cookies would read as attributes of the first
        headers["set-cookie"] = "\n".join(result["cookies"])
    return int(result["statusCode"]), headers, raw


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Gateway
    protocol_version = "HTTP/1.1"
    # headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm holds the body back
    # until the client's delayed ACK (40 ms) on every keep-alive request
    disable_nagle_algorithm = True
    server_version = "maas-local-gateway"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _serve(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("content-length") or 0)
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            status, headers, body = _json_error(411, "LENGTH_REQUIRED", "send a Content-Length")
            self.close_connection = True
        elif length > MAX_PAYLOAD_BYTES:
            status, headers, body = _json_error(413, "PAYLOAD_TOO_LARGE", "request body over 10 MB")
            self.close_connection = True
        else:
            payload = self.rfile.read(length) if length else b""
            request_headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                request_headers[key] = f"{request_headers[key]},{value}" if key in request_headers else value
            status, headers, body = self.owner.handle(
                self.command, self.path, request_headers, payload, self.client_address[0]
            )
        self.send_response(status)
        for key, value in headers.items():
            if key not in ("content-length", "connection", "transfer-encoding"):
                for line in value.split("\n") if key == "set-cookie" else [value]:
                    self.send_header(key, line)
        self.send_header("content-length", str(len(body)))
        self.send_header("apigw-requestid", uuid.uuid4().hex[:16])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        logger.debug("request", extra={"path": self.path, "status": status, "ms": time.perf_counter() - started})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve
