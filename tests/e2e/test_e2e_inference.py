"""Synchronous inference over the Open Inference Protocol v2, through the gateway, as clients call it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import requests

from maas.modelkit import export_onnx

from e2e_helpers import Platform, assert_error, register_bytes, upload
from tests.oip import binary_body, binary_outputs


def _two_input_model(path: Path) -> Path:
    """Inputs a: FP32 [-1, 3], b: INT64 [-1, 3], mask: BOOL [-1, 3]; outputs sum: FP32 [-1, 3], count: INT64 [-1]."""
    import torch

    class TwoInputs(torch.nn.Module):
        def forward(self, a, b, mask):
            summed = torch.where(mask, a + b.to(torch.float32), a)
            return summed, mask.to(torch.int64).sum(dim=1)

    return export_onnx(
        TwoInputs(),
        (torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.int64), torch.zeros(1, 3, dtype=torch.bool)),
        path,
        input_names=["a", "b", "mask"],
        output_names=["sum", "count"],
    )


@pytest.fixture(scope="module")
def served(platform: Platform, make_tenant, models_dir: Path, tmp_path_factory) -> dict:
    tenant = make_tenant("publish,invoke,read", "read", "invoke")
    key = tenant["publish,invoke,read"]
    tiny = (models_dir / "tiny.onnx").read_bytes()
    assert register_bytes(platform, key, "tiny", tiny)["status"] == "READY"
    multi = _two_input_model(tmp_path_factory.mktemp("multi") / "multi.onnx").read_bytes()
    assert register_bytes(platform, key, "multi", multi)["status"] == "READY"
    return {"tenant": tenant, "key": key, "session": onnxruntime.InferenceSession(str(models_dir / "tiny.onnx"))}


def infer(platform: Platform, key: str, model: str, body: dict, version: str | None = None) -> requests.Response:
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    return platform.call("POST", path, key, json_body=body)


def tiny_input(rows: int = 2, nested: bool = False) -> tuple[np.ndarray, dict]:
    x = np.random.default_rng(rows).standard_normal((rows, 16)).astype(np.float32)
    data = x.tolist() if nested else x.reshape(-1).tolist()
    return x, {"name": "input", "shape": [rows, 16], "datatype": "FP32", "data": data}


def test_health_needs_no_key(platform: Platform) -> None:
    assert platform.call("GET", "/v2/health/live").json() == {"live": True}
    assert platform.call("GET", "/v2/health/ready").json() == {"ready": True}
    assert_error(platform.call("GET", "/v2"), 401, "UNAUTHENTICATED")
    extensions = platform.call("GET", "/v2", platform.admin_key).json()["extensions"]
    assert extensions == ["binary_tensor_data", "statistics", "model_configuration"]


def test_metadata_and_ready(platform: Platform, served: dict) -> None:
    key = served["tenant"]["read"]
    metadata = platform.call("GET", "/v2/models/tiny", key).json()
    assert metadata == {
        "name": "tiny",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 4]}],
    }
    assert platform.call("GET", "/v2/models/tiny/versions/1", key).json()["versions"] == ["1"]
    assert platform.call("GET", "/v2/models/tiny/ready", key).status_code == 200
    assert platform.call("GET", "/v2/models/tiny/versions/1/ready", key).json()["ready"] is True
    assert_error(platform.call("GET", "/v2/models/tiny/versions/9", key), 404, "NOT_FOUND")
    assert_error(platform.call("GET", "/v2/models/nope/ready", key), 404, "NOT_FOUND")


@pytest.mark.parametrize("nested", [False, True])
def test_infer_matches_onnxruntime(platform: Platform, served: dict, nested: bool) -> None:
    x, tensor = tiny_input(3, nested)
    response = infer(platform, served["key"], "tiny", {"id": "req-7", "parameters": {"x": 1}, "inputs": [tensor]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "tiny"
    assert body["model_version"] == "1"
    assert body["id"] == "req-7"
    (output,) = body["outputs"]
    assert output["name"] == "logits"
    assert output["datatype"] == "FP32"
    assert output["shape"] == [3, 4]
    expected = served["session"].run(None, {"input": x})[0]
    np.testing.assert_allclose(np.array(output["data"], dtype=np.float32).reshape(3, 4), expected, rtol=1e-6)
    again = infer(platform, served["key"], "tiny", {"inputs": [tensor]}, version="1")
    assert again.status_code == 200
    assert "id" not in again.json()


def test_several_inputs_types_and_output_selection(platform: Platform, served: dict) -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]},
            {"name": "b", "shape": [2, 3], "datatype": "INT64", "data": [[10, 10, 10], [20, 20, 20]]},
            {"name": "mask", "shape": [2, 3], "datatype": "BOOL", "data": [True, False, True, False, False, False]},
        ],
    }
    full = infer(platform, served["key"], "multi", body).json()
    outputs = {o["name"]: o for o in full["outputs"]}
    assert outputs["sum"]["data"] == [11, 2, 13, 4, 5, 6]
    assert outputs["count"] == {"name": "count", "datatype": "INT64", "shape": [2], "data": [2, 0]}

    only = infer(platform, served["key"], "multi", {**body, "outputs": [{"name": "count"}]}).json()
    assert [o["name"] for o in only["outputs"]] == ["count"]
    assert_error(
        infer(platform, served["key"], "multi", {**body, "outputs": [{"name": "nope"}]}), 400, "INVALID_REQUEST"
    )


def test_binary_tensor_extension(platform: Platform, served: dict) -> None:
    x = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    body, length = binary_body([("input", "FP32", x)], binary_outputs("logits"))
    response = platform.call(
        "POST",
        "/v2/models/tiny/infer",
        served["key"],
        data=body,
        headers={"Inference-Header-Content-Length": str(length), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    json_length = int(response.headers["Inference-Header-Content-Length"])
    import json

    header = json.loads(response.content[:json_length])
    (output,) = header["outputs"]
    assert output["parameters"]["binary_data_size"] == 5 * 4 * 4
    assert "data" not in output
    logits = np.frombuffer(response.content[json_length:], dtype="<f4").reshape(5, 4)
    np.testing.assert_allclose(logits, served["session"].run(None, {"input": x})[0], rtol=1e-6)

    # binary in, JSON out (no binary outputs asked): a plain JSON response
    body, length = binary_body([("input", "FP32", x)])
    plain = platform.call(
        "POST",
        "/v2/models/tiny/infer",
        served["key"],
        data=body,
        headers={"Inference-Header-Content-Length": str(length)},
    )
    assert plain.status_code == 200
    assert "Inference-Header-Content-Length" not in plain.headers
    assert plain.json()["outputs"][0]["shape"] == [5, 4]

    # binary_data_size larger than what was sent
    bad = body.replace(b'"binary_data_size": 320', b'"binary_data_size": 999')
    assert_error(
        platform.call(
            "POST",
            "/v2/models/tiny/infer",
            served["key"],
            data=bad,
            headers={"Inference-Header-Content-Length": str(length)},
        ),
        400,
        "INVALID_REQUEST",
    )


def test_tritonclient_works_unchanged(platform: Platform, served: dict) -> None:
    import tritonclient.http as triton

    headers = {"Authorization": f"Bearer {served['key']}"}
    client = triton.InferenceServerClient(platform.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_model_ready("tiny", headers=headers)
        metadata = client.get_model_metadata("tiny", headers=headers)
        assert metadata["inputs"][0]["shape"] == [-1, 16]
        x = np.random.default_rng(2).standard_normal((4, 16)).astype(np.float32)
        expected = served["session"].run(None, {"input": x})[0]
        for binary in (False, True):
            tensor = triton.InferInput("input", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            result = client.infer(
                "tiny",
                [tensor],
                outputs=[triton.InferRequestedOutput("logits", binary_data=binary)],
                headers=headers,
                request_id=f"triton-{binary}",
            )
            np.testing.assert_allclose(result.as_numpy("logits"), expected, rtol=1e-6)
            assert result.get_response()["id"] == f"triton-{binary}"
        wrong = triton.InferInput("input", [1, 15], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 15), dtype=np.float32))
        with pytest.raises(Exception, match="does not fit"):
            client.infer("tiny", [wrong], headers=headers)
    finally:
        client.close()


BAD_REQUESTS = [
    (
        "unknown input",
        {"inputs": [{"name": "nope", "shape": [1, 16], "datatype": "FP32", "data": [0] * 16}]},
        "unknown input 'nope'",
    ),
    (
        "wrong datatype",
        {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP64", "data": [0] * 16}]},
        "expects FP32",
    ),
    (
        "count mismatch",
        {"inputs": [{"name": "input", "shape": [2, 16], "datatype": "FP32", "data": [0] * 16}]},
        "needs 32 elements",
    ),
    (
        "fixed dim",
        {"inputs": [{"name": "input", "shape": [2, 8], "datatype": "FP32", "data": [0] * 16}]},
        "does not fit",
    ),
    ("rank", {"inputs": [{"name": "input", "shape": [16], "datatype": "FP32", "data": [0] * 16}]}, "does not fit"),
    (
        "strings",
        {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": ["1"] * 16}]},
        "must be numbers",
    ),
    (
        "nulls",
        {"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [None, 1]}]},
        "must be numbers",
    ),
    (
        "ragged",
        {"inputs": [{"name": "input", "shape": [2, 16], "datatype": "FP32", "data": [[0] * 16, [0] * 3]}]},
        "ragged",
    ),
    (
        "unknown datatype",
        {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FLOAT", "data": [0] * 16}]},
        "not an Open Inference Protocol datatype",
    ),
    (
        "negative shape",
        {"inputs": [{"name": "input", "shape": [-1, 16], "datatype": "FP32", "data": [0] * 16}]},
        "negative",
    ),
    ("no inputs", {"inputs": []}, "non-empty"),
    ("unknown field", {"inputs": [], "extra": 1}, "unknown field"),
    ("no data", {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32"}]}, "needs data"),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_are_400_naming_the_problem(
    platform: Platform, served: dict, case: str, body: dict, message: str
) -> None:
    error = assert_error(infer(platform, served["key"], "tiny", body), 400, "INVALID_REQUEST")
    assert message in error["error"]


def test_missing_input_is_named(platform: Platform, served: dict) -> None:
    body = {"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [0] * 3}]}
    error = assert_error(infer(platform, served["key"], "multi", body), 400, "INVALID_REQUEST")
    assert "missing input 'b' (INT64 [-1, 3]), 'mask' (BOOL [-1, 3])" in error["error"]


def test_nan_is_refused_unless_allowed(platform: Platform, served: dict) -> None:
    x = np.zeros((1, 16), dtype=np.float32)
    x[0, 3] = np.nan
    body, length = binary_body([("input", "FP32", x)])
    headers = {"Inference-Header-Content-Length": str(length)}
    error = assert_error(
        platform.call("POST", "/v2/models/tiny/infer", served["key"], data=body, headers=headers),
        400,
        "INVALID_REQUEST",
    )
    assert "NaN" in error["error"]
    allowed = body.replace(b'{"inputs"', b'{"parameters": {"allow_nan": true}, "inputs"')
    headers = {"Inference-Header-Content-Length": str(length + len(b'"parameters": {"allow_nan": true}, '))}
    assert (
        platform.call("POST", "/v2/models/tiny/infer", served["key"], data=allowed, headers=headers).status_code == 200
    )


def test_malformed_and_oversized_bodies(platform: Platform, served: dict) -> None:
    key = served["key"]
    assert_error(platform.call("POST", "/v2/models/tiny/infer", key, data=b"{nope"), 400, "INVALID_REQUEST")
    assert_error(platform.call("POST", "/v2/models/tiny/infer", key, data=b"[1,2]"), 400, "INVALID_REQUEST")
    assert_error(
        platform.call(
            "POST", "/v2/models/tiny/infer", key, data=b"{}", headers={"Inference-Header-Content-Length": "99"}
        ),
        400,
        "INVALID_REQUEST",
    )
    assert_error(
        platform.call(
            "POST", "/v2/models/tiny/infer", key, data=b"{}", headers={"Inference-Header-Content-Length": "x"}
        ),
        400,
        "INVALID_REQUEST",
    )
    big = (
        b'{"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [' + b"0," * 3_500_000 + b"0]}]}"
    )
    assert_error(platform.call("POST", "/v2/models/tiny/infer", key, data=big), 413, "PAYLOAD_TOO_LARGE")
    # and the function still serves
    _, tensor = tiny_input(1)
    assert infer(platform, key, "tiny", {"inputs": [tensor]}).status_code == 200


def test_scopes_and_tenants(platform: Platform, served: dict, make_tenant) -> None:
    _, tensor = tiny_input(1)
    assert_error(infer(platform, served["tenant"]["read"], "tiny", {"inputs": [tensor]}), 403, "FORBIDDEN")
    assert infer(platform, served["tenant"]["invoke"], "tiny", {"inputs": [tensor]}).status_code == 200
    assert_error(infer(platform, None, "tiny", {"inputs": [tensor]}), 401, "UNAUTHENTICATED")
    stranger = make_tenant("invoke")["invoke"]
    theirs = infer(platform, stranger, "tiny", {"inputs": [tensor]})
    assert_error(theirs, 404, "NOT_FOUND")
    assert served["tenant"].tenant_id not in theirs.text
    assert_error(platform.call("GET", "/v2/models/tiny", stranger), 404, "NOT_FOUND")


def test_versions_not_ready_failed_or_unknown(platform: Platform, served: dict, models_dir: Path) -> None:
    key = served["key"]
    _, tensor = tiny_input(1)
    pending = platform.call("POST", "/v1/models/tiny/versions", key, json_body={}).json()
    not_ready = infer(platform, key, "tiny", {"inputs": [tensor]}, version=str(pending["version"]))
    assert_error(not_ready, 503, "NOT_READY")
    assert not_ready.headers["Retry-After"].isdigit()
    # the newest READY version still serves requests without a version
    assert infer(platform, key, "tiny", {"inputs": [tensor]}).json()["model_version"] == "1"

    upload(pending["upload"], b"not a model")
    failed = register_bytes(platform, key, "tiny", b"garbage")
    assert failed["status"] == "FAILED"
    assert_error(infer(platform, key, "tiny", {"inputs": [tensor]}, version=str(failed["version"])), 404, "NOT_FOUND")
    assert_error(infer(platform, key, "tiny", {"inputs": [tensor]}, version="999"), 404, "NOT_FOUND")
    assert_error(infer(platform, key, "tiny", {"inputs": [tensor]}, version="latest"), 404, "NOT_FOUND")


def test_a_model_with_only_pending_versions_is_503(platform: Platform, served: dict) -> None:
    key = served["key"]
    platform.call("POST", "/v1/models", key, json_body={"name": "later", "framework": "onnx"})
    platform.call("POST", "/v1/models/later/versions", key, json_body={})
    _, tensor = tiny_input(1)
    assert_error(infer(platform, key, "later", {"inputs": [tensor]}), 503, "NOT_READY")


def test_binary_bytes_layout_is_checked(platform: Platform, served: dict) -> None:
    raw = struct.pack("<f", 1.0) * 15  # one element short
    header = b'{"inputs":[{"name":"input","shape":[1,16],"datatype":"FP32","parameters":{"binary_data_size":60}}]}'
    error = assert_error(
        platform.call(
            "POST",
            "/v2/models/tiny/infer",
            served["key"],
            data=header + raw,
            headers={"Inference-Header-Content-Length": str(len(header))},
        ),
        400,
        "INVALID_REQUEST",
    )
    assert "needs 64 bytes" in error["error"]


def test_cli_infer(platform: Platform, served: dict, tmp_path: Path) -> None:
    import json

    from e2e_helpers import maas_cli

    env = {"MAAS_URL": platform.url, "MAAS_API_KEY": served["key"]}
    values = ",".join(str(v) for v in range(16))
    short = maas_cli("infer", "tiny", "--input", f"input={values}", env=env)
    assert short.returncode == 0, short.stderr
    response = json.loads(short.stdout)
    assert response["outputs"][0]["shape"] == [1, 4]
    request = tmp_path / "request.json"
    _, tensor = tiny_input(2)
    request.write_text(json.dumps({"id": "from-file", "inputs": [tensor]}))
    from_file = maas_cli("infer", "tiny", "--json", str(request), "--version", "1", env=env)
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout)["id"] == "from-file"
    bad = maas_cli("infer", "tiny", "--input", "input=1,2", env=env)
    assert bad.returncode == 1
    assert "INVALID_REQUEST" in bad.stderr


ALL_TYPES = {
    "BOOL": ("BOOL", np.bool_),
    "UINT8": ("UINT8", np.uint8),
    "UINT16": ("UINT16", np.uint16),
    "UINT32": ("UINT32", np.uint32),
    "UINT64": ("UINT64", np.uint64),
    "INT8": ("INT8", np.int8),
    "INT16": ("INT16", np.int16),
    "INT32": ("INT32", np.int32),
    "INT64": ("INT64", np.int64),
    "FP16": ("FLOAT16", np.float16),
    "FP32": ("FLOAT", np.float32),
    "FP64": ("DOUBLE", np.float64),
    "BYTES": ("STRING", object),
}


def _identity_model(path: Path) -> bytes:
    """One Identity per OIP datatype: input in_<T> -> output out_<T>, shape [-1, 2]."""
    import onnx
    from onnx import TensorProto, helper

    inputs, outputs, nodes = [], [], []
    for datatype, (onnx_type, _) in ALL_TYPES.items():
        element = getattr(TensorProto, onnx_type)
        inputs.append(helper.make_tensor_value_info(f"in_{datatype}", element, ["batch", 2]))
        outputs.append(helper.make_tensor_value_info(f"out_{datatype}", element, ["batch", 2]))
        nodes.append(helper.make_node("Identity", [f"in_{datatype}"], [f"out_{datatype}"]))
    graph = helper.make_graph(nodes, "identities", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path.read_bytes()


def _values(datatype: str) -> list:
    return {
        "BOOL": [True, False, False, True],
        "BYTES": ["héllo", "", "a b", "z"],
        "FP16": [0.5, -1.0, 2.0, 65504.0],
        "FP32": [0.25, -1.5, 3.0e10, 1e-20],
        "FP64": [0.1, -2.5, 1e300, -1e-300],
    }.get(datatype, [0, 1, 2, 100] if datatype.startswith("U") else [0, -1, 2, 100])


def test_every_datatype_round_trips_in_json_and_binary(platform: Platform, served: dict, tmp_path: Path) -> None:
    import json

    key = served["key"]
    version = register_bytes(platform, key, "identities", _identity_model(tmp_path / "ids.onnx"))
    assert version["status"] == "READY", version
    signature = {spec["name"]: spec["datatype"] for spec in version["signature"]["inputs"]}
    assert signature == {f"in_{t}": t for t in ALL_TYPES}

    inputs = [{"name": f"in_{t}", "shape": [2, 2], "datatype": t, "data": _values(t)} for t in ALL_TYPES]
    response = infer(platform, key, "identities", {"inputs": inputs})
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    for datatype in ALL_TYPES:
        out = outputs[f"out_{datatype}"]
        assert out["datatype"] == datatype
        assert out["shape"] == [2, 2]
        expected = _values(datatype)
        if datatype.startswith("FP"):
            np.testing.assert_allclose(out["data"], np.array(expected, dtype=ALL_TYPES[datatype][1]), rtol=1e-3)
        else:
            assert out["data"] == expected

    # binary in and out, for every datatype
    header: dict = {"inputs": [], "parameters": {"binary_data_output": True}}
    blobs = []
    for datatype, (_, dtype) in ALL_TYPES.items():
        values = _values(datatype)
        if datatype == "BYTES":
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
        else:
            raw = np.array(values, dtype=dtype).astype(np.dtype(dtype).newbyteorder("<")).tobytes()
        header["inputs"].append(
            {
                "name": f"in_{datatype}",
                "shape": [2, 2],
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    text = json.dumps(header).encode()
    binary = platform.call(
        "POST",
        "/v2/models/identities/infer",
        key,
        data=text + b"".join(blobs),
        headers={"Inference-Header-Content-Length": str(len(text))},
    )
    assert binary.status_code == 200, binary.text
    length = int(binary.headers["Inference-Header-Content-Length"])
    document = json.loads(binary.content[:length])
    offset = length
    for out, raw in zip(document["outputs"], blobs, strict=True):
        size = out["parameters"]["binary_data_size"]
        assert binary.content[offset : offset + size] == raw, out["name"]
        offset += size
    assert offset == len(binary.content)


def test_bytes_sent_to_a_numeric_input_is_400(platform: Platform, served: dict) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "BYTES", "data": ["x"] * 16}]}
    error = assert_error(infer(platform, served["key"], "tiny", body), 400, "INVALID_REQUEST")
    assert "expects FP32" in error["error"]
