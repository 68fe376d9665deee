"""The local gateway's connections over real sockets on 127.0.0.1: a backlog that takes many clients at once,
and deadlines that cut off clients who never finish their request (no thread is held forever).

No assertion is on a duration: each test asserts what the server did (answered 408, closed the connection,
accepted the connection), with client timeouts far longer than the server's deadlines, so that a server that
never cuts a client off fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from maas.local.gateway import Gateway, ReadTimeouts
from maas.local.provision import RouteSpec

ROUTES = [RouteSpec("GET", "/v2/health/live", "Health", None), RouteSpec("POST", "/v1/echo", "Echo", None)]
TIMEOUTS = ReadTimeouts(idle=2, headers=1, body=1)
CLIENT_TIMEOUT = 30  # far past every server deadline above


def answer(function: str, event: dict[str, Any]) -> dict[str, Any]:
    body = event.get("body", "") if function == "Echo" else '{"live": true}'
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gateway = Gateway(ROUTES, answer, host="127.0.0.1", port=0, timeouts=TIMEOUTS)
    gateway.start()
    yield gateway
    gateway.stop()


def connect(gateway: Gateway) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.server.server_address[1]), timeout=CLIENT_TIMEOUT)
    sock.settimeout(CLIENT_TIMEOUT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a client timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One response on a kept-alive connection: its head, then Content-Length bytes of body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed before a response"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status_and_body(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


GET = b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\n\r\n"


def test_a_complete_request_is_answered_and_the_connection_kept_alive(gateway: Gateway) -> None:
    with connect(gateway) as sock:
        for _ in range(2):
            sock.sendall(GET)
            response = read_response(sock)
            assert response.startswith(b"HTTP/1.1 200 ")
            assert response.endswith(b'{"live": true}')


def test_partial_headers_get_408_and_the_connection_is_closed(gateway: Gateway) -> None:
    # Given a client that sends its request line and one header, then nothing more
    with connect(gateway) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\n")
        # Then the gateway answers 408 and closes the connection
        response = read_until_closed(sock)
    status, body = status_and_body(response)
    assert status == 408
    assert body["code"] == "REQUEST_TIMEOUT"
    assert "headers" in body["error"]
    assert b"\r\nconnection: close\r\n" in response.lower()


def test_a_body_shorter_than_its_content_length_gets_408_and_is_closed(gateway: Gateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"POST /v1/echo HTTP/1.1\r\nHost: local\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        response = read_until_closed(sock)
    status, body = status_and_body(response)
    assert status == 408
    assert body["code"] == "REQUEST_TIMEOUT"
    assert "body (100 bytes)" in body["error"]


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline(gateway: Gateway) -> None:
    # Given a client that sends its request line, then keeps sending one header byte every 50 ms, for up to 600
    # bytes (30 s, far past the 1 s deadline): each byte would renew a timeout per read
    trickle = b"X-Slow: " + b"a" * 600
    response = b""
    with connect(gateway) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\n")
        sock.settimeout(0.05)
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
                response = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # the server closed the connection while bytes were still coming
                pass
            break
        response += drain(sock)
    # Then the gateway answered 408 before the client was done (these headers never end)
    status, body = status_and_body(response)
    assert (status, body["code"]) == (408, "REQUEST_TIMEOUT")


def drain(sock: socket.socket) -> bytes:
    """What is left to read until the server closes or resets the connection."""
    sock.settimeout(CLIENT_TIMEOUT)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return received


def test_a_request_line_cut_short_is_closed_unanswered(gateway: Gateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /v2/heal")
        assert read_until_closed(sock) == b""


def test_an_idle_connection_is_closed(gateway: Gateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(GET)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        # nothing more is sent: the gateway closes the connection after its idle timeout
        assert read_until_closed(sock) == b""


def test_a_stalled_client_does_not_hold_up_the_others(gateway: Gateway) -> None:
    stalled = [connect(gateway) for _ in range(20)]
    for sock in stalled:
        sock.sendall(b"POST /v1/echo HTTP/1.1\r\nHost: local\r\nContent-Length: 5\r\n\r\n")
    try:
        with connect(gateway) as sock:
            sock.sendall(GET)
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        for sock in stalled:
            assert status_and_body(read_until_closed(sock))[0] == 408
    finally:
        for sock in stalled:
            sock.close()


def test_two_hundred_clients_connecting_at_once_are_all_accepted_and_served() -> None:
    # Given a gateway that has not started accepting yet (as when every client arrives in the same instant)
    gateway = Gateway(ROUTES, answer, host="127.0.0.1", port=0, timeouts=TIMEOUTS)
    port = gateway.server.server_address[1]
    clients: list[socket.socket] = []
    try:
        # When 200 clients connect: the kernel queues each one in the listen backlog (with the standard library's
        # backlog of 5, the 7th connect already waits for SYN retries and fails)
        for _ in range(200):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for sock in clients:
            sock.settimeout(CLIENT_TIMEOUT)
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
        gateway.start()
        # Then every one of them is answered
        statuses = [status_and_body(read_until_closed(sock))[0] for sock in clients]
        assert statuses == [200] * 200
    finally:
        for sock in clients:
            sock.close()
        gateway.stop()


def test_two_hundred_clients_starting_together_all_get_answers(gateway: Gateway) -> None:
    port = gateway.server.server_address[1]
    start = threading.Barrier(200)
    results: list[int | str] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
                sock.settimeout(CLIENT_TIMEOUT)
                sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
                outcome: int | str = status_and_body(read_until_closed(sock))[0]
        except OSError as error:
            outcome = type(error).__name__
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CLIENT_TIMEOUT * 2)
    assert results == [200] * 200


def test_the_deadlines_are_per_request_not_per_connection() -> None:
    # Given a keep-alive connection whose requests are each complete, with pauses between them that add up to
    # more than the headers deadline (and stay far within the idle timeout)
    gateway = Gateway(ROUTES, answer, host="127.0.0.1", port=0, timeouts=ReadTimeouts(idle=30, headers=1, body=1))
    gateway.start()
    try:
        with connect(gateway) as sock:
            for _ in range(3):
                sock.sendall(GET)
                # Then every request is answered: the deadline starts with each request's first byte
                assert read_response(sock).startswith(b"HTTP/1.1 200 ")
                time.sleep(1.5)
    finally:
        gateway.stop()
