"""numpy arrays in and out of the Open Inference Protocol v2, as JSON or with the binary tensor extension.

Binary layout (Triton's): the JSON header (``Inference-Header-Content-Length`` bytes), then each binary tensor's
raw bytes in order: little-endian row-major elements; BOOL one byte each; BYTES each element as a 4-byte
little-endian length and its bytes. numpy is imported here only: ``pip install maas-client[numpy]``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from maas_client.errors import MaasError

if TYPE_CHECKING:  # numpy is an optional extra
    import numpy as np

_DTYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise MaasError("numpy is needed for arrays: pip install 'maas-client[numpy]'") from None
    return numpy


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype of an array: FP32 for float32, BYTES for strings and bytes, ..."""
    np = _numpy()
    if array.dtype.kind in ("U", "S", "O"):
        return "BYTES"
    for name, dtype in _DTYPES.items():
        if array.dtype == np.dtype(dtype):
            return name
    raise MaasError(f"no Open Inference Protocol datatype holds {array.dtype}")


def _raw(datatype: str, array: np.ndarray) -> bytes:
    np = _numpy()
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts += [struct.pack("<I", len(data)), data]
        return b"".join(parts)
    dtype = np.dtype(_DTYPES[datatype])
    if datatype != "BOOL":
        dtype = dtype.newbyteorder("<")
    return bytes(np.ascontiguousarray(array, dtype=dtype).tobytes())


def _json_data(datatype: str, array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in flat]
    return list(flat.tolist())


def encode_inputs(
    inputs: Mapping[str, Any],
    *,
    binary: bool,
    outputs: Optional[Sequence[str]] = None,
    request_id: Optional[str] = None,
    parameters: Optional[Mapping[str, Any]] = None,
) -> tuple[bytes, Optional[int]]:
    """``{"x": ndarray}`` -> an infer request body, and its JSON header length when ``binary``."""
    np = _numpy()
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, value in inputs.items():
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        datatype = datatype_of(array)
        entry: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if binary:
            raw = _raw(datatype, array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = _json_data(datatype, array)
        entries.append(entry)
    document: dict[str, Any] = {"inputs": entries}
    if request_id is not None:
        document["id"] = request_id
    params: dict[str, Any] = dict(parameters or {})
    if binary:
        params["binary_data_output"] = True
    if params:
        document["parameters"] = params
    if outputs is not None:
        document["outputs"] = [{"name": o, "parameters": {"binary_data": binary}} for o in outputs]
    header = json.dumps(document, separators=(",", ":")).encode()
    if not binary:
        return header, None
    return header + b"".join(blobs), len(header)


def decode_outputs(document: Mapping[str, Any], raw: bytes = b"") -> dict[str, np.ndarray]:
    """An infer response (its JSON, and the raw bytes after it) -> ``{"name": ndarray}``."""
    np = _numpy()
    found: dict[str, Any] = {}
    offset = 0
    for entry in document.get("outputs") or []:
        name, datatype, shape = entry["name"], entry["datatype"], tuple(entry["shape"])
        size = (entry.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            chunk = raw[offset : offset + int(size)]
            offset += int(size)
            found[name] = _from_raw(np, datatype, shape, chunk)
        elif datatype == "BYTES":
            array = np.empty(len(entry["data"]), dtype=object)
            array[:] = entry["data"]
            found[name] = array.reshape(shape)
        else:
            data = [float("nan") if x is None else x for x in entry.get("data") or []]
            found[name] = np.asarray(data, dtype=_DTYPES[datatype]).reshape(shape)
    return found


def _from_raw(np: Any, datatype: str, shape: tuple[int, ...], chunk: bytes) -> Any:
    if datatype == "BYTES":
        items: list[bytes] = []
        offset = 0
        while offset < len(chunk):
            (length,) = struct.unpack_from("<I", chunk, offset)
            items.append(bytes(chunk[offset + 4 : offset + 4 + length]))
            offset += 4 + length
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)
    dtype = np.dtype(_DTYPES[datatype])
    if datatype != "BOOL":
        dtype = dtype.newbyteorder("<")
    return np.frombuffer(bytes(chunk), dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
