"""Open Inference Protocol v2 datatypes and their numpy and onnxruntime counterparts."""

from __future__ import annotations

from typing import Literal

import numpy as np

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]

# onnxruntime reports element types as "tensor(<onnx type>)".
_ORT_TO_OIP: dict[str, Datatype] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
}

_OIP_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}


class UnsupportedTypeError(ValueError):
    """An ONNX type with no OIP v2 counterpart (sequences, maps, bfloat16, ...)."""


def from_onnxruntime(ort_type: str) -> Datatype:
    """Map an onnxruntime type string to its OIP v2 datatype.

    >>> from_onnxruntime("tensor(float)")
    'FP32'
    """
    if not (ort_type.startswith("tensor(") and ort_type.endswith(")")):
        raise UnsupportedTypeError(f"{ort_type} is not a tensor; only tensor inputs and outputs are served")
    inner = ort_type[len("tensor(") : -1]
    try:
        return _ORT_TO_OIP[inner]
    except KeyError:
        raise UnsupportedTypeError(f"tensor element type {inner} has no Open Inference Protocol datatype") from None


def to_numpy(datatype: str) -> np.dtype:
    """The numpy dtype that holds a tensor of this OIP v2 datatype (object for BYTES)."""
    return _OIP_TO_NUMPY[datatype]


def is_oip_datatype(name: str) -> bool:
    return name in _OIP_TO_NUMPY
