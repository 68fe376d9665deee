"""What schemathesis found against the local runtime (tests/e2e/test_e2e_openapi.py), kept as fast regressions."""

from __future__ import annotations

import json

import pytest

from maas.errors import InvalidRequestError
from maas.inference.protocol import parse_request

TENSOR = {"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 0.5]}


@pytest.mark.parametrize("parameters", [[None, None], "binary", 3, True])
def test_output_parameters_that_are_not_an_object_are_a_400_not_a_500(parameters: object) -> None:
    # Given an infer request whose requested output carries parameters that are not an object
    body = json.dumps({"inputs": [TENSOR], "outputs": [{"name": "logits", "parameters": parameters}]})

    # Then decoding refuses it as the client's error, naming the output
    with pytest.raises(InvalidRequestError, match="output 'logits': parameters must be an object"):
        parse_request(body)


def test_output_parameters_as_an_object_still_choose_binary_output() -> None:
    body = json.dumps({"inputs": [TENSOR], "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]})

    request = parse_request(body)

    assert [(o.name, o.binary) for o in request.outputs or []] == [("logits", True)]


@pytest.mark.parametrize(("datatype", "data"), [("UINT64", [True, False]), ("UINT64", [5, 3]), ("INT8", [1.0, 2.0])])
def test_integer_inputs_of_any_json_kind_are_range_checked_without_overflow(datatype: str, data: list[object]) -> None:
    # Given JSON data (booleans, integers, integral floats) for an integer input: numpy cannot compare a bool
    # scalar with UINT64's maximum, which made the range check raise OverflowError (a 500)
    body = json.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": datatype, "data": data}]})

    request = parse_request(body)

    assert request.inputs[0].array.tolist() == [int(v) for v in data]  # type: ignore[call-overload]


def test_integer_inputs_out_of_range_are_still_a_400() -> None:
    body = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "UINT64", "data": [-1]}]})

    with pytest.raises(InvalidRequestError, match="outside the range of UINT64"):
        parse_request(body)
