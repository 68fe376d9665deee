"""The Open Inference Protocol v2 on the wire: JSON, and the binary tensor extension.

Requests: ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "parameters"?, "data"?}],
"outputs"?: [{"name", "parameters"?}]}``. With the binary extension the body is the JSON header
(``Inference-Header-Content-Length`` bytes) followed by the raw tensors of the inputs that carry
``parameters.binary_data_size``, in input order. Responses mirror that: outputs asked for with
``parameters.binary_data`` (or the request parameter ``binary_data_output``) travel as raw bytes after the JSON.

Raw layouts are Triton's: little-endian row-major elements; BOOL one byte each; BYTES each element as a 4-byte
little-endian length then its bytes.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from maas.datatypes import is_oip_datatype, to_numpy
from maas.errors import InvalidRequestError

HEADER_LENGTH = "inference-header-content-length"
MAX_DIMS = 64  # numpy's limit on an array's dimensions
_MAX_ARRAY_BYTES = int(np.iinfo(np.intp).max)

# KServe's REST client (0.21) names the model in the body too; the URL decides which model runs, these are only checked
_FIELDS = {"id", "parameters", "inputs", "outputs", "model_name", "model_version"}
_INPUT_FIELDS = {"name", "shape", "datatype", "parameters", "data"}
_OUTPUT_FIELDS = {"name", "parameters"}


@dataclass
class InputTensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    id: str | None
    parameters: dict[str, Any]
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None
    binary_outputs: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _bad(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _shape(name: str, value: Any, datatype: str) -> tuple[int, ...]:
    """The shape, if numpy can hold an array of it: at most ``MAX_DIMS`` dimensions, and bytes that ``intp`` can
    count (numpy refuses a shape whose non-zero dimensions overflow, even when another dimension is zero)."""
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise _bad(f"input '{name}': shape must be a list of integers")
    if len(value) > MAX_DIMS:
        raise _bad(f"input '{name}': shape has {len(value)} dimensions; at most {MAX_DIMS}")
    if any(d < 0 for d in value):
        raise _bad(f"input '{name}': shape {value} has a negative dimension")
    size = to_numpy(datatype).itemsize
    for dim in value:
        size *= max(dim, 1)
        if size > _MAX_ARRAY_BYTES:
            raise _bad(f"input '{name}': shape {value} is too large for any array")
    return tuple(value)


def _from_json_data(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    count = math.prod(shape)
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        flat = _flatten_bytes(name, data)
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        try:
            array = np.asarray(data)
        except (ValueError, TypeError):
            raise _bad(
                f"input '{name}': data is not a regular array of numbers (ragged, or nested over {MAX_DIMS} deep?)"
            ) from None
        kind = array.dtype.kind
        if datatype == "BOOL":
            if kind != "b" and array.size:
                raise _bad(f"input '{name}': BOOL data must be true or false")
        elif kind not in "biuf" and array.size:
            raise _bad(f"input '{name}': {datatype} data must be numbers, got {_describe_kind(kind)}")
        target = to_numpy(datatype)
        if target.kind in "iu" and kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
            raise _bad(f"input '{name}': {datatype} data must be integers")
        if target.kind in "iu" and array.size:
            info = np.iinfo(target)
            # as Python ints: numpy cannot compare a bool or int64 scalar with UINT64's maximum (OverflowError)
            if int(array.min()) < info.min or int(array.max()) > info.max:
                raise _bad(f"input '{name}': a value is outside the range of {datatype}")
        array = array.astype(target, copy=False)
    if array.size != count:
        raise _bad(f"input '{name}': shape {list(shape)} needs {count} elements, data has {array.size}")
    return array.reshape(shape)


def _describe_kind(kind: str) -> str:
    return {"U": "strings", "S": "bytes", "O": "objects or nulls"}.get(kind, f"dtype kind {kind}")


def _flatten_bytes(name: str, data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if not isinstance(item, str):
                raise _bad(f"input '{name}': BYTES data must be strings")
            out.append(item)
        else:
            stack.pop()
    return out


def _from_raw(name: str, datatype: str, shape: tuple[int, ...], raw: memoryview) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        items: list[str] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise _bad(f"input '{name}': truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise _bad(f"input '{name}': truncated BYTES element")
            try:
                items.append(bytes(raw[offset : offset + length]).decode("utf-8"))
            except UnicodeDecodeError:
                raise _bad(f"input '{name}': BYTES element is not UTF-8 text") from None
            offset += length
        if len(items) != count:
            raise _bad(f"input '{name}': shape {list(shape)} needs {count} elements, binary data has {len(items)}")
        array = np.empty(count, dtype=object)
        array[:] = items
        return array.reshape(shape)
    dtype = to_numpy(datatype).newbyteorder("<") if datatype != "BOOL" else np.dtype(np.bool_)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise _bad(
            f"input '{name}': shape {list(shape)} of {datatype} needs {expected} bytes, binary data has {len(raw)}"
        )
    if datatype == "BOOL":
        array = np.frombuffer(raw, dtype=np.uint8)
        if array.size and array.max() > 1:
            raise _bad(f"input '{name}': BOOL bytes must be 0 or 1")
        return array.view(np.bool_).reshape(shape)
    array = np.frombuffer(raw, dtype=dtype)
    if not array.flags.aligned:  # tensors follow a JSON header of any length; onnxruntime wants aligned data
        array = array.copy()
    return array.reshape(shape)


def parse_request(body: str | bytes, header_length: int | None = None) -> InferRequest:
    """Decode an infer request body (JSON, or JSON header + binary tensors) into arrays."""
    if header_length is not None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        if header_length < 0 or header_length > len(body):
            raise _bad(f"Inference-Header-Content-Length {header_length} does not fit a {len(body)} byte body")
        header_bytes, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        header_bytes, binary = body, memoryview(b"")  # type: ignore[assignment]
    try:
        doc = orjson.loads(header_bytes)
    except orjson.JSONDecodeError:
        raise _bad("the request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _bad("the request body must be a JSON object")
    unknown = set(doc) - _FIELDS
    if unknown:
        raise _bad(f"unknown field(s) {sorted(unknown)}; an infer request has id, parameters, inputs, outputs")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad("id must be a string")
    for named in ("model_name", "model_version"):
        if doc.get(named) is not None and not isinstance(doc[named], str):
            raise _bad(f"{named} must be a string")
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _bad("parameters must be an object")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _bad("inputs must be a non-empty list")

    inputs: list[InputTensor] = []
    seen: set[str] = set()
    offset = 0
    for raw_input in raw_inputs:
        if not isinstance(raw_input, dict):
            raise _bad("each input must be an object with name, shape, datatype and data")
        name = raw_input.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("each input needs a name")
        if name in seen:
            raise _bad(f"input '{name}' appears twice")
        seen.add(name)
        extra = set(raw_input) - _INPUT_FIELDS
        if extra:
            raise _bad(f"input '{name}': unknown field(s) {sorted(extra)}")
        datatype = raw_input.get("datatype")
        if not isinstance(datatype, str) or not is_oip_datatype(datatype):
            raise _bad(f"input '{name}': datatype {datatype!r} is not an Open Inference Protocol datatype")
        shape = _shape(name, raw_input.get("shape"), datatype)
        input_parameters = raw_input.get("parameters") or {}
        if not isinstance(input_parameters, dict):
            raise _bad(f"input '{name}': parameters must be an object")
        size = input_parameters.get("binary_data_size")
        if size is not None:
            if "data" in raw_input:
                raise _bad(f"input '{name}': has both data and binary_data_size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
                raise _bad(f"input '{name}': binary_data_size {size} does not fit the binary data sent")
            array = _from_raw(name, datatype, shape, binary[offset : offset + size])
            offset += size
        elif "data" in raw_input:
            array = _from_json_data(name, datatype, shape, raw_input["data"])
        else:
            raise _bad(f"input '{name}': needs data (or parameters.binary_data_size with binary data)")
        inputs.append(InputTensor(name, datatype, shape, array))
    if offset != len(binary):
        raise _bad(f"{len(binary) - offset} bytes of binary data are not claimed by any input")

    binary_outputs = bool(parameters.get("binary_data_output", False))
    outputs: list[RequestedOutput] | None = None
    if doc.get("outputs") is not None:
        if not isinstance(doc["outputs"], list):
            raise _bad("outputs must be a list")
        outputs = []
        for item in doc["outputs"]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise _bad("each requested output must be an object with a name")
            extra = set(item) - _OUTPUT_FIELDS
            if extra:
                raise _bad(f"output '{item['name']}': unknown field(s) {sorted(extra)}")
            output_parameters = item.get("parameters") or {}
            if not isinstance(output_parameters, dict):
                raise _bad(f"output '{item['name']}': parameters must be an object")
            binary_flag = output_parameters.get("binary_data", binary_outputs)
            outputs.append(RequestedOutput(item["name"], bool(binary_flag)))
    return InferRequest(request_id, parameters, inputs, outputs, binary_outputs)


def _raw_bytes(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return b"".join(parts)
    if datatype == "BOOL":
        return np.ascontiguousarray(array, dtype=np.bool_).tobytes()
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _json_data(datatype: str, array: np.ndarray) -> Any:
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in flat]
    if datatype == "FP16":
        return flat.astype(np.float32)
    return np.ascontiguousarray(flat)


def encode_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: list[tuple[str, str, np.ndarray, bool]],
) -> tuple[bytes, int | None]:
    """Encode ``(name, datatype, array, binary)`` outputs; returns (body, JSON header length or None)."""
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, datatype, array, binary in outputs:
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = _raw_bytes(datatype, array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = _json_data(datatype, array)
        entries.append(entry)
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        document["id"] = request_id
    document["outputs"] = entries
    try:
        header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:  # NaN and infinity have no JSON form: fall back to null, as Triton does
        header = orjson.dumps(_with_lists(document))
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def _with_lists(document: dict[str, Any]) -> dict[str, Any]:
    for entry in document["outputs"]:
        if isinstance(entry.get("data"), np.ndarray):
            entry["data"] = [
                None if isinstance(x, float) and not math.isfinite(x) else x for x in entry["data"].tolist()
            ]
    return document
