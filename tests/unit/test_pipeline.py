"""The model pipeline every path calls: preprocess -> predict -> postprocess, on a fake backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maas.domain import Signature, TensorSpec
from maas.errors import InvalidRequestError, ModelRunError, NotReadyError, PayloadTooLargeError
from maas.inference.pipeline import decode, postprocess, predict, preprocess

SIGNATURE = Signature(
    inputs=[TensorSpec(name="x", datatype="FP32", shape=[-1, 2])],
    outputs=[
        TensorSpec(name="sum", datatype="FP32", shape=[-1]),
        TensorSpec(name="count", datatype="INT64", shape=[-1]),
    ],
)


def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    x = inputs["x"]
    return {"sum": x.sum(axis=1), "count": np.full(x.shape[0], x.shape[1], np.int64)}


def request_body(data: list[float], **extra: object) -> str:
    return json.dumps(
        {"inputs": [{"name": "x", "shape": [len(data) // 2, 2], "datatype": "FP32", "data": data}], **extra}
    )


def through(body: str, **limits: int) -> dict:
    request = decode(body)
    outputs = predict(run, preprocess(request, SIGNATURE))
    encoded, header_length = postprocess(request, SIGNATURE, outputs, model="m", version="3", **limits)
    assert header_length is None
    return json.loads(encoded)


def test_every_output_in_the_signatures_order_by_default() -> None:
    response = through(request_body([1, 2, 3, 4], id="r1"))
    assert (response["model_name"], response["model_version"], response["id"]) == ("m", "3", "r1")
    assert [(o["name"], o["datatype"], o["data"]) for o in response["outputs"]] == [
        ("sum", "FP32", [3.0, 7.0]),
        ("count", "INT64", [2, 2]),
    ]


def test_only_the_outputs_asked_for_in_the_order_asked_and_binary_where_asked() -> None:
    body = request_body([1, 2], outputs=[{"name": "count"}, {"name": "sum", "parameters": {"binary_data": True}}])
    request = decode(body)
    encoded, header_length = postprocess(
        request, SIGNATURE, predict(run, preprocess(request, SIGNATURE)), model="m", version="1"
    )
    assert header_length is not None
    header = json.loads(encoded[:header_length])
    assert [o["name"] for o in header["outputs"]] == ["count", "sum"]
    assert header["outputs"][0]["data"] == [2]
    assert np.frombuffer(encoded[header_length:], "<f4").tolist() == [3.0]


def test_inputs_that_do_not_fit_the_signature_never_reach_the_model() -> None:
    with pytest.raises(InvalidRequestError, match="shape"):
        preprocess(
            decode(json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})),
            SIGNATURE,
        )


def test_nan_is_refused_unless_the_request_or_the_caller_allows_it() -> None:
    raw = np.array([[np.nan, 1.0]], "<f4").tobytes()

    def binary(parameters: dict[str, object]) -> tuple[bytes, int]:
        tensor = {"name": "x", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
        header = json.dumps({"inputs": [tensor], "parameters": parameters}).encode()
        return header + raw, len(header)

    with pytest.raises(InvalidRequestError, match="NaN or infinity"):
        preprocess(decode(*binary({})), SIGNATURE)
    assert preprocess(decode(*binary({})), SIGNATURE, allow_nan=True)["x"].shape == (1, 2)
    assert preprocess(decode(*binary({"allow_nan": True})), SIGNATURE)["x"].shape == (1, 2)


def test_a_model_that_fails_says_so_in_one_error_raised_from_its_cause_without_host_paths() -> None:
    cause = RuntimeError("Got invalid dimensions for input: x (/tmp/maas-models/acme/abc/model.onnx)\nmore detail")

    def failing(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise cause

    with pytest.raises(ModelRunError) as caught:
        predict(failing, {"x": np.zeros((1, 2), np.float32)})
    assert caught.value.__cause__ is cause
    assert (caught.value.status, caught.value.code) == (400, "INVALID_REQUEST")
    assert (
        caught.value.message == "the model could not run on these inputs: Got invalid dimensions for input: x (<path>)"
    )


def test_a_platform_error_from_the_run_keeps_its_status() -> None:
    def stopping(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotReadyError("the worker is stopping")

    with pytest.raises(NotReadyError):
        predict(stopping, {"x": np.zeros((1, 2), np.float32)})


def test_a_response_over_the_limit_is_refused() -> None:
    assert through(request_body([1, 2]), max_bytes=10_000)
    with pytest.raises(PayloadTooLargeError, match="over the 40 byte limit"):
        through(request_body([1, 2]), max_bytes=40)
