"""The OIP v2 codec: JSON and binary tensors in, arrays out; arrays in, JSON and binary out."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maas.errors import InvalidRequestError
from maas.inference.protocol import encode_response, parse_request

from tests.oip import binary_body

NUMERIC = {
    "FP32": np.float32,
    "FP64": np.float64,
    "FP16": np.float16,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
}

shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(NUMERIC)), shapes, st.data())
def test_binary_tensors_round_trip_exactly(datatype: str, shape: list[int], data: st.DataObject) -> None:
    array = data.draw(hnp.arrays(NUMERIC[datatype], tuple(shape)))
    body, length = binary_body([("x", datatype, array)])

    request = parse_request(body, length)

    (tensor,) = request.inputs
    assert tensor.shape == tuple(shape)
    np.testing.assert_array_equal(tensor.array, array)
    encoded, header = encode_response("m", "1", None, [("x", datatype, tensor.array, True)])
    assert header is not None
    document = json.loads(encoded[:header])
    assert document["outputs"][0]["parameters"]["binary_data_size"] == len(encoded) - header
    back = np.frombuffer(encoded[header:], dtype=NUMERIC[datatype]().dtype.newbyteorder("<")).reshape(shape)
    np.testing.assert_array_equal(back, array)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["INT8", "INT32", "INT64", "UINT8", "UINT16"]), shapes, st.data())
def test_json_integers_round_trip_flat_and_nested(datatype: str, shape: list[int], data: st.DataObject) -> None:
    info = np.iinfo(NUMERIC[datatype])
    array = data.draw(hnp.arrays(NUMERIC[datatype], tuple(shape), elements=st.integers(int(info.min), int(info.max))))
    for payload in (array.reshape(-1).tolist(), array.tolist()):
        body = json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": payload}]})
        tensor = parse_request(body).inputs[0]
        assert tensor.array.dtype == NUMERIC[datatype]
        np.testing.assert_array_equal(tensor.array, array)


def test_bool_and_bytes() -> None:
    body = json.dumps(
        {
            "inputs": [
                {"name": "b", "shape": [2], "datatype": "BOOL", "data": [True, False]},
                {"name": "s", "shape": [1, 2], "datatype": "BYTES", "data": [["héllo", "x"]]},
            ]
        }
    )
    request = parse_request(body)
    assert request.inputs[0].array.tolist() == [True, False]
    assert request.inputs[1].array.tolist() == [["héllo", "x"]]
    encoded, header = encode_response("m", "1", "r", [("s", "BYTES", request.inputs[1].array, True)])
    assert header is not None
    raw = encoded[header:]
    (first,) = struct.unpack_from("<I", raw, 0)
    assert raw[4 : 4 + first].decode() == "héllo"
    assert json.loads(encode_response("m", "1", None, [("s", "BYTES", request.inputs[1].array, False)])[0])["outputs"][
        0
    ]["data"] == ["héllo", "x"]


def test_binary_bytes_and_bools_are_decoded() -> None:
    words = [b"ab", b"", "ü".encode()]
    raw = b"".join(struct.pack("<I", len(w)) + w for w in words)
    header = json.dumps(
        {
            "inputs": [
                {"name": "w", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}},
                {"name": "f", "shape": [2], "datatype": "BOOL", "parameters": {"binary_data_size": 2}},
            ]
        }
    ).encode()
    request = parse_request(header + raw + b"\x01\x00", len(header))
    assert request.inputs[0].array.tolist() == ["ab", "", "ü"]
    assert request.inputs[1].array.tolist() == [True, False]
    with pytest.raises(InvalidRequestError, match="0 or 1"):
        parse_request(header + raw + b"\x02\x00", len(header))
    with pytest.raises(InvalidRequestError, match="truncated"):
        parse_request(
            header.replace(str(len(raw)).encode(), str(len(raw) - 1).encode(), 1) + raw[:-1] + b"\x01\x00", len(header)
        )


def test_fp16_outputs_are_json_numbers_and_nan_is_null() -> None:
    array = np.array([1.5, np.nan], dtype=np.float16)
    document = json.loads(encode_response("m", "2", "abc", [("y", "FP16", array, False)])[0])
    assert document == {
        "model_name": "m",
        "model_version": "2",
        "id": "abc",
        "outputs": [{"name": "y", "datatype": "FP16", "shape": [2], "data": [1.5, None]}],
    }


def test_requested_outputs_and_binary_flags() -> None:
    request = parse_request(
        json.dumps(
            {
                "parameters": {"binary_data_output": True},
                "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
            }
        )
    )
    assert [(o.name, o.binary) for o in request.outputs or []] == [("a", True), ("b", False)]
    assert request.binary_outputs


def test_kserve_clients_name_the_model_in_the_body_too() -> None:
    # Given the body kserve's InferenceRESTClient sends (0.21: model_name and model_version beside the inputs)
    body = {
        "model_name": "digits",
        "model_version": "1",
        "id": "r1",
        "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}],
    }

    request = parse_request(json.dumps(body))

    # Then it is read as any infer request (the URL says which model runs)
    assert request.id == "r1"
    assert [t.name for t in request.inputs] == ["x"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"inputs": "x"}', "non-empty list"),
        ('{"inputs": [], "model": 1}', "unknown field"),
        ('{"id": 5, "inputs": [{}]}', "id must be a string"),
        ('{"model_name": 5, "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}', "model_name"),
        ('{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', "needs a name"),
        ('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "foo": 1}]}', "unknown field"),
        ('{"inputs": [{"name": "x", "shape": [1.5], "datatype": "FP32", "data": [1]}]}', "list of integers"),
        ('{"inputs": [{"name": "x", "shape": [true], "datatype": "FP32", "data": [1]}]}', "list of integers"),
        ('{"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 2.5]}]}', "must be integers"),
        ('{"inputs": [{"name": "x", "shape": [1], "datatype": "UINT8", "data": [300]}]}', "outside the range"),
        ('{"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": [-129]}]}', "outside the range"),
        ('{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]}', "true or false"),
        ('{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1]}]}', "must be strings"),
        ('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [{}]}]}', "must be numbers"),
        (
            '{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, '
            '{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}',
            "appears twice",
        ),
        (
            '{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "outputs": [{"id": 1}]}',
            "with a name",
        ),
    ],
)
def test_malformed_requests_name_the_problem(body: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse_request(body)


def test_binary_sizes_must_add_up() -> None:
    x = np.zeros((2, 2), dtype=np.float32)
    body, length = binary_body([("x", "FP32", x)])
    with pytest.raises(InvalidRequestError, match="not claimed"):
        parse_request(body + b"\x00", length)
    with pytest.raises(InvalidRequestError, match="does not fit"):
        parse_request(body[:-1], length)
    with pytest.raises(InvalidRequestError, match="Inference-Header-Content-Length"):
        parse_request(body, len(body) + 1)
    wrong_shape = body.replace(b"[2, 2]", b"[2, 3]")
    with pytest.raises(InvalidRequestError, match="needs 24 bytes"):
        parse_request(wrong_shape, length)


INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([1] * 65, "65 dimensions; at most 64"),
        ([1] * 70, "70 dimensions; at most 64"),
        ([INT64_MAX, 0], "too large for any array"),
        ([0, INT64_MAX], "too large for any array"),
        ([2**62, 2, 0], "too large for any array"),
        ([2**64 - 1, 0], "too large for any array"),
    ],
)
@pytest.mark.parametrize("binary", [False, True])
def test_shapes_numpy_cannot_hold_are_400(shape: list[int], message: str, binary: bool) -> None:
    # Given a shape numpy refuses (over 64 dimensions, or dimensions whose bytes overflow intp) and no data
    tensor: dict[str, object] = {"name": "x", "shape": shape, "datatype": "FP32"}
    if binary:
        tensor["parameters"] = {"binary_data_size": 0}
    else:
        tensor["data"] = []
    header = json.dumps({"inputs": [tensor]}).encode()

    # When it is parsed, Then it is the client's error, naming the input and the limit
    with pytest.raises(InvalidRequestError, match=f"input 'x': shape .*{message}"):
        parse_request(header, len(header) if binary else None)


def test_the_largest_shapes_numpy_holds_still_parse() -> None:
    shape = [1] * 63 + [0]
    assert parse_request(json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": "BOOL", "data": []}]}))
    widest = [INT64_MAX // 4, 0]  # FP32: 4 bytes an element, so the non-zero dimensions' bytes still fit intp
    request = parse_request(json.dumps({"inputs": [{"name": "x", "shape": widest, "datatype": "FP32", "data": []}]}))
    assert request.inputs[0].array.shape == tuple(widest)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)), max_size=80),
    st.sampled_from(["BOOL", "INT8", "FP32", "FP64", "BYTES"]),
    st.booleans(),
)
def test_any_shape_parses_or_is_a_clear_400(shape: list[int], datatype: str, binary: bool) -> None:
    tensor: dict[str, object] = {"name": "x", "shape": shape, "datatype": datatype}
    if binary:
        tensor["parameters"] = {"binary_data_size": 0}
    else:
        tensor["data"] = []
    header = json.dumps({"inputs": [tensor]}).encode()
    try:
        request = parse_request(header, len(header) if binary else None)
    except InvalidRequestError as error:
        message = error.message
    else:
        assert request.inputs[0].array.shape == tuple(shape)
        return
    assert message.startswith("input 'x': ")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.one_of(st.none(), st.integers(-5, 250)))
def test_arbitrary_bytes_never_crash_the_parser(body: bytes, header_length: int | None) -> None:
    try:
        request = parse_request(body, header_length)
    except InvalidRequestError:
        return
    assert request.inputs
    for tensor in request.inputs:
        assert tensor.array.size == math.prod(tensor.shape)
