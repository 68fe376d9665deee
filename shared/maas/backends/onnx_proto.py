"""Reading an ONNX file's protobuf before any runtime loads it: where its tensors keep their data.

An initializer (or any other tensor) may say ``data_location = EXTERNAL`` and name a file in
``external_data``; onnxruntime then reads that file relative to the model's directory. A tenant's model must
never reach a file that is not its own, so validation walks the whole message and refuses every tensor that
keeps its data outside the model: initializers, sparse initializers, node attributes (one tensor or many),
subgraphs at any depth (``If``, ``Loop``, ``Scan`` bodies), model-local functions and training graphs.

The walk reads the protobuf wire format directly (no ``onnx`` package, nothing loaded, no external data
resolved) and descends only into the fields that can hold a tensor or a graph; everything else is skipped by
its length. Field numbers are those of ``onnx.proto`` (IR version 10 and 11).

    refs = external_tensors(Path("model.onnx").read_bytes())
    # [ExternalTensor(where="graph.initializer[0]", name="w", location="weights.bin")]
"""

from __future__ import annotations

from dataclasses import dataclass

# wire types
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5

# message kinds and, for each, the fields that hold a message we must look into: field -> (kind, label)
_MODEL, _GRAPH, _NODE, _ATTRIBUTE, _TENSOR, _SPARSE, _FUNCTION, _TRAINING = range(8)
_CHILDREN: dict[int, dict[int, tuple[int, str]]] = {
    _MODEL: {7: (_GRAPH, "graph"), 20: (_TRAINING, "training_info"), 25: (_FUNCTION, "functions")},
    _TRAINING: {1: (_GRAPH, "initialization"), 2: (_GRAPH, "algorithm")},
    _GRAPH: {1: (_NODE, "node"), 5: (_TENSOR, "initializer"), 15: (_SPARSE, "sparse_initializer")},
    _NODE: {5: (_ATTRIBUTE, "attribute")},
    _ATTRIBUTE: {
        5: (_TENSOR, "t"),
        6: (_GRAPH, "g"),
        22: (_SPARSE, "sparse_tensor"),
        10: (_TENSOR, "tensors"),
        11: (_GRAPH, "graphs"),
        23: (_SPARSE, "sparse_tensors"),
    },
    _FUNCTION: {7: (_NODE, "node"), 11: (_ATTRIBUTE, "attribute_proto")},
    _SPARSE: {1: (_TENSOR, "values"), 2: (_TENSOR, "indices")},
    _TENSOR: {},
}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_NODE_OP_TYPE = 4
# Nodes that point a runtime at a file of their own (EP context caches with embed_mode=0): never accepted.
_FILE_NODES = {b"EPContext"}
_SINGULAR = {"graph", "initialization", "algorithm", "t", "g", "sparse_tensor", "values", "indices"}
MAX_DEPTH = 64  # protobuf's own default recursion limit is 100; no real model nests graphs this deep


class OnnxProtoError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, or a wire type ONNX never uses)."""


@dataclass(frozen=True)
class ExternalTensor:
    """A tensor whose data is not in the model: where it is in the message, its name, the file it names."""

    where: str
    name: str
    location: str | None
    offset: int | None = None
    length: int | None = None


@dataclass(frozen=True)
class FileNode:
    """A node whose operator reads a file of its own (``EPContext``)."""

    where: str
    op_type: str


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise OnnxProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise OnnxProtoError("varint longer than 10 bytes")


def _fields(data: memoryview) -> list[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) for each field of one message; LEN values as views, never copied."""
    out: list[tuple[int, int, int | memoryview]] = []
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise OnnxProtoError("field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            out.append((number, wire, value))
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise OnnxProtoError("a length-delimited field runs past the end of its message")
            out.append((number, wire, data[pos : pos + length]))
            pos += length
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
            if pos > end:
                raise OnnxProtoError("truncated fixed-width field")
        else:  # groups (3, 4) are not in any ONNX message; unknown wire types are malformed
            raise OnnxProtoError(f"wire type {wire} is not used by ONNX")
    return out


def _text(value: int | memoryview) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, memoryview) else ""


def _entries(entries: list[memoryview]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        key = value = ""
        for number, _, field in _fields(entry):
            if number == _ENTRY_KEY:
                key = _text(field)
            elif number == _ENTRY_VALUE:
                value = _text(field)
        out[key] = value
    return out


def _locations(values: list[int | memoryview]) -> list[int]:
    """``data_location`` values, whether written as a varint or (as a lenient parser accepts) packed."""
    out: list[int] = []
    for value in values:
        if isinstance(value, int):
            out.append(value)
            continue
        pos = 0
        while pos < len(value):
            item, pos = _varint(value, pos)
            out.append(item)
    return out


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


class _Walk:
    def __init__(self) -> None:
        self.external: list[ExternalTensor] = []
        self.file_nodes: list[FileNode] = []

    def message(self, kind: int, data: memoryview, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise OnnxProtoError(f"graphs nest deeper than {MAX_DEPTH} levels")
        children = _CHILDREN[kind]
        counts: dict[int, int] = {}
        fields = _fields(data)
        if kind == _TENSOR:
            self._tensor(fields, where)
            return
        if kind == _NODE:
            for number, _, value in fields:
                if number == _NODE_OP_TYPE and isinstance(value, memoryview) and bytes(value) in _FILE_NODES:
                    self.file_nodes.append(FileNode(where, bytes(value).decode()))
        for number, wire, value in fields:
            child = children.get(number)
            if child is None:
                continue
            if wire != _LEN or not isinstance(value, memoryview):
                raise OnnxProtoError(f"{where}: field {number} should be a message")
            child_kind, label = child
            index = counts.get(number, 0)
            counts[number] = index + 1
            step = label if label in _SINGULAR else f"{label}[{index}]"
            self.message(child_kind, value, f"{where}.{step}" if where else step, depth + 1)

    def _tensor(self, fields: list[tuple[int, int, int | memoryview]], where: str) -> None:
        name = ""
        external_entries: list[memoryview] = []
        locations: list[int | memoryview] = []
        for number, _, value in fields:
            if number == _TENSOR_NAME:
                name = _text(value)
            elif number == _TENSOR_EXTERNAL_DATA and isinstance(value, memoryview):
                external_entries.append(value)
            elif number == _TENSOR_DATA_LOCATION:
                locations.append(value)
        external = any(location != 0 for location in _locations(locations))
        if external or external_entries:
            info = _entries(external_entries)
            self.external.append(
                ExternalTensor(
                    where=where,
                    name=name,
                    location=info.get("location"),
                    offset=_int_or_none(info.get("offset")),
                    length=_int_or_none(info.get("length")),
                )
            )


def scan(model: bytes | memoryview) -> tuple[list[ExternalTensor], list[FileNode]]:
    """Every tensor that keeps its data outside ``model`` and every node that reads a file of its own."""
    walk = _Walk()
    walk.message(_MODEL, memoryview(model), "", 0)
    return walk.external, walk.file_nodes


def external_tensors(model: bytes | memoryview) -> list[ExternalTensor]:
    """Every tensor of the model (anywhere in it) whose data lives in another file."""
    return scan(model)[0]
