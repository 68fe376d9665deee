"""The HTTP gateway: what API Gateway (HTTP API, payload format 2.0) does, for the template's routes.

Per request: match the route (literal segments beat parameters, as API Gateway ranks them), call the Lambda
authorizer when the route has one, build the 2.0 event with the authorizer's context, invoke the function
in its own process and turn its result into the HTTP response.

Connections: a listen backlog of ``SOMAXCONN`` (the standard library's default of 5 resets clients that start
together), and deadlines on reading each request (``ReadTimeouts``), so that a client that sends part of its
headers, or less body than its ``Content-Length``, or trickles bytes, cannot hold a thread.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pybase64

from maas.local.functions import InvocationError
from maas.local.provision import RouteSpec
from maas.observability import logger

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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


@dataclass(frozen=True)
class ReadTimeouts:
    """Seconds a client has: to begin its next request on an open connection (``idle``; then the connection is
    closed), and once it began, to send the request line and headers (``headers``) and then the body (``body``).
    Each is a deadline for the whole part, not a limit per read that every byte renews. Past ``headers`` or
    ``body`` the client gets 408 and the connection is closed (a request line cut short is closed unanswered).
    """

    idle: float = 60
    headers: float = 10
    body: float = 60


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = max(socket.SOMAXCONN, 1024)  # the kernel caps it at net.core.somaxconn


class Gateway:
    def __init__(
        self,
        routes: list[RouteSpec],
        invoke: Invoker,
        *,
        host: str,
        port: int,
        stage: str = "$default",
        timeouts: ReadTimeouts | None = None,
    ) -> None:
        self.router = Router(routes)
        self.invoke = invoke
        self.stage = stage
        self.timeouts = timeouts or ReadTimeouts()
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        self.server = _Server((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever: forever, if it never ran
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


class _DeadlineReader(io.RawIOBase):
    """A connection's reads, each given only the time left before ``deadline`` (monotonic), or ``idle`` seconds
    while no deadline is set: a client that trickles bytes cannot renew a per-read timeout forever."""

    def __init__(self, sock: socket.socket, idle: float) -> None:
        super().__init__()
        self._sock = sock
        self._idle = idle
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        timeout = self._idle
        if self.deadline is not None:
            timeout = self.deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError("read deadline passed")
        self._sock.settimeout(timeout)
        return self._sock.recv_into(buffer)


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

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the base class's reader has no deadline: read through one that has
        self._reader = _DeadlineReader(self.connection, self.owner.timeouts.idle)
        self._buffered = io.BufferedReader(self._reader)
        self.rfile = self._buffered

    def handle_one_request(self) -> None:
        self._reader.deadline = None
        try:
            began = self._buffered.peek(1)  # the next request's first byte, within the idle timeout
        except OSError:  # TimeoutError included: an idle connection is closed unanswered
            began = b""
        if not began:
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + self.owner.timeouts.headers
        super().handle_one_request()  # a request line cut short times out in there: closed unanswered

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        except TimeoutError:
            self._time_out(f"the request headers did not arrive within {self.owner.timeouts.headers:g} s")
            return False

    def _time_out(self, message: str) -> None:
        self.close_connection = True
        status, headers, body = _json_error(408, "REQUEST_TIMEOUT", message)
        try:
            self._respond(status, headers, body, close=True)
        except OSError:
            pass  # the client is gone

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
            self._reader.deadline = time.monotonic() + self.owner.timeouts.body
            try:
                payload = self.rfile.read(length) if length else b""
            except TimeoutError:
                seconds = self.owner.timeouts.body
                self._time_out(f"the request body ({length} bytes) did not arrive within {seconds:g} s")
                return
            if len(payload) < length:  # the client closed its side before sending the whole body
                self.close_connection = True
                return
            request_headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                request_headers[key] = f"{request_headers[key]},{value}" if key in request_headers else value
            status, headers, body = self.owner.handle(
                self.command, self.path, request_headers, payload, self.client_address[0]
            )
        self._respond(status, headers, body)
        logger.debug("request", extra={"path": self.path, "status": status, "ms": time.perf_counter() - started})

    def _respond(self, status: int, headers: dict[str, str], body: bytes, *, close: bool = False) -> None:
        self.connection.settimeout(self.owner.timeouts.idle)  # writing: a read's last deadline no longer applies
        self.send_response(status)
        for key, value in headers.items():
            if key not in ("content-length", "connection", "transfer-encoding"):
                for line in value.split("\n") if key == "set-cookie" else [value]:
                    self.send_header(key, line)
        if close:
            self.send_header("connection", "close")
        self.send_header("content-length", str(len(body)))
        self.send_header("apigw-requestid", uuid.uuid4().hex[:16])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # TRACE too: API Gateway answers a method it has no route for with 404, not http.server's 501
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _serve
