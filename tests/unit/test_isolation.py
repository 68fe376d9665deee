"""The unit suite runs without a network: this proves the guard is on."""

from __future__ import annotations

import socket

import pytest
import pytest_socket


@pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")
def test_opening_an_internet_socket_is_refused() -> None:
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_unix_sockets_stay_available() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    try:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"
    finally:
        left.close()
        right.close()
