"""An Open Inference Protocol request encoder for the tests, written apart from ``maas.inference.protocol``
so that the codec is checked against an independent oracle rather than against itself."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def binary_body(
    inputs: list[tuple[str, str, np.ndarray]], outputs: list[dict[str, Any]] | None = None
) -> tuple[bytes, int]:
    """(body, JSON header length) carrying every input as raw little-endian bytes after the header."""
    header: dict[str, Any] = {"inputs": []}
    blobs = []
    for name, datatype, array in inputs:
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header["inputs"].append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    if outputs is not None:
        header["outputs"] = outputs
    text = json.dumps(header).encode()
    return text + b"".join(blobs), len(text)


def binary_outputs(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "parameters": {"binary_data": True}} for name in names]
