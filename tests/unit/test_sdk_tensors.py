"""The SDK's numpy codec against the server's own (``maas.inference.protocol``): what one writes the other reads,
as JSON and with the binary tensor extension, for every datatype."""

from __future__ import annotations

import json

import numpy as np
import pytest
from maas_client.errors import MaasError
from maas_client.tensors import datatype_of, decode_outputs, encode_inputs

from maas.inference.protocol import encode_response, parse_request

ARRAYS = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.arange(6, dtype=np.uint8).reshape(2, 3),
    "UINT16": np.array([1, 65535], dtype=np.uint16),
    "UINT32": np.array([4_000_000_000], dtype=np.uint32),
    "UINT64": np.array([2**63 + 5], dtype=np.uint64),
    "INT8": np.array([-128, 127], dtype=np.int8),
    "INT16": np.array([-3, 3], dtype=np.int16),
    "INT32": np.array([[-1, 2], [3, -4]], dtype=np.int32),
    "INT64": np.array([-(2**62)], dtype=np.int64),
    "FP16": np.array([0.5, -1.25], dtype=np.float16),
    "FP32": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4),
    "FP64": np.array([1e-300, 3.5], dtype=np.float64),
}


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("datatype", sorted(ARRAYS))
def test_inputs_the_sdk_encodes_are_the_arrays_the_server_reads(datatype: str, binary: bool) -> None:
    array = ARRAYS[datatype]

    body, header_length = encode_inputs({"x": array}, binary=binary)
    request = parse_request(body, header_length)

    (tensor,) = request.inputs
    assert tensor.datatype == datatype
    assert tensor.array.shape == array.shape
    np.testing.assert_array_equal(tensor.array, array)
    assert request.binary_outputs is binary


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("datatype", sorted(ARRAYS))
def test_outputs_the_server_encodes_are_the_arrays_the_sdk_returns(datatype: str, binary: bool) -> None:
    array = ARRAYS[datatype]

    body, header_length = encode_response("m", "1", None, [("y", datatype, array, binary)])
    if header_length is None:
        decoded = decode_outputs(json.loads(body))
    else:
        decoded = decode_outputs(json.loads(body[:header_length]), body[header_length:])

    assert decoded["y"].dtype == array.dtype
    np.testing.assert_array_equal(decoded["y"], array)


@pytest.mark.parametrize("binary", [False, True])
def test_strings_travel_as_bytes_tensors(binary: bool) -> None:
    words = np.array(["a", "héllo", ""], dtype=object)

    body, header_length = encode_inputs({"s": words}, binary=binary)
    (tensor,) = parse_request(body, header_length).inputs

    assert tensor.datatype == "BYTES"
    assert list(tensor.array) == ["a", "héllo", ""]


def test_a_dtype_with_no_oip_datatype_is_a_clear_error() -> None:
    with pytest.raises(MaasError, match="complex128"):
        datatype_of(np.array([1j]))
