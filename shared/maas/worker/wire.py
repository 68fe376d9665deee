"""A small HTTP/1.1 keep-alive server for the worker's HTTP mode: ``ThreadingHTTPServer``'s sockets and threads,
its own request loop (not ``BaseHTTPRequestHandler``: ``email.parser`` for headers and a log call per request
cost about 250 us of server CPU a request on two cores; this loop about 75 us).

The application answers ``get(path)`` and ``post(path, headers, body, announced=...)`` with a ``Response``;
``infer_model(path)`` names the model whose batcher is told that a request body is on its way.
"""

from __future__ import annotations

import re
import socket
import socketserver
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any, Protocol

from maas.api.results import error_result
from maas.errors import InvalidRequestError, MaasError, NotFoundError, PayloadTooLargeError

Response = tuple[int, bytes, bytes, list[tuple[str, str]]]  # status, body, content type, extra headers
KEEP_ALIVE_SECONDS = 120  # longer than SageMaker's and load balancers' idle timeouts (60 s)

_JSON = b"application/json"
_MAX_LINE = 16 * 1024
_MAX_HEADERS = 100
_LINGER_SECONDS = 2
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class App(Protocol):
    max_request_bytes: int

    def get(self, path: str) -> Response: ...

    def post(self, path: str, headers: dict[bytes, bytes], body: bytes, *, announced: bool) -> Response: ...

    def infer_model(self, path: str) -> Any: ...


_date: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    global _date  # noqa: PLW0603 - one cached value per second, rebound atomically
    now = int(time.time())
    if now != _date[0]:
        _date = (now, formatdate(now, usegmt=True).encode())
    return _date[1]


class _Closing(Exception):
    """The connection cannot carry another request (malformed framing, a body left unread, the client left)."""


class _Connection(socketserver.StreamRequestHandler):
    """One client connection: requests one after another (keep-alive), each answer with its Content-Length."""

    disable_nagle_algorithm = True
    timeout = KEEP_ALIVE_SECONDS
    server: HttpServer

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except (OSError, _Closing):
            pass

    def _one_request(self) -> bool:
        line = self.rfile.readline(_MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):  # a stray empty line between requests is tolerated (RFC 9112 2.2)
            line = self.rfile.readline(_MAX_LINE + 1)
        if not line:
            return False
        parts = line.split()
        if len(line) > _MAX_LINE or len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return self._fail(InvalidRequestError("malformed HTTP request line"))
        method, target, version = parts
        headers = self._read_headers()
        keep_alive = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
        path = target.split(b"?", 1)[0].decode("latin-1")
        app = self.server.app
        try:
            length, chunked = self._framing(headers, app.max_request_bytes)
        except MaasError as exc:
            return self._fail(exc)
        try:
            if method in (b"GET", b"HEAD"):
                self._read_body(length, chunked, headers, app.max_request_bytes)
                response = app.get(path)
            elif method == b"POST":
                model = app.infer_model(path)
                if model is not None:  # its body is on its way: the batcher waits for it rather than run alone
                    model.batcher.announce()
                try:
                    payload = self._read_body(length, chunked, headers, app.max_request_bytes)
                except BaseException:
                    if model is not None:
                        model.batcher.withdraw()
                    raise
                response = app.post(path, headers, payload, announced=model is not None)
            else:
                self._read_body(length, chunked, headers, app.max_request_bytes)
                raise NotFoundError(f"no route {method.decode('latin-1')} {path}")
        except (_Closing, OSError):
            raise
        except Exception as exc:  # MaasError: its status; anything else: 500
            response = self._error(exc)
        self._send(response, keep_alive=keep_alive, head_only=method == b"HEAD")
        return keep_alive

    def _read_headers(self) -> dict[bytes, bytes]:
        headers: dict[bytes, bytes] = {}
        for _ in range(_MAX_HEADERS):
            line = self.rfile.readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return headers
            name, colon, value = line.partition(b":")
            if not colon or len(line) > _MAX_LINE or not name or name[:1] in b" \t" or name[-1:] in b" \t":
                self._fail(InvalidRequestError("malformed HTTP header"))
                raise _Closing
            key = name.lower()
            if key in headers and key in (b"content-length", b"transfer-encoding"):
                self._fail(InvalidRequestError(f"more than one {key.decode()} header"))
                raise _Closing
            headers[key] = value.strip()
        self._fail(InvalidRequestError(f"more than {_MAX_HEADERS} headers"))
        raise _Closing

    def _framing(self, headers: dict[bytes, bytes], limit: int) -> tuple[int, bool]:
        encoding = headers.get(b"transfer-encoding")
        if encoding is not None:
            if b"content-length" in headers or encoding.lower() != b"chunked":
                raise InvalidRequestError("only Transfer-Encoding: chunked is supported, and not with Content-Length")
            return 0, True
        raw = headers.get(b"content-length", b"0")
        if not raw.isdigit():
            raise InvalidRequestError("Content-Length must be a non-negative integer")
        length = int(raw)
        if length > limit:
            raise PayloadTooLargeError(f"the request is {length} bytes; the limit is {limit}")
        return length, False

    def _read_body(self, length: int, chunked: bool, headers: dict[bytes, bytes], limit: int) -> bytes:
        if (length or chunked) and headers.get(b"expect", b"").lower() == b"100-continue":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            return self._read_chunked(limit)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise _Closing
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_field = self.rfile.readline(_MAX_LINE + 1).split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_field):
                self._fail(InvalidRequestError("malformed chunked body"))
                raise _Closing
            size = int(size_field, 16)
            if size == 0:
                while self.rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):  # trailers, ignored
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                self._fail(PayloadTooLargeError(f"the request is over the {limit} byte limit"))
                raise _Closing
            chunk = self.rfile.read(size + 2)
            if len(chunk) != size + 2 or chunk[size:] != b"\r\n":
                raise _Closing
            parts.append(chunk[:size])

    def _error(self, exc: Exception) -> Response:
        result = error_result(exc)  # MaasError -> its status and body; anything else -> 500, logged
        extra = [(name, value) for name, value in result["headers"].items() if name.lower() != "content-type"]
        return result["statusCode"], result["body"].encode(), _JSON, extra

    def _fail(self, exc: Exception) -> bool:
        """Answer an error and close: what follows on the connection cannot be trusted to be a request."""
        self._send(self._error(exc), keep_alive=False)
        self._linger()
        return False

    def _linger(self) -> None:
        """Read what the client still sends before closing: closing on unread data resets the connection, and
        the client would lose the answer (HTTP/1.1's "lingering close", as nginx and Apache do)."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_LINGER_SECONDS)
            deadline = time.monotonic() + _LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass
        except OSError:
            pass

    def _send(self, response: Response, *, keep_alive: bool, head_only: bool = False) -> None:
        status, body, content_type, extra = response
        head = b"HTTP/1.1 %d %s\r\nServer: maas-worker\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            status,
            _REASONS.get(status, b"Unknown"),
            _http_date(),
            content_type,
            len(body),
        )
        for name, value in extra:
            head += f"{name}: {value}\r\n".encode("latin-1")
        head += b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        if head_only:
            self.connection.sendall(head)
        elif len(body) <= 256 * 1024:
            self.connection.sendall(head + body)  # one segment for the common small answer
        else:
            self.connection.sendall(head)
            self.connection.sendall(body)


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: a burst of new connections waits instead of being refused

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, _Connection)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also resolves the host's FQDN, which can wait seconds on DNS for nothing here
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
