"""``GET /metrics`` of the worker's HTTP server: Prometheus text exposition with Triton's counter names."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator

import numpy as np
import pytest

from maas.modelkit import export_mlp
from maas.worker.http import WorkerServer, serve
from maas.worker.prometheus import WorkerMetrics

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerServer]:
    directory = tmp_path_factory.mktemp("onnx-model")
    export_mlp(directory / "model.onnx", [16, 32, 4])
    worker = serve(directory, model_name="tiny")
    yield worker
    worker.stop()


def call(server: WorkerServer, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def infer_body(rows: int) -> bytes:
    x = np.zeros((rows, 16), dtype=np.float32)
    return json.dumps(
        {"inputs": [{"name": "input", "shape": [rows, 16], "datatype": "FP32", "data": x.ravel().tolist()}]}
    ).encode()


def parse(text: str) -> dict[tuple[str, str], float]:
    """Every sample line, checked against the exposition format; each family announced by HELP and TYPE first."""
    samples: dict[tuple[str, str], float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        matched = SAMPLE.match(line)
        assert matched, line
        name, labels, value = matched.group(1), matched.group(2) or "", matched.group(3)
        assert re.sub(r"_(bucket|sum|count)$", "", name) in typed or name in typed, name
        samples[(name, labels)] = float(value)
    return samples


def test_metrics_count_requests_rows_failures_and_durations(server: WorkerServer) -> None:
    # Given two requests that run (1 row and 3 rows) and one that is refused
    assert call(server, "POST", "/v2/models/tiny/infer", infer_body(1))[0] == 200
    assert call(server, "POST", "/invocations", infer_body(3))[0] == 200
    assert call(server, "POST", "/v2/models/tiny/infer", b'{"inputs": "no"}')[0] == 400

    # When Prometheus scrapes the worker
    status, content_type, body = call(server, "GET", "/metrics")

    # Then it reads Triton's counters for the model's one version, in the text format
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    samples = parse(body.decode())
    tiny = '{model="tiny",version="1"}'
    assert samples[("nv_inference_request_success", tiny)] == 2
    assert samples[("nv_inference_request_failure", '{model="tiny",version="1",reason="INVALID_REQUEST"}')] == 1
    assert samples[("nv_inference_count", tiny)] == 4
    assert 1 <= samples[("nv_inference_exec_count", tiny)] <= 2
    assert samples[("nv_inference_request_duration_us", tiny)] > 0
    buckets = [v for (name, _), v in samples.items() if name == "maas_inference_request_duration_seconds_bucket"]
    assert buckets == sorted(buckets)  # cumulative
    assert buckets[-1] == samples[("maas_inference_request_duration_seconds_count", tiny)] == 3


def test_label_values_are_escaped() -> None:
    metrics = WorkerMetrics('a"b\\c\nd', "1")
    metrics.observe(0.002, code="X")
    text = metrics.exposition().decode()
    assert 'model="a\\"b\\\\c\\nd"' in text
    assert all(SAMPLE.match(line) for line in text.splitlines() if not line.startswith("#"))
