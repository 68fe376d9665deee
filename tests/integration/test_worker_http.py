"""The GPU worker's HTTP server, over real HTTP on 127.0.0.1: SageMaker's /ping and /invocations, the OIP v2
routes (checked with tritonclient), dynamic batching of concurrent requests, errors, and model loading
(ONNX; TorchScript with its signature; a pickle refused unread)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from maas.backends.base import BackendLoadError
from maas.backends.onnx import load_session
from maas.modelkit import export_mlp, mlp
from maas.worker.batcher import DynamicBatcher
from maas.worker.http import WorkerServer, serve

from tests.oip import binary_body, binary_outputs

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZES = [16, 32, 4]
SIGNATURE = {
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
    "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 4]}],
}


# --- fixtures and helpers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("onnx-model")
    export_mlp(directory / "model.onnx", SIZES)
    return directory


@pytest.fixture(scope="module")
def torchscript_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    directory = tmp_path_factory.mktemp("torchscript-model")
    module = torch.jit.trace(mlp(SIZES, seed=1).eval(), torch.zeros(1, 16))
    torch.jit.save(module, str(directory / "model.pt"))
    (directory / "signature.json").write_text(json.dumps(SIGNATURE))
    return directory


@pytest.fixture(scope="module")
def server(onnx_dir: Path) -> Iterator[WorkerServer]:
    worker = serve(onnx_dir, model_name="tiny", max_queue_delay_ms=50)
    yield worker
    worker.stop()


def onnx_answer(model_dir: Path, rows: np.ndarray) -> np.ndarray:
    return np.asarray(load_session(str(model_dir / "model.onnx")).run(None, {"input": rows})[0])


def rows(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 16)).astype(np.float32)


def json_request(x: np.ndarray, **extra: Any) -> bytes:
    tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
    return json.dumps({"inputs": [tensor], **extra}).encode()


class Client:
    """One keep-alive connection (http.client), as SageMaker and OIP clients hold them."""

    def __init__(self, worker: WorkerServer) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        self.connection.request(
            method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = self.connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def client(server: WorkerServer) -> Iterator[Client]:
    c = Client(server)
    yield c
    c.close()


def logits(body: bytes) -> np.ndarray:
    output = json.loads(body)["outputs"][0]
    assert output["name"] == "logits"
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


# --- SageMaker's contract ---------------------------------------------------------------------------------------
def test_ping_is_503_until_the_model_is_loaded_then_200(onnx_dir: Path) -> None:
    # Given a server that listens but has not loaded its model yet
    with WorkerServer(onnx_dir, model_name="tiny").start() as worker:
        c = Client(worker)
        status, headers, body = c.request("GET", "/ping")
        assert status == 503
        assert json.loads(body)["code"] == "NOT_READY"
        assert "retry-after" in headers
        assert c.request("POST", "/invocations", json_request(rows(1)))[0] == 503
        # When it loads
        worker.load()
        # Then it is healthy and answers, on the same connection
        assert c.request("GET", "/ping")[0] == 200
        assert c.request("POST", "/invocations", json_request(rows(1)))[0] == 200
        c.close()


def test_invocations_answers_what_onnxruntime_computes(server: WorkerServer, client: Client, onnx_dir: Path) -> None:
    x = rows(3)
    status, headers, body = client.request("POST", "/invocations", json_request(x, id="req-1"))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    document = json.loads(body)
    assert document["model_name"] == "tiny"
    assert document["id"] == "req-1"
    np.testing.assert_allclose(logits(body), onnx_answer(onnx_dir, x), rtol=1e-5, atol=1e-6)


def test_v2_infer_and_metadata_for_the_same_model(server: WorkerServer, client: Client, onnx_dir: Path) -> None:
    x = rows(2, seed=3)
    status, _, body = client.request("POST", "/v2/models/tiny/infer", json_request(x))
    assert status == 200
    np.testing.assert_allclose(logits(body), onnx_answer(onnx_dir, x), rtol=1e-5, atol=1e-6)
    assert client.request("POST", "/v2/models/tiny/versions/1/infer", json_request(x))[0] == 200

    status, _, body = client.request("GET", "/v2/models/tiny")
    assert status == 200
    assert json.loads(body) == {
        "name": "tiny",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        **SIGNATURE,
    }
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/tiny/ready", "/v2"):
        assert client.request("GET", path)[0] == 200, path


def test_torchscript_model_answers_what_torch_computes(torchscript_dir: Path) -> None:
    import torch

    x = rows(4, seed=7)
    with torch.inference_mode():
        expected = torch.jit.load(str(torchscript_dir / "model.pt"))(torch.from_numpy(x)).numpy()
    with serve(torchscript_dir, model_name="ts") as worker:
        c = Client(worker)
        status, _, body = c.request("POST", "/invocations", json_request(x))
        assert status == 200
        np.testing.assert_allclose(logits(body), expected, rtol=1e-5, atol=1e-6)
        _, _, metadata = c.request("GET", "/v2/models/ts")
        assert json.loads(metadata)["platform"] == "pytorch_libtorch"
        c.close()


# --- the binary tensor extension --------------------------------------------------------------------------------
def split_binary(body: bytes, header_length: int) -> np.ndarray:
    header = json.loads(body[:header_length])
    (output,) = header["outputs"]
    assert output["parameters"]["binary_data_size"] == len(body) - header_length
    return np.frombuffer(body[header_length:], dtype="<f4").reshape(output["shape"])


def test_binary_extension_both_ways_on_the_v2_route(client: Client, onnx_dir: Path) -> None:
    x = rows(5, seed=11)
    body, header_length = binary_body([("input", "FP32", x)], binary_outputs("logits"))
    status, headers, answer = client.request(
        "POST",
        "/v2/models/tiny/infer",
        body,
        {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(header_length)},
    )
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    got = split_binary(answer, int(headers["inference-header-content-length"]))
    np.testing.assert_allclose(got, onnx_answer(onnx_dir, x), rtol=1e-5, atol=1e-6)


def test_binary_extension_through_sagemakers_content_type(client: Client, onnx_dir: Path) -> None:
    # SageMaker passes only Content-Type through: the JSON length travels in it, as with Triton on SageMaker
    x = rows(2, seed=12)
    body, header_length = binary_body([("input", "FP32", x)], binary_outputs("logits"))
    content_type = f"application/vnd.sagemaker-triton.binary+json;json-header-size={header_length}"
    status, headers, answer = client.request("POST", "/invocations", body, {"Content-Type": content_type})
    assert status == 200
    media_type, _, parameter = headers["content-type"].partition(";")
    assert media_type == "application/vnd.sagemaker-triton.binary+json"
    got = split_binary(answer, int(parameter.removeprefix("json-header-size=")))
    np.testing.assert_allclose(got, onnx_answer(onnx_dir, x), rtol=1e-5, atol=1e-6)


def test_tritonclient_works_against_the_v2_routes(server: WorkerServer, onnx_dir: Path) -> None:
    import tritonclient.http as triton

    x = rows(3, seed=5)
    expected = onnx_answer(onnx_dir, x)
    triton_client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert triton_client.is_server_live()
        assert triton_client.is_server_ready()
        assert triton_client.is_model_ready("tiny")
        assert triton_client.get_model_metadata("tiny")["inputs"][0]["name"] == "input"
        for binary in (False, True):
            tensor = triton.InferInput("input", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            result = triton_client.infer(
                "tiny", [tensor], outputs=[triton.InferRequestedOutput("logits", binary_data=binary)]
            )
            np.testing.assert_allclose(result.as_numpy("logits"), expected, rtol=1e-5, atol=1e-6)
    finally:
        triton_client.close()


# --- batching -----------------------------------------------------------------------------------------------------
def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(server: WorkerServer, onnx_dir: Path) -> None:
    # Given 32 clients on their own connections, each with different rows (1 to 3 of them)
    inputs = [rows(1 + i % 3, seed=100 + i) for i in range(32)]
    expected = [onnx_answer(onnx_dir, x) for x in inputs]
    results: list[np.ndarray | None] = [None] * 32
    clients = [Client(server) for _ in range(32)]
    for c in clients:  # connected first, so that the requests themselves arrive together
        assert c.request("GET", "/ping")[0] == 200
    assert server.stats is not None
    before = (server.stats.batches, server.stats.rows)
    start = threading.Barrier(32)

    def send(i: int) -> None:
        start.wait()
        status, _, body = clients[i].request("POST", "/invocations", json_request(inputs[i]))
        assert status == 200, body
        results[i] = logits(body)

    # When they all send at once
    threads = [threading.Thread(target=send, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for c in clients:
        c.close()

    # Then each got the answer for its own rows, and requests shared batches
    for got, want in zip(results, expected, strict=True):
        assert got is not None
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    batches, batched_rows = server.stats.batches - before[0], server.stats.rows - before[1]
    assert batched_rows == sum(len(x) for x in inputs)
    assert batches < 32, f"{batches} runs for 32 concurrent requests: nothing was batched"


def test_eager_batcher_runs_a_lone_request_on_the_callers_thread() -> None:
    threads: list[int] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        threads.append(threading.get_ident())
        return {"y": inputs["x"] * 2}

    # a delay long enough that a request waiting it out would hit the result's timeout
    batcher = DynamicBatcher(run, max_batch_size=8, max_queue_delay_ms=60_000, eager=True)
    try:
        batcher.announce()
        out = batcher.call({"x": np.ones((1, 2), np.float32)}, announced=True, timeout=10)
    finally:
        batcher.close()
    assert out["y"].tolist() == [[2.0, 2.0]]
    assert threads == [threading.get_ident()]


def test_eager_batcher_waits_for_announced_requests_only() -> None:
    sizes: list[int] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sizes.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}

    batcher = DynamicBatcher(run, max_batch_size=8, max_queue_delay_ms=60_000, eager=True)
    try:
        # one request is on its way while another is queued: the queued one waits for it
        batcher.announce()
        first = batcher.submit({"x": np.full((1, 2), 1.0)})
        second = batcher.submit({"x": np.full((1, 2), 2.0)}, announced=True)
        assert first.result(10)["y"].tolist() == [[2.0, 2.0]]
        assert second.result(10)["y"].tolist() == [[4.0, 4.0]]
        # an announced request that never comes releases the wait
        batcher.announce()
        third = batcher.submit({"x": np.full((1, 2), 3.0)})
        batcher.withdraw()
        assert third.result(10)["y"].tolist() == [[6.0, 6.0]]
    finally:
        batcher.close()
    assert sizes == [2, 1]


# --- errors -------------------------------------------------------------------------------------------------------
def _request_with(**tensor: Any) -> bytes:
    return json.dumps({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", **tensor}]}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        _request_with(shape=[1, 15], data=[0.0] * 15),
        _request_with(datatype="FP64", data=[0.0] * 16),
        _request_with(name="other", data=[0.0] * 16),
        _request_with(data=[0.0] * 3),
        _request_with(data=["NaN"] * 16),
        b"\x0b\xff",
        _request_with(shape=[1] * 70, data=[0.0]),
        _request_with(shape=[2**63 - 1, 0], data=[]),
    ],
    ids=[
        "not-json",
        "wrong-shape",
        "wrong-datatype",
        "unknown-input",
        "too-little-data",
        "strings",
        "not-utf8",
        "70-dimensions",
        "shape-overflows",
    ],
)
def test_bad_input_is_400_and_the_connection_stays_usable(client: Client, body: bytes) -> None:
    status, headers, answer = client.request("POST", "/invocations", body)
    assert status == 400
    assert headers["content-type"] == "application/json"
    document = json.loads(answer)
    assert document["code"] == "INVALID_REQUEST"
    assert document["error"]
    assert client.request("POST", "/invocations", json_request(rows(1)))[0] == 200


def test_bad_binary_header_length_is_400(client: Client) -> None:
    body, _ = binary_body([("input", "FP32", rows(1))])
    status, _, answer = client.request("POST", "/invocations", body, {"Inference-Header-Content-Length": "x"})
    assert status == 400
    assert json.loads(answer)["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize("shape", [[1] * 70, [2**63 - 1, 0]], ids=["70-dimensions", "shape-overflows"])
def test_a_binary_tensor_of_a_shape_numpy_cannot_hold_is_400(client: Client, shape: list[int]) -> None:
    header = json.dumps(
        {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "parameters": {"binary_data_size": 0}}]}
    ).encode()
    status, _, answer = client.request(
        "POST", "/invocations", header, {"Inference-Header-Content-Length": str(len(header))}
    )
    assert status == 400
    assert json.loads(answer)["code"] == "INVALID_REQUEST"
    assert "input 'input': shape" in json.loads(answer)["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/invocations"), ("POST", "/v2/models/other/infer"), ("GET", "/v2/models/other")],
)
def test_unknown_route_or_model_is_404(client: Client, method: str, path: str) -> None:
    status, _, answer = client.request(method, path, json_request(rows(1)) if method == "POST" else None)
    assert status == 404
    assert json.loads(answer)["code"] == "NOT_FOUND"


def test_a_request_over_the_limit_is_413(onnx_dir: Path) -> None:
    with serve(onnx_dir, max_request_bytes=1000) as worker:
        c = Client(worker)
        status, headers, answer = c.request("POST", "/invocations", json_request(rows(20)))
        c.close()
    assert status == 413
    assert json.loads(answer)["code"] == "PAYLOAD_TOO_LARGE"
    assert headers["connection"] == "close"  # the body was never read


def test_chunked_body_and_expect_continue(server: WorkerServer, onnx_dir: Path) -> None:
    # curl sends Expect: 100-continue for larger bodies; some clients stream bodies chunked
    x = rows(2, seed=21)
    body = json_request(x)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 100]), body[i : i + 100]) for i in range(0, len(body), 100))
    head = (
        "POST /invocations HTTP/1.1\r\nHost: worker\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(chunks + b"0\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head_bytes, _, payload = answer.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 200 OK")
    np.testing.assert_allclose(logits(payload), onnx_answer(onnx_dir, x), rtol=1e-5, atol=1e-6)


# --- loading ------------------------------------------------------------------------------------------------------
class _Planted:
    """Unpickling this creates a file: proof that the pickle was, or was not, loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_torch_save_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "unpickled"
    torch.save({"weights": _Planted(marker)}, tmp_path / "model.pt")
    (tmp_path / "signature.json").write_text(json.dumps(SIGNATURE))

    with pytest.raises(BackendLoadError, match="not a TorchScript archive"):
        serve(tmp_path)
    assert not marker.exists()

    # the test can fail: loading that file as a pickle does run the planted code
    torch.load(tmp_path / "model.pt", weights_only=False)
    assert marker.exists()


def test_a_torchscript_model_without_its_signature_is_refused(torchscript_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes((torchscript_dir / "model.pt").read_bytes())
    with pytest.raises(BackendLoadError, match=r"signature\.json"):
        serve(tmp_path)


def test_an_empty_model_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendLoadError, match=r"neither model\.onnx nor model\.pt"):
        serve(tmp_path)


def test_main_serves_from_sm_model_dir_until_sigterm(onnx_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SM_MODEL_DIR": str(onnx_dir), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "maas.worker.http", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/ping")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the worker did not get ready"
            time.sleep(0.1)
        connection.request("POST", "/v2/models/model/infer", body=json_request(rows(1)))
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
