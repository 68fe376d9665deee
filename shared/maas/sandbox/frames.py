"""Messages between a worker and its model host: a JSON header, then raw tensor bytes, over a unix socket.

One frame: 8 bytes (header length, body length, little-endian u32 each), the header (JSON: ``op`` and, for
tensors, ``[{name, dtype, shape}]``), then each tensor's bytes in that order, C-contiguous. Sent with one
``sendmsg`` of all the buffers and read straight into the arrays that will hold them: no pickling, no copy
into an intermediate bytes object. Numeric and boolean tensors cross as bytes; string tensors (ONNX ``string``,
small by nature: smoke inputs) as a JSON list in the header; nothing else crosses.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any

import numpy as np

_PREFIX = struct.Struct("<II")
MAX_HEADER_BYTES = 1024 * 1024
MAX_DIMS = 32
MAX_DIM = 1 << 40  # beside a zero, a larger dimension would still overflow numpy's index type
_DTYPES = {
    np.dtype(name).str: np.dtype(name)
    for name in (
        "bool",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "float32",
        "float64",
    )
}


class FrameError(RuntimeError):
    """The peer sent something that is not a frame, or went away."""


def _array(value: Any) -> np.ndarray:
    array = np.ascontiguousarray(value)
    if array.dtype.str not in _DTYPES and array.dtype.kind not in "OUS":
        raise FrameError(f"tensors of dtype {array.dtype} cannot cross the sandbox")
    return array


def _spec(name: str, array: np.ndarray) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "dtype": array.dtype.str, "shape": list(array.shape)}
    if array.dtype.kind in "OUS":
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        spec.update(dtype="str", values=values)
    return spec


def send(sock: socket.socket, header: dict[str, Any], tensors: dict[str, Any] | None = None) -> None:
    arrays = {name: _array(value) for name, value in (tensors or {}).items()}
    header = {**header, "tensors": [_spec(n, a) for n, a in arrays.items()]}
    encoded = json.dumps(header).encode()
    if len(encoded) > MAX_HEADER_BYTES:
        raise FrameError("the frame's header is over the limit (string tensors are too large)")
    arrays = {n: a for n, a in arrays.items() if a.dtype.kind not in "OUS"}
    body = sum(a.nbytes for a in arrays.values())
    buffers: list[Any] = [_PREFIX.pack(len(encoded), body), encoded]
    buffers += [_bytes_of(a) for a in arrays.values() if a.nbytes]
    _sendall(sock, buffers)


def _bytes_of(array: np.ndarray) -> memoryview:
    return memoryview(array.reshape(-1).view(np.uint8))  # type: ignore[arg-type]


def _sendall(sock: socket.socket, buffers: list[Any]) -> None:
    views = [memoryview(b).cast("B") if not isinstance(b, bytes) else memoryview(b) for b in buffers]
    while views:
        sent = sock.sendmsg(views[:512])
        while sent and views:
            if sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    while len(view):
        got = sock.recv_into(view)
        if got == 0:
            raise FrameError("the peer closed the connection")
        view = view[got:]


def recv(sock: socket.socket, *, max_body_bytes: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    prefix = bytearray(_PREFIX.size)
    _recv_into(sock, memoryview(prefix))
    header_length, body_length = _PREFIX.unpack(prefix)
    if header_length > MAX_HEADER_BYTES or body_length > max_body_bytes:
        raise FrameError(f"a frame of {header_length} + {body_length} bytes is over the limit")
    raw = bytearray(header_length)
    _recv_into(sock, memoryview(raw))
    try:
        header = json.loads(raw)
        specs = header.pop("tensors")
        strings = {
            str(s["name"]): (tuple(int(d) for d in s["shape"]), s["values"]) for s in specs if s["dtype"] == "str"
        }
        shapes = [
            (str(s["name"]), _DTYPES[s["dtype"]], tuple(int(d) for d in s["shape"]))
            for s in specs
            if s["dtype"] != "str"
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise FrameError("a malformed frame header") from exc
    all_shapes = [shape for _, _, shape in shapes] + [shape for shape, _ in strings.values()]
    if any(len(shape) > MAX_DIMS or any(d < 0 or d > MAX_DIM for d in shape) for shape in all_shapes):
        raise FrameError("a tensor shape in the frame is out of range")
    # exact integers: numpy's product would wrap around (2**32 * 2**32 == 0) and let a peer claim an empty body
    expected = sum(math.prod(shape) * dtype.itemsize for _, dtype, shape in shapes)
    if expected != body_length:
        raise FrameError("the frame's tensors do not add up to its body")
    tensors: dict[str, np.ndarray] = {}
    for name, (shape, values) in strings.items():
        try:
            tensors[name] = np.array([str(v) for v in values], dtype=object).reshape(shape)
        except ValueError as exc:
            raise FrameError("a string tensor's values do not fit its shape") from exc
    for name, dtype, shape in shapes:
        array = np.empty(shape, dtype=dtype)
        if array.nbytes:
            _recv_into(sock, _bytes_of(array))
        tensors[name] = array
    return header, tensors
